"""2-D/3-D maps of the latent space: PCA (instant) or UMAP (seconds to a minute), cached on disk.

Works on plain float32 (N, D) arrays of encoder means; knows nothing about the model. UMAP is imported
lazily because `import umap` alone costs 14–20 s on a cold numba cache (see shared/notes/vae-umap.md).
Placing new points on a finished map is `placement.Placer`'s job, not UMAP.transform's (batch-dependent).
"""
from __future__ import annotations

import hashlib
import re
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import VAEError
from .cache import Cache

METHODS = ("umap", "pca", "latent")  # "latent": a 2-D latent space is its own map (exactly invertible)
MAP_HALF_WIDTH = 10.0  # coordinates are centred and scaled into [-10, 10]: same axes for every map
# Past UMAP_SAMPLE points, UMAP is fitted on a seeded sample and the rest are placed by nearest neighbours in latent
# space (README: "Maps of a million points"): a fit on 1M points would take hours on 2 cores.
UMAP_SAMPLE = 50_000
PLACE_K = 8           # neighbours blended per placed point (the Placer's rule)
PLACE_EPS = 1.0       # kd-tree search within (1 + eps) of the true distances: ~6x faster in 16-D, 94% same set
PLACE_BLOCK = 20_000  # rows per progress step
TICK_SECONDS = 0.5    # a UMAP fit reports nothing itself: the bar moves on its expected time meanwhile


@dataclass(frozen=True)
class ProjectionSpec:
    """What to compute; `key()` names the cache file, so every field that changes the result is in it."""
    method: str = "umap"        # "umap" keeps clusters apart; "pca" is instant and linear (axes mean something)
    dims: int = 2               # 2 or 3
    n_neighbors: int = 15       # UMAP: larger = more global structure, slower
    min_dist: float = 0.1       # UMAP: smaller = tighter clusters
    seed: int | None = 0        # UMAP: a seed makes fits reproducible but single-threaded (~1.5x slower)

    def __post_init__(self):
        if self.method not in METHODS:
            raise VAEError(f"unknown projection method {self.method!r}; choose one of {', '.join(METHODS)}")
        if isinstance(self.dims, bool) or self.dims not in (2, 3):
            raise VAEError(f"projection dims must be 2 or 3, not {self.dims!r}")
        if (isinstance(self.n_neighbors, bool) or not isinstance(self.n_neighbors, int)
                or not 2 <= self.n_neighbors <= 200):
            raise VAEError(f"n_neighbors must be a whole number from 2 to 200, not {self.n_neighbors!r}")
        if isinstance(self.min_dist, bool) or not isinstance(self.min_dist, (int, float)) \
                or not 0.0 <= self.min_dist <= 1.0:
            raise VAEError(f"min_dist must be a number from 0 to 1, not {self.min_dist!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0):
            raise VAEError(f"seed must be a non-negative whole number or None, not {self.seed!r}")

    def key(self) -> str:
        if self.method == "latent":
            return f"latent-{self.dims}d"
        if self.method == "pca":  # PCA ignores the UMAP knobs: one cache file, whatever they say
            return f"pca-{self.dims}d"
        seed = "none" if self.seed is None else str(self.seed)
        return f"umap-{self.dims}d-nn{self.n_neighbors}-md{self.min_dist:g}-s{seed}"


def _report(progress, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)


def _expected_umap_seconds(n: int) -> float:
    """About how long a seeded UMAP fit takes on one core here (10k: ~15 s, 50k: ~55 s): only for the bar."""
    return 5.0 + n / 1000.0


def _with_ticks(work, progress, start: float, end: float, expected_s: float, message: str):
    """`work()` in a thread while this one moves the bar from `start` towards `end` (never past 95 % of the way)
    on the expected time, saying how long it has run: a long fit with no progress of its own still shows it is
    alive. Errors come back here unchanged."""
    if progress is None:
        return work()
    outcome = {}

    def run():
        try:
            outcome["value"] = work()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread below
            outcome["error"] = err
    worker = threading.Thread(target=run, name="projection-fit", daemon=True)
    began = time.perf_counter()
    worker.start()
    while worker.is_alive():
        worker.join(TICK_SECONDS)
        elapsed = time.perf_counter() - began
        if worker.is_alive():
            _report(progress, start + (end - start) * min(0.95, elapsed / expected_s),
                    f"{message} {elapsed:.0f} s so far")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _as_latents(latents) -> np.ndarray:
    latents = np.asarray(latents)
    if latents.ndim != 2 or latents.shape[0] == 0 or latents.shape[1] == 0:
        raise VAEError(f"latents must be a non-empty (N, D) array, got shape {latents.shape}")
    latents = latents.astype(np.float32, copy=False)
    if not np.isfinite(latents).all():
        raise VAEError("latents contain NaN or infinite values; the model may have diverged")
    return np.ascontiguousarray(latents)


def tidy_coordinates(coords: np.ndarray) -> np.ndarray:
    """Centre on the mean and scale uniformly (keeping the aspect ratio) so the farthest point sits at ±10."""
    coords = np.asarray(coords, dtype=np.float64)
    coords = coords - coords.mean(axis=0)
    extent = np.abs(coords).max() if coords.size else 0.0
    if extent > 0:
        coords = coords * (MAP_HALF_WIDTH / extent)
    return coords.astype(np.float32)


def project_pca(latents: np.ndarray, dims: int) -> np.ndarray:
    """First `dims` principal components, largest variance first, with a deterministic sign per axis."""
    centred = latents.astype(np.float64) - latents.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:dims]
    # SVD's sign is arbitrary; flip so each axis's largest loading is positive, so maps don't mirror on refit.
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    coords = centred @ (axes * signs[:, None]).T
    if coords.shape[1] < dims:  # fewer latent dims than map dims: the missing axes are flat
        coords = np.pad(coords, ((0, 0), (0, dims - coords.shape[1])))
    return coords


def project_umap(latents: np.ndarray, spec: ProjectionSpec) -> np.ndarray:
    paths.setup_numba_cache()  # before the import: numba reads NUMBA_CACHE_DIR once
    import umap

    n = len(latents)
    if n < spec.dims + 3:
        raise VAEError(f"UMAP needs at least {spec.dims + 3} points, got {n}; use PCA for tiny sets")
    reducer = umap.UMAP(
        n_components=spec.dims,
        n_neighbors=min(spec.n_neighbors, n - 1),  # UMAP cannot use more neighbours than there are points
        min_dist=spec.min_dist,
        random_state=spec.seed,
        n_jobs=1 if spec.seed is not None else -1,  # a seed forces one thread anyway; saying so avoids a warning
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs.*")
        warnings.filterwarnings("ignore", category=FutureWarning)
        return np.asarray(reducer.fit_transform(latents), dtype=np.float64)


def place_rest(sample_latents, sample_coords, latents, k: int = PLACE_K, eps: float = PLACE_EPS,
               progress=None) -> np.ndarray:
    """Map coordinates for `latents` from a fitted sample: inverse-distance mean of the sample coordinates of each
    row's k nearest sample latents (an exact hit takes the hits' mean). Each row's kd-tree query runs alone, so a
    point lands in the same place whatever else is placed with it."""
    from scipy.spatial import cKDTree

    sample_coords = np.asarray(sample_coords, dtype=np.float64)
    tree = cKDTree(np.asarray(sample_latents, dtype=np.float64))
    latents = np.asarray(latents, dtype=np.float64)
    k = min(k, len(sample_coords))
    out = np.empty((len(latents), sample_coords.shape[1]), dtype=np.float64)
    for start in range(0, len(latents), PLACE_BLOCK):
        block = latents[start:start + PLACE_BLOCK]
        dist, idx = tree.query(block, k=k, eps=eps, workers=-1)
        dist, idx = dist.reshape(len(block), k), idx.reshape(len(block), k)
        exact = dist <= 0.0
        weights = np.where(exact.any(axis=1, keepdims=True), exact.astype(np.float64),
                           1.0 / np.maximum(dist, np.finfo(np.float64).tiny))
        out[start:start + len(block)] = np.einsum("nk,nkd->nd", weights, sample_coords[idx]) / weights.sum(axis=1,
                                                                                                          keepdims=True)
        _report(progress, min(1.0, (start + len(block)) / len(latents)),
                f"placed {start + len(block):,} of {len(latents):,} points by their nearest sampled neighbours")
    return out


def sample_rows(n: int, size: int, seed: int | None) -> np.ndarray:
    """`size` sorted row ids out of n, the same for the same seed (seed None: 0, so a map is reproducible)."""
    return np.sort(np.random.default_rng(0 if seed is None else seed).choice(n, size, replace=False))


def fit_projection(latents, spec: ProjectionSpec, progress=None) -> np.ndarray:
    """Project latents (N, D) to a tidy float32 (N, dims) map. `progress(fraction, message)` marks phases."""
    latents = _as_latents(latents)
    n = len(latents)
    if spec.method == "latent":
        if latents.shape[1] != spec.dims:
            raise VAEError(f"the projection 'none (the latent itself)' needs a {spec.dims}-D latent space; this "
                           f"model's is {latents.shape[1]}-D: use UMAP or PCA")
        _report(progress, 1.0, f"The {n:,} latents are the map.")
        return latents.astype(np.float32)  # untouched: map coordinates are z itself
    if spec.method == "pca":
        _report(progress, 0.0, f"PCA on {n:,} points…")
        coords = project_pca(latents, spec.dims)
    elif n > UMAP_SAMPLE:
        rows = sample_rows(n, UMAP_SAMPLE, spec.seed)
        message = f"Fitting UMAP on a sample of {UMAP_SAMPLE:,} of the {n:,} points (about a minute)…"
        _report(progress, 0.0, message)
        fitted = _with_ticks(lambda: project_umap(latents[rows], spec), progress, 0.0, 0.5,
                             _expected_umap_seconds(UMAP_SAMPLE), message)
        rest = np.setdiff1d(np.arange(n), rows, assume_unique=True)
        coords = np.empty((n, spec.dims), dtype=np.float64)
        coords[rows] = fitted
        coords[rest] = place_rest(latents[rows], fitted, latents[rest],
                                  progress=lambda f, m: _report(progress, 0.5 + 0.5 * f, m))
    else:
        message = f"Fitting UMAP on {n:,} points (about a minute for 50k; the first run also compiles)…"
        _report(progress, 0.0, message)
        coords = _with_ticks(lambda: project_umap(latents, spec), progress, 0.0, 1.0, _expected_umap_seconds(n),
                             message)
    coords = tidy_coordinates(coords)
    _report(progress, 1.0, f"Projected {n:,} points.")
    return coords


def latents_hash(latents: np.ndarray) -> str:
    """12 hex digits of SHA-256 over shape + float32 bytes: a new model or split never reuses an old map."""
    latents = np.ascontiguousarray(np.asarray(latents, dtype=np.float32))
    digest = hashlib.sha256(repr(latents.shape).encode())
    digest.update(latents.tobytes())
    return digest.hexdigest()[:12]


def split_map_name(dataset_name: str, split: str) -> str:
    """The `name` a split's map is cached under (the Map page's: ui/loaders.py uses it too), so the Compare page and
    the movie find the map the Map page made."""
    return f"{dataset_name}-{split}".replace(":", "_").replace("/", "_")


def projection_name(name: str, latents, spec: ProjectionSpec) -> str:
    """The cache file's name: the data's name, the spec and the latents' hash (a new model never reuses a map)."""
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "latents"  # names come from datasets: keep them file-safe
    return f"projection-{safe_name}-{spec.key()}-{latents_hash(latents)}.npy"


def read_map(expected_shape: tuple):
    """A reader for Cache.load: the cached map, or None when it is the wrong shape or not finite."""
    def read(path: Path) -> np.ndarray | None:
        coords = np.load(path, allow_pickle=False)
        if coords.shape != expected_shape or coords.dtype != np.float32 or not np.isfinite(coords).all():
            return None
        return coords
    return read


def cached_only(cache: Cache, name: str, latents, spec: ProjectionSpec) -> np.ndarray | None:
    """The map `cached_projection` would return if it is already in the cache (a shipped one, or computed before);
    None when it would have to be fitted. Milliseconds: the app asks this before choosing to wait or not."""
    latents = _as_latents(latents)
    return cache.load(projection_name(name, latents, spec), read_map((len(latents), spec.dims)))


def cached_projection(cache: Cache, name: str, latents, spec: ProjectionSpec, progress=None) -> np.ndarray:
    """fit_projection, stored in the model's cache (map/cache.py) as `projection_name(name, latents, spec)`.

    A corrupt cache file is recomputed; an unwritable cache folder only costs the next run a refit.
    """
    latents = _as_latents(latents)
    coords = cached_only(cache, name, latents, spec)
    if coords is not None:
        _report(progress, 1.0, "Loaded the cached map.")
        return coords
    file_name = projection_name(name, latents, spec)
    coords = fit_projection(latents, spec, progress)
    cache.save(file_name, lambda handle: np.save(handle, coords, allow_pickle=False))
    return coords
