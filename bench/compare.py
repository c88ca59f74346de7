"""The Compare page's and the training movie's library side (issue 21), timed against references in the same run.

    python bench/compare.py [--model-b FOLDER] [--b-epochs 10]

A is the shipped Fashion-MNIST model (z16); B a z8 model trained here with snapshots (`python -m vae_core train
--dataset fashion-mnist --latent-dim 8 --epochs 10 --out <tmp>`, about 3-4 minutes on 2 cores), or --model-b.
Every cache goes to a scratch $VAE_CACHE_DIR, so nothing computed here is reused, except what A ships (its test
split's encodings and UMAP map, as a fresh install has them).

1. Compare, 2 x 10,000 (the test split) and 2 x 70,000 (all images): the aligned maps (compare_maps.aligned_pair:
   A's Map-page map as the reference; at 70k A is frozen), against one plain UMAP of B alone (the map B would get
   on its own); the neighbourhood agreement (compare.knn_jaccard); how far B lies from A (mean point distance as a
   share of the map width) and how far A moved off its Map-page map. At 70k A's Map-page map is fitted first (the
   Map page's 50k sample + placement), as the Map page would have.
2. The movie, B's 10 snapshots x 2,000 points: the aligned maps (map/movie.py) against 10 independent UMAPs, and
   the mean displacement of a point between consecutive epochs as a share of the map width, for both.
Targets (issue 21): the aligned maps of two 10k models ready in <= 60 s; the movie's alignment <= 60 s.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 60.0


def timed(work):
    start = time.perf_counter()
    value = work()
    return value, time.perf_counter() - start


def train_b(out: Path, epochs: int) -> Path:
    env = {**os.environ, "VAE_MODELS_DIR": str(out.parent)}
    command = [sys.executable, "-m", "vae_core", "train", "--dataset", "fashion-mnist", "--latent-dim", "8",
               "--epochs", str(epochs), "--snapshots", "1", "--out", str(out)]
    print("training B:", " ".join(command[1:]), flush=True)
    _, seconds = timed(lambda: subprocess.run(command, cwd=ROOT, env=env, check=True, stderr=subprocess.DEVNULL,
                                              stdout=subprocess.DEVNULL))
    print(f"  {seconds:.0f} s", flush=True)
    return out


def warm_up() -> float:
    """numba's JIT caches: umap, pynndescent (its first >= 4,096-row graph costs ~20-25 s otherwise) and the stacked
    kernel, so the timings below are the app's warm ones."""
    from vae_core.map import align

    x = np.random.default_rng(0).normal(size=(5000, 8)).astype(np.float32)
    _, seconds = timed(lambda: align.aligned_umap_stacked([x, x], n_epochs=2))
    return seconds


def move_off(reference: np.ndarray, moved: np.ndarray) -> float:
    """Mean distance between a map and another after the best similarity fit, as a share of the width."""
    from vae_core.map import align

    landed, _ = align.procrustes(reference, moved)
    return float(np.linalg.norm(landed - moved, axis=1).mean() / np.ptp(moved, axis=0).max())


def compare_case(a, b, dataset, split: str) -> dict:
    from vae_core.map import align, compare, compare_maps, encodings
    from vae_core.map.cache import Cache
    from vae_core.map.projection import ProjectionSpec, cached_projection, split_map_name

    spec, name = ProjectionSpec(), split_map_name(dataset.name, split)
    (enc_a, enc_b), encode_s = timed(lambda: (encodings.encode_split(a, dataset, split),
                                              encodings.encode_split(b, dataset, split)))
    map_a, map_a_s = timed(lambda: cached_projection(Cache.of(a), name, enc_a.mu, spec))
    pair, pair_s = timed(lambda: compare_maps.aligned_pair(a, b, enc_a, enc_b, name, spec))
    agreement, agreement_s = timed(lambda: compare.knn_jaccard(enc_a.mu, enc_b.mu))
    scratch = Cache.at(Path(os.environ["VAE_CACHE_DIR"]) / f"own-b-{split}")
    own_b, own_b_s = timed(lambda: cached_projection(scratch, name, enc_b.mu, spec))
    return {"n": len(enc_a), "encode_s": encode_s, "ready_s": encode_s + map_a_s + pair_s, "map_a_s": map_a_s,
            "pair_s": pair_s, "own_b_s": own_b_s,
            "agreement_s": agreement_s, "agreement": float(agreement.mean()), "settings": pair.settings.key(),
            "apart": float(align.displacement_share([pair.a, pair.b])[0]),
            "apart_own": float(align.displacement_share([pair.a, align.tidy_joint([own_b])[0]])[0]),
            "a_moved": move_off(map_a, pair.a)}


def print_compare(case: dict) -> None:
    n = case["n"]
    print(f"\nCompare, 2 x {n:,} ({case['settings']}):")
    print(f"  encodings (A cached where shipped, B computed): {case['encode_s']:.1f} s")
    print(f"  A's Map-page map: {case['map_a_s']:.1f} s ({'shipped cache' if case['map_a_s'] < 1 else 'fitted'})")
    print(f"  aligned maps: {case['pair_s']:.1f} s; one plain UMAP of B alone (reference): {case['own_b_s']:.1f} s; "
          f"ratio {case['pair_s'] / case['own_b_s']:.2f}")
    print(f"  B apart from A: aligned {case['apart']:.1%} of the width, B's own map {case['apart_own']:.1%}; "
          f"A moved {case['a_moved']:.1%} off its Map-page map")
    print(f"  agreement (k=10 Jaccard): mean {case['agreement']:.3f} in {case['agreement_s']:.2f} s")
    print(f"  ready from two loaded models (encodings + A's map + aligned maps): {case['ready_s']:.1f} s")


def movie_case(b) -> dict:
    from vae_core.map import align
    from vae_core.map import movie as movies
    from vae_core.models import snapshots

    series = snapshots.read_snapshots(b.path)
    frames = [s.mu for s in series.snapshots]
    movie, movie_s = timed(lambda: movies.movie(b))
    independent, independent_s = timed(lambda: [align.tidy_joint([align.umap_fit(f)])[0] for f in frames])
    steps, loose = align.displacement_share(movie.maps), align.displacement_share(independent)
    return {"shape": movie.maps.shape, "movie_s": movie_s, "independent_s": independent_s, "steps": steps,
            "loose": loose}


def print_movie(case: dict) -> None:
    m, n, _ = case["shape"]
    print(f"\nMovie, {m} snapshots x {n:,} points:")
    print(f"  aligned maps: {case['movie_s']:.1f} s; {m} independent UMAPs (reference): {case['independent_s']:.1f} s;"
          f" ratio {case['movie_s'] / case['independent_s']:.2f}")
    print(f"  a point moves per epoch, as a share of the map width: aligned mean {case['steps'].mean():.1%} "
          f"(worst step {case['steps'].max():.1%}); independent mean {case['loose'].mean():.1%} "
          f"(worst {case['loose'].max():.1%}); ratio {case['steps'].mean() / case['loose'].mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-b", type=Path, default=None, help="B's folder (with snapshots); default: train one")
    parser.add_argument("--b-epochs", type=int, default=10, help="epochs for the B trained here (default 10)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["VAE_CACHE_DIR"] = str(Path(scratch) / "cache")
        from vae_core import data, models, paths

        os.environ.setdefault("NUMBA_CACHE_DIR", str(paths.PROJECT_ROOT / ".cache" / "numba"))
        b_folder = args.model_b or train_b(Path(scratch) / "models" / "fashion-mnist-z8", args.b_epochs)
        a, b = models.load_model(paths.PRETRAINED_DIR / "fashion-mnist-z16"), models.load_model(b_folder)
        dataset = data.load_dataset("fashion-mnist")
        print(f"A: {a.path.name} (z{a.config.latent_dim}); B: {b.path.name} (z{b.config.latent_dim}); "
              f"JIT warm-up {warm_up():.1f} s", flush=True)
        small = compare_case(a, b, dataset, "test")
        print_compare(small)
        print_movie(movie := movie_case(b))
        print_compare(compare_case(a, b, dataset, "all"))
    print("\nTargets (issue 21):")
    for what, seconds in (("aligned maps of two 10k models, from loaded models", small["ready_s"]),
                          (f"the movie's alignment ({movie['shape'][0]} x {movie['shape'][1]:,})", movie["movie_s"])):
        print(f"  {what}: {seconds:.1f} s, target <= {TARGET_S:.0f} s: {'met' if seconds <= TARGET_S else 'NOT met'}")


if __name__ == "__main__":
    main()
