"""The Compare page's two maps, aligned so the same region means the same images: A's map as the Map page draws it
is the reference, B is laid out against it (align.py), and the pair is cached like every projection.

UMAP: `aligned_umap_stacked([A, B], init="copy", reference_map=A's cached map)`. Up to FREEZE_ABOVE points both
sides move (200 epochs, lambda 0.01: 2 x 10k in 13-15 s with A's map cached, stability 2.2 %, A 3.1-3.7 % off its
Map-page map); past it A is frozen at its Map-page map and B alone is laid out (100 epochs, lambda 0.03: 2 x 70k in
35-46 s, 3.3 %; both moving took 67-72 s at e100, 168 s at e200). Past PAIR_SAMPLE points a seeded sample is aligned
and B's other rows are placed by their nearest sampled neighbours, as the Map page places rows past its own sample.
PCA: each side's PCA, B Procrustes-aligned onto A's PCA map (0.02 s for 10k).

Where a pair's cache lives: in A's cache (Cache.of(A): a shipped A's writes go to $VAE_CACHE_DIR like all its caches).
A is the pair's reference: the result is A's map with B laid against it, so it belongs with A's weights and goes
when they go (a resumed A prunes its old cache folder). The file name carries both weights hashes, the split, the
method and every parameter, so only this exact B ever reads it; deleting B leaves one file nobody reads again
(N x 2 x 2 float32: 160 kB at 10k).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import VAEError
from .align import aligned_umap_stacked, procrustes, tidy_joint
from .cache import Cache
from .compare import check_comparable, check_same_images
from .encodings import EncodedSplit
from .projection import ProjectionSpec, cached_projection, place_rest, project_pca, sample_rows

FREEZE_ABOVE = 20_000   # points: past it A stays its Map-page map (copy mode grows super-linearly: 13 s at 10k,
                        # 67-72 s at 70k with only 100 epochs); 20k is between the two measured sizes
PAIR_SAMPLE = 70_000    # points aligned at most (the largest measured: 35-46 s); the rest placed by kNN
PAIR_METHODS = ("umap", "pca")


@dataclass(frozen=True)
class PairSettings:
    """How a UMAP pair of `n` points is aligned (every field is in the cache file's name)."""
    freeze: bool
    n_epochs: int
    lambda_: float
    sample: int | None  # rows aligned when fewer than all

    @classmethod
    def for_size(cls, n: int) -> PairSettings:
        """The alignment research's recommendation by size (the module docstring has its numbers)."""
        if n <= FREEZE_ABOVE:
            return cls(freeze=False, n_epochs=200, lambda_=0.01, sample=None)
        return cls(freeze=True, n_epochs=100, lambda_=0.03, sample=PAIR_SAMPLE if n > PAIR_SAMPLE else None)

    def key(self) -> str:
        sample = f"-s{self.sample}" if self.sample else ""
        return f"{'frozen' if self.freeze else 'copy'}-e{self.n_epochs}-l{self.lambda_:g}{sample}"


@dataclass(frozen=True)
class AlignedPair:
    """Both sides' maps (N, 2) float32 under one centring and scaling: row i is image i on both."""
    a: np.ndarray
    b: np.ndarray
    method: str
    settings: PairSettings | None  # None for PCA


def _part(progress, lo: float, hi: float):
    return None if progress is None else (lambda f, m: progress(lo + (hi - lo) * f, m))


def _umap_pair(map_a, mu_a, mu_b, spec: ProjectionSpec, settings: PairSettings, progress) -> list[np.ndarray]:
    rows = (sample_rows(len(mu_a), settings.sample, spec.seed) if settings.sample else np.arange(len(mu_a)))
    a, b = aligned_umap_stacked([mu_a[rows], mu_b[rows]], n_epochs=settings.n_epochs, init="copy", reference=0,
                                reference_map=map_a[rows], freeze_reference=settings.freeze,
                                lambda_=settings.lambda_, seed=0 if spec.seed is None else spec.seed,
                                n_neighbors=spec.n_neighbors, min_dist=spec.min_dist, progress=progress)
    if settings.sample is None:
        return [a, b]
    # a frozen A is its Map-page map up to the shared tidy transform: read that transform off the sample
    full_a = procrustes(map_a[rows], a)[1].apply(map_a)
    rest = np.setdiff1d(np.arange(len(mu_a)), rows, assume_unique=True)
    full_b = np.empty((len(mu_b), 2), dtype=np.float64)
    full_b[rows], full_b[rest] = b, place_rest(mu_b[rows], b, mu_b[rest])
    return tidy_joint([full_a, full_b])


def _pca_pair(map_a, mu_b) -> list[np.ndarray]:
    return tidy_joint([map_a, procrustes(project_pca(np.asarray(mu_b, dtype=np.float32), 2), map_a)[0]])


def _read_pair(n: int):
    def read(path):
        with np.load(path, allow_pickle=False) as saved:
            a, b = saved["a"], saved["b"]
        good = all(x.shape == (n, 2) and x.dtype == np.float32 and np.isfinite(x).all() for x in (a, b))
        return (a, b) if good else None
    return read


def pair_file_name(loaded_a, loaded_b, map_name: str, spec: ProjectionSpec, settings: PairSettings | None) -> str:
    """Both weights hashes, the split's map name, the method and its parameters: a file never read for another pair."""
    tail = f"-{settings.key()}" if settings else ""
    return f"pair-{map_name}-{spec.key()}{tail}-{loaded_a.weights_hash}-{loaded_b.weights_hash}.npz"


def aligned_pair(loaded_a, loaded_b, encoded_a: EncodedSplit, encoded_b: EncodedSplit, map_name: str,
                 spec: ProjectionSpec = ProjectionSpec(), progress=None) -> AlignedPair:
    """Both models' maps of one split, aligned; `map_name` is projection.split_map_name(dataset, split) and `spec`
    the Map page's projection (method "umap" or "pca", 2-D). A's map is the Map page's own (cached_projection: fitted
    and cached for the Map page too when missing). `progress(fraction, message)`: A's map in the first fifth (instant
    when cached), then the alignment, which reports every ~2 % of its epochs."""
    check_comparable(loaded_a, loaded_b)
    check_same_images(encoded_a, encoded_b)
    if spec.method not in PAIR_METHODS or spec.dims != 2:
        raise VAEError(f"aligned maps are 2-D UMAP or PCA, not {spec.dims}-D {spec.method}")
    n = len(encoded_a)
    settings = PairSettings.for_size(n) if spec.method == "umap" else None
    name = pair_file_name(loaded_a, loaded_b, map_name, spec, settings)

    def compute():
        map_a = cached_projection(Cache.of(loaded_a), map_name, encoded_a.mu, spec, progress=_part(progress, 0, 0.2))
        if settings is None:
            return tuple(_pca_pair(map_a, encoded_b.mu))
        return tuple(_umap_pair(map_a, encoded_a.mu, encoded_b.mu, spec, settings, _part(progress, 0.2, 1.0)))

    def write(pair):
        return lambda handle: np.savez(handle, a=pair[0], b=pair[1])

    a, b = Cache.of(loaded_a).get(name, _read_pair(n), compute, write)
    if progress is not None:
        progress(1.0, "The two maps are aligned.")
    return AlignedPair(a, b, spec.method, settings)


def cached_pair(loaded_a, loaded_b, encoded_a: EncodedSplit, map_name: str,
                spec: ProjectionSpec = ProjectionSpec()) -> AlignedPair | None:
    """The pair `aligned_pair` would give, if its cache file is there (milliseconds); None otherwise. A page shows it
    at once, and starts a background job for it only when it is missing (as projection.cached_only does for a map)."""
    if spec.method not in PAIR_METHODS or spec.dims != 2:
        return None
    n = len(encoded_a)
    settings = PairSettings.for_size(n) if spec.method == "umap" else None
    found = Cache.of(loaded_a).load(pair_file_name(loaded_a, loaded_b, map_name, spec, settings), _read_pair(n))
    return None if found is None else AlignedPair(*found, spec.method, settings)
