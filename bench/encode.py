"""Encode-page timings: picture bytes -> preprocessed input -> encoding, ELBO, neighbours and place on a loaded map.

    python -m bench.encode [--model FOLDER] [--repeats 30] [--umap]

Uses the first Fashion-MNIST model shipped in pretrained/, else trains a small one with the CLI into
/tmp/vae-bench-encode (one epoch; digits if Fashion-MNIST is missing). The map is the model's test split (10,000
points for Fashion-MNIST), PCA by default: placement is a kNN over the latents, so its cost does not depend on the
projection; `--umap` also fits UMAP and times `UMAP.transform` of the same picture as the reference.
Numbers are medians (p50) over repeats, next to references measured in the same run: the bare encoder forward
pass and `Placer.place` alone. Targets (CPU): 1 picture ≤ 300 ms, 100 pictures ≤ 5 s, and the same picture alone
or inside a batch of 50 lands on the same spot (max coordinate difference ≤ 1e-6). Exit status 1 if one is missed.
"""
from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/encode.py` works like `-m bench.encode`
from bench.timing import p50_ms
from vae_core import data, encode, models
from vae_core.models.torch_vae import checkpoint
from vae_core.map import encodings
from vae_core.data import uploads
from vae_core.paths import PRETRAINED_DIR
from vae_core.map.placement import Placer
from vae_core.map.projection import ProjectionSpec, cached_projection

TARGET_ONE_MS, TARGET_HUNDRED_MS, TARGET_STABILITY = 300.0, 5000.0, 1e-6
FALLBACK = Path(tempfile.gettempdir()) / "vae-bench-encode"


def find_model(explicit: Path | None) -> Path:
    if explicit:
        return explicit
    shipped = [m for m in models.list_models([PRETRAINED_DIR]) if m.error is None]
    shipped.sort(key=lambda m: m.dataset != "fashion-mnist")
    if shipped:
        return shipped[0].path
    dataset = "fashion-mnist" if data.default_dataset_name() == "fashion-mnist" else "digits"
    folder = FALLBACK / f"{dataset}-z16"
    if not (folder / checkpoint.WEIGHTS).exists():
        print(f"no model in {PRETRAINED_DIR}: training a small {dataset} model into {folder} (one epoch) …", flush=True)
        subprocess.run([sys.executable, "-m", "vae_core", "train", "--dataset", dataset, "--latent-dim", "16",
                        "--epochs", "1", "--out", str(folder)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return folder


def as_upload(image: np.ndarray, name: str, scale: int = 4) -> tuple[str, bytes]:
    """A dataset image as a user would upload it: a dark object on white paper, 4× larger, as PNG bytes."""
    picture = Image.fromarray(255 - image).resize((image.shape[1] * scale, image.shape[0] * scale),
                                                  Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return name, buffer.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--umap", action="store_true", help="fit UMAP too and time UMAP.transform as a reference")
    args = parser.parse_args(argv)

    folder = find_model(args.model)
    loaded = checkpoint.load_checkpoint(folder)
    loaded.model.eval()
    dataset = data.load_dataset(loaded.config.dataset or data.default_dataset_name())
    start = time.perf_counter()
    encoded = encodings.encode_split(loaded, dataset, "test")
    spec = ProjectionSpec(method="umap" if args.umap else "pca")
    coords = cached_projection(FALLBACK / "cache", f"{folder.name}-{dataset.name}-test", encoded.mu, spec)
    placer = Placer(encoded.mu, coords)
    load_s = time.perf_counter() - start
    shape = tuple(loaded.config.image_shape)
    print(f"model {folder} ({dataset.name}, z={loaded.config.latent_dim}); map: {len(encoded):,} test points, "
          f"{spec.method.upper()}; loaded in {load_s:.1f} s (encoded split and map cached after the first run); "
          f"torch threads {torch.get_num_threads()}")

    files = [as_upload(dataset.test_images[i], f"pic{i}.png") for i in range(100)]
    test_elbo = encoded.elbo

    def run(batch):
        return encode.encode_uploads(loaded, uploads.read_uploads(batch, shape), encoded, placer,
                                      reference_elbo=test_elbo)

    one_ms = p50_ms(lambda: run(files[:1]), args.repeats)
    hundred_ms = p50_ms(lambda: run(files), max(3, args.repeats // 10))

    # references, same run: the bare encoder forward pass and the bare placement of one latent
    x = torch.from_numpy(uploads.read_uploads(files[:1], shape)[0].input.array[None, None].astype(np.float32) / 255)
    with torch.no_grad():
        encoder_ms = p50_ms(lambda: loaded.model.encode(x), args.repeats)
        with encode._one_torch_thread():
            encoder_1t_ms = p50_ms(lambda: loaded.model.encode(x), args.repeats)
    mu = run(files[:1])[0].mu
    place_ms = p50_ms(lambda: placer.place(mu), args.repeats)
    umap_ms = None
    if args.umap:
        import umap
        reducer = umap.UMAP(n_components=2, random_state=0, n_jobs=1).fit(encoded.mu)
        reducer.transform(mu[None])  # the first transform compiles (40–57 s on a cold numba cache): not timed
        umap_ms = p50_ms(lambda: reducer.transform(mu[None]), max(3, args.repeats // 3))

    # stability: each of 5 pictures alone vs inside a batch of 50 (and of 100)
    batch50, batch100 = run(files[:50]), run(files)
    worst = 0.0
    for i in (0, 7, 23, 41, 49):
        alone = run(files[i:i + 1])[0]
        worst = max(worst, float(np.abs(alone.xy - batch50[i].xy).max()),
                    float(np.abs(alone.xy - batch100[i].xy).max()))

    rows = [
        ("preprocess+encode+place 1 picture", f"{one_ms:8.1f} ms", f"≤ {TARGET_ONE_MS:.0f} ms",
         one_ms <= TARGET_ONE_MS),
        ("preprocess+encode+place 100 pictures", f"{hundred_ms:8.1f} ms", f"≤ {TARGET_HUNDRED_MS:.0f} ms",
         hundred_ms <= TARGET_HUNDRED_MS),
        ("same picture alone vs in batch of 50/100", f"{worst:8.1e}", f"≤ {TARGET_STABILITY:.0e}",
         worst <= TARGET_STABILITY),
    ]
    print(f"\n{'step':44} {'p50':>12}  {'target':>10}  result")
    for name, value, target, ok in rows:
        print(f"{name:44} {value:>12}  {target:>10}  {'PASS' if ok else 'FAIL'}")
    print("\nreferences (same run):")
    print(f"  {'encoder forward pass alone, 1 picture':42} {encoder_ms:8.2f} ms  ({torch.get_num_threads()} threads)")
    print(f"  {'encoder forward pass alone, 1 picture':42} {encoder_1t_ms:8.2f} ms  (1 thread, as encode_uploads runs)")
    print(f"  {'Placer.place alone, 1 latent':42} {place_ms:8.2f} ms  (kNN over {len(encoded):,} latents)")
    if umap_ms is not None:
        print(f"  {'UMAP.transform of the same picture (warm)':42} {umap_ms:8.2f} ms  (batch-dependent: not used)")
    print(f"  {'per picture in the batch of 100':42} {hundred_ms / 100:8.2f} ms")
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
