"""The training movie's data: one 2-D map per snapshot, all aligned so a point moves only as its latent moves, and the
heatmap of KL per latent dimension x epoch; cached in the model's cache. (The snapshots: models/snapshots.py; the GIF:
movie_gif.py.)

UMAP: `aligned_umap_stacked(frames, init="copy", reference=-1, n_epochs=100, lambda_=0.03)`. Every frame starts from
the LAST snapshot's UMAP and is pulled towards its neighbours in time: the last frame is the trained model, the map
the user knows, and the earlier frames unfold from it. Measured on 10 snapshots x 2,000 points: 7.8-8.5 s; a point
moves 0.9 % of the map width per epoch on average (worst step 1.6 %), against 21 % (worst 51 %) for independent
UMAPs (18-34 s), and 1.6 % for umap.AlignedUMAP (138-174 s); neighbourhood quality 0.398 against 0.423 for
independent UMAPs. Copying the first frame instead moved 1.0 % (1.7 %); lambda 0.01 1.3 %; PCA starts 1.7 %.
PCA: each snapshot's PCA chained by Procrustes (0.2 s, 5.6 % per step), for a projection spec of "pca".
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..errors import VAEError
from ..models import snapshots as snapshot_files
from ..models.snapshots import Snapshot
from .align import aligned_umap_stacked, pca_procrustes
from .cache import Cache
from .projection import ProjectionSpec, read_map

MOVIE_EPOCHS = 100     # the measured setting: 10 x 2k in 7.8-8.5 s (PCA starts: e200 1.4 % a step, e100 1.7 %)
MOVIE_LAMBDA = 0.03    # 0.9 % per step; 0.01 gave 1.3 %, 0.003 2.0 %
MOVIE_METHODS = ("umap", "pca")


@dataclass(frozen=True)
class Movie:
    """The movie of one model folder; frame t is snapshot t (epoch epochs[t]); point i is test row rows[i]."""
    snapshots: list[Snapshot]
    maps: np.ndarray            # (M, N, 2) float32 under one centring and scaling (the axes hold still)
    unreadable: int             # snapshot files skipped (unreadable, or of another series)

    @property
    def epochs(self) -> np.ndarray:
        return np.array([s.epoch for s in self.snapshots], dtype=np.int64)

    @property
    def rows(self) -> np.ndarray:
        return self.snapshots[0].rows if self.snapshots else np.zeros(0, np.int64)

    @property
    def kl_heatmap(self) -> np.ndarray:
        """(M, D) KL per latent dimension (nats, mean over that epoch's test images) x epoch: the heatmap."""
        if not self.snapshots:
            return np.zeros((0, 0), np.float32)
        return np.stack([s.kl_per_dim for s in self.snapshots]).astype(np.float32)

    def numbers(self, name: str) -> np.ndarray:
        """(M,) one of the ELBO split per epoch: "elbo", "recon" or "kl" (nats per test image)."""
        return np.array([getattr(s, name) for s in self.snapshots], dtype=np.float64)


def series_hash(snapshots: list[Snapshot]) -> str:
    """12 hex digits over the epochs, rows and means of a series: a new or rewritten snapshot never reuses a map."""
    digest = hashlib.sha256()
    for s in snapshots:
        digest.update(np.int64(s.epoch).tobytes())
        digest.update(np.ascontiguousarray(s.rows, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(s.mu, dtype=np.float32).tobytes())
    return digest.hexdigest()[:12]


def movie_file_name(snapshots: list[Snapshot], spec: ProjectionSpec) -> str:
    tail = f"-e{MOVIE_EPOCHS}-l{MOVIE_LAMBDA:g}" if spec.method == "umap" else ""
    return f"movie-{spec.key()}{tail}-{series_hash(snapshots)}.npy"


def align_frames(frames, spec: ProjectionSpec, progress=None) -> np.ndarray:
    """(M, N, 2) aligned maps of M latent frames over the same rows (the module docstring says which and why)."""
    if spec.method == "pca":
        return np.stack(pca_procrustes(frames))
    return np.stack(aligned_umap_stacked(frames, init="copy", reference=-1, n_epochs=MOVIE_EPOCHS,
                                         lambda_=MOVIE_LAMBDA, seed=0 if spec.seed is None else spec.seed,
                                         n_neighbors=spec.n_neighbors, min_dist=spec.min_dist, progress=progress))


def _checked(spec: ProjectionSpec) -> None:
    if spec.method not in MOVIE_METHODS or spec.dims != 2:
        raise VAEError(f"the movie's maps are 2-D UMAP or PCA, not {spec.dims}-D {spec.method}")


def _read_maps(shots: list[Snapshot]):
    return read_map((len(shots), len(shots[0].rows), 2))


def movie(loaded, spec: ProjectionSpec = ProjectionSpec(), progress=None,
          series: snapshot_files.SnapshotSeries | None = None) -> Movie:
    """The movie of a loaded model's folder (LoadedModel), its maps cached in the model's cache (a shipped model's
    own first, as every map). No snapshots: a Movie with none (and the count of unreadable files).
    `progress(fraction, message)`: the alignment's own (every ~2 % of its epochs). `series`: the folder's snapshots
    when the caller has read them already."""
    _checked(spec)
    series = series or snapshot_files.read_snapshots(loaded.path)
    shots = series.snapshots
    if not shots:
        return Movie([], np.zeros((0, 0, 2), np.float32), series.unreadable)
    maps = Cache.of(loaded).get(movie_file_name(shots, spec), _read_maps(shots),
                                lambda: align_frames([s.mu for s in shots], spec, progress).astype(np.float32),
                                lambda value: lambda handle: np.save(handle, value, allow_pickle=False))
    if progress is not None:
        progress(1.0, f"The movie's {len(shots)} maps are aligned.")
    return Movie(shots, maps, series.unreadable)


def cached_movie(loaded, spec: ProjectionSpec, series: snapshot_files.SnapshotSeries | None = None) -> Movie | None:
    """The movie when its maps need no alignment (a valid cache file: a shipped model's, or one made before), else
    None: milliseconds, for a page deciding whether to start a background job."""
    _checked(spec)
    series = series or snapshot_files.read_snapshots(loaded.path)
    shots = series.snapshots
    if not shots:
        return Movie([], np.zeros((0, 0, 2), np.float32), series.unreadable)
    maps = Cache.of(loaded).load(movie_file_name(shots, spec), _read_maps(shots))
    return None if maps is None else Movie(shots, maps, series.unreadable)
