"""A million real images for bench/map.py: Fashion-MNIST's 70,000 and 930,000 randomly shifted copies, as an IDX
"fashion-mnist" dataset in a temporary folder (never committed), encoded and projected into the cache folder the
real app reads.

    <folder>/data/fashion-mnist/*-ubyte   $VAE_DATA_DIR of the million: train = 990,000 (the 60,000 train images,
                                          then the copies), test = the 10,000 test images; "all" = 1,000,000 rows
    <folder>/cache/                       $VAE_CACHE_DIR: the shipped model's encodings and projections of both
                                          "all" splits (the million and the original 70,000)
    <folder>/{10000,70000,1000000}.npz    the twin apps' points (bench/map_apps.py)
    <folder>/figures.json                 the timings of this preparation (a --reuse run prints them again)

A copy is one of the 70,000 (train then test, in turn) moved by a seeded random integer shift of up to ±3 px in x
and y (never 0, 0: no copy equals its source), zero-filled, not wrapped; it keeps its source's label.
"""
from __future__ import annotations

import gc
import json
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "pretrained" / "fashion-mnist-z16"
MILLION, COPIES, MAX_SHIFT, SEED = 1_000_000, 930_000, 3, 12
N_TRAIN, N_TEST = 60_000, 10_000
# rows of the million's "all" split that are the 70,000 original images (train first, test last), in that order
REAL_ROWS = np.r_[0:N_TRAIN, MILLION - N_TEST:MILLION]


def data_dir(folder: Path) -> Path:
    return folder / "data"


def cache_dir(folder: Path) -> Path:
    return folder / "cache"


def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed IDX file of unsigned bytes (the format vae_core.data reads, .gz or not)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with open(path, "wb") as handle:
        handle.write(header)
        handle.write(memoryview(array).cast("B"))


def shifted_copies(images: np.ndarray, count: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """`count` copies of `images` (taken in turn) each moved by a random (dy, dx) in [-3, 3]², not (0, 0), zero-filled;
    returns (copies, source row of each)."""
    images = np.asarray(images)  # the "all" split is a StackedImages: one 55 MB copy here
    rng = np.random.default_rng(seed)
    sources = np.arange(count) % len(images)
    shifts = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=(count, 2))
    while (zero := (shifts == 0).all(axis=1)).any():
        shifts[zero] = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=(int(zero.sum()), 2))
    h, w = images.shape[1:]
    out = np.zeros((count, h, w), dtype=np.uint8)
    for dy in range(-MAX_SHIFT, MAX_SHIFT + 1):
        for dx in range(-MAX_SHIFT, MAX_SHIFT + 1):
            rows = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
            if len(rows):
                out[rows, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
                    images[sources[rows], max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out, sources


class _Timed:
    """with _Timed(figures, key, what): prints what it does and records its seconds under `key`."""

    def __init__(self, figures: dict, key: str, what: str):
        self.figures, self.key, self.what = figures, key, what

    def __enter__(self):
        print(f"{self.what}…", flush=True)
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        self.figures[self.key] = time.perf_counter() - self.start
        print(f"  {self.what}: {self.figures[self.key]:.1f} s", flush=True)


_shown: list = []


def _progress(fraction, message):
    """Progress lines, at most one per 10 % (encoding reports every 1 %)."""
    step = int(fraction * 10)
    if not _shown or step != _shown[-1] or fraction >= 1:
        _shown.append(step)
        print(f"    {fraction:4.0%} {message}", flush=True)


def prepare(folder: Path, million: bool) -> dict:
    """Write the twin apps' npz files (and, with `million`, generate, encode and project the million); returns the
    timings, also saved to figures.json. Leaves os.environ as it found it."""
    saved_env = {name: os.environ.get(name) for name in ("VAE_DATA_DIR", "VAE_CACHE_DIR")}
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    os.environ["VAE_CACHE_DIR"] = str(cache_dir(folder))  # before the checkpoint: a shipped model caches there
    os.environ.pop("VAE_DATA_DIR", None)  # the original Fashion-MNIST first
    try:
        return _prepare(folder, million)
    finally:
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        from vae_core import data
        data.idx._load_idx_cached.cache_clear()  # the million's arrays (~800 MB) are not needed by the browser phases
        gc.collect()


def _prepare(folder: Path, million: bool) -> dict:
    from vae_core import data
    from vae_core.models.torch_vae import checkpoint
    from vae_core.map import encodings
    from vae_core.map.projection import ProjectionSpec, cached_projection, fit_projection

    figures: dict = {}
    loaded = checkpoint.load_checkpoint(MODEL)
    original = data.load_dataset("fashion-mnist")
    test = encodings.encode_split(loaded, original, "test")
    coords = cached_projection(loaded.cache_folder, "fashion-mnist-test", test.mu, ProjectionSpec(),
                               also_read=tuple(loaded.cache_folders[:-1]))
    np.savez(folder / "10000.npz", coords=coords, labels=test.labels, recon=test.recon, kl=test.kl, elbo=test.elbo)
    if not million:
        return figures

    # The real app's 70k map (original "all" split), for its lens and frame times: encoded and projected here so
    # the app starts from warm caches, as it does at a million.
    with _Timed(figures, "encode 70k", "encoding the 70,000 original images"):
        every = encodings.encode_split(loaded, original, "all")
    print("warming numba's cache (a UMAP fit on 2,000 points)…", flush=True)
    fit_projection(every.mu[:2000], ProjectionSpec())
    with _Timed(figures, "projection 70k", "projecting the 70,000 (UMAP on a 50,000 sample + placement)"):
        cached_projection(loaded.cache_folder, "fashion-mnist-all", every.mu, ProjectionSpec(), _progress)
    del every

    with _Timed(figures, "generate 1M", f"writing {COPIES:,} shifted copies as an IDX dataset"):
        images, labels = encodings.split_images(original, "all")
        copies, sources = shifted_copies(images, COPIES)
        target = data_dir(folder) / "fashion-mnist"
        target.mkdir(parents=True, exist_ok=True)
        write_idx(target / data.idx.IDX_FILES["train_images"], np.concatenate([original.train_images, copies]))
        write_idx(target / data.idx.IDX_FILES["train_labels"], np.concatenate([original.train_labels, labels[sources]]))
        write_idx(target / data.idx.IDX_FILES["test_images"], original.test_images)
        write_idx(target / data.idx.IDX_FILES["test_labels"], original.test_labels)
    del images, labels, copies, sources, original
    data.idx._load_idx_cached.cache_clear()
    gc.collect()

    os.environ["VAE_DATA_DIR"] = str(data_dir(folder))
    dataset = data.load_dataset("fashion-mnist")
    if len(dataset.train_labels) + len(dataset.test_labels) != MILLION or str(data_dir(folder)) not in dataset.source:
        raise RuntimeError(f"the generated dataset did not load as the million: {dataset.source}")
    with _Timed(figures, "encode 1M", f"encoding the {MILLION:,} images (the shipped model, 2 cores)"):
        big = encodings.encode_split(loaded, dataset, "all", progress=_progress)
    del dataset
    data.idx._load_idx_cached.cache_clear()
    gc.collect()
    with _Timed(figures, "projection 1M", "projecting the million (UMAP on a 50,000 sample + placement of the rest)"):
        coords = cached_projection(loaded.cache_folder, "fashion-mnist-all", big.mu, ProjectionSpec(), _progress)
    columns = {name: getattr(big, name) for name in ("labels", "recon", "kl", "elbo")}
    np.savez(folder / "1000000.npz", coords=coords, **columns)
    np.savez(folder / "70000.npz", coords=coords[REAL_ROWS], **{k: v[REAL_ROWS] for k, v in columns.items()})
    (folder / "figures.json").write_text(json.dumps(figures, indent=1))
    return figures


def saved_figures(folder: Path) -> dict:
    path = folder / "figures.json"
    return json.loads(path.read_text()) if path.exists() else {}
