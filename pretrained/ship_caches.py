"""Write the caches a shipped model carries in <model>/cache/<weights hash>/ (`make default-model` runs it after each
training), made by the app's own code paths, so a fresh install's first Map and first training movie need no fit:

    encoded-<dataset>-test-<n>.npz             the encoded test split (map/encodings.py)
    projection-<dataset>-test-umap-...npy      the Map page's UMAP map (map/projection.py, the default spec)
    inverse-<dataset>-test-umap-...safetensors the map's learned inverse (map/inverse.py; named as ui/map_data.py does)
    movie-umap-...npy                          the training movie's aligned maps, when it has snapshots (map/movie.py)

A shipped (read-only) folder's caches are written to $VAE_CACHE_DIR by the app, so they are made in a scratch
$VAE_CACHE_DIR here and copied in. Usage: python pretrained/ship_caches.py pretrained/fashion-mnist-z16 [...]
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from the checkout, as `make` does

from vae_core import data, models, paths
from vae_core.map import encodings, inverse, movie
from vae_core.map.cache import Cache
from vae_core.map.projection import ProjectionSpec, cached_projection, latents_hash, split_map_name


def say(fraction: float, message: str) -> None:
    print(f"  {fraction:4.0%} {message}", flush=True)


def ship(folder: Path) -> list[str]:
    """The caches of the model in `folder`, written into its own cache/<weights hash>/; returns their names."""
    loaded = models.load_model(folder)
    dataset = data.load_dataset(loaded.config.dataset)
    cache, spec, split = Cache.of(loaded), ProjectionSpec(), "test"
    encoded = encodings.encode_split(loaded, dataset, split, progress=say)
    coords = cached_projection(cache, split_map_name(dataset.name, split), encoded.mu, spec, progress=say)
    name = f"{dataset.name}-{split}-{spec.key()}-{latents_hash(coords)}".replace(":", "_").replace("/", "_")
    inverse.cached(cache, name, coords, encoded.mu, loaded.model.decode_means, progress=say)
    movie.movie(loaded, spec, progress=say)
    target = Path(folder) / "cache" / loaded.weights_hash
    if cache.write_to != target:  # a shipped folder: the app wrote to $VAE_CACHE_DIR
        target.mkdir(parents=True, exist_ok=True)
        for made in cache.write_to.iterdir():
            shutil.copy2(made, target / made.name)
    return sorted(p.name for p in target.iterdir())


def main(folders: list[str]) -> None:
    paths.setup_numba_cache()  # the project's JIT cache, before $VAE_CACHE_DIR points at the scratch folder
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["VAE_CACHE_DIR"] = scratch
        for folder in folders:
            print(f"{folder}:")
            for name in ship(Path(folder)):
                print(f"  {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
