"""Aligned maps of several latent sets over the same images: the Compare page's two models, the training movie's
snapshots (issue 21). The same region of every map then holds the same images.

A "frame" is an (N, D_t) array of encoder means whose row i is the same image in every frame (D_t may differ: a 16-D
and an 8-D model). Every alignment returns (N, 2) float32 maps under ONE centring and scaling (`tidy_joint`: the
farthest point of any frame at ±10), so the frames share their axes.

Measured on the 2 shared cores here (load 2-6; timings vary up to ~1.7x between repeats), umap-learn 0.5.12, seed 0
(single-threaded, as the app runs UMAP); stability = mean move of a point between consecutive frames as a share of the
map width (`displacement_share`), quality = share of each point's 10 latent neighbours among its 10 map neighbours.
From the alignment research of issue 21 (bench/compare.py measures the app's cases again: README "Compare and the
training movie"):

    2 x 10k (z16 vs z8)                      seconds    stability   quality A / B
    independent UMAPs (no alignment)         30-39      69 %        0.271 / 0.311
    umap.AlignedUMAP                         119        3.4 %       0.258 / 0.302
    aligned_umap_stacked, A's map cached     13-15      2.2 %       0.261 / 0.304
      ... A frozen, lambda 0.03              7-11       2.8 %       A unchanged / 0.289
    pca_procrustes                           0.02       7.6 %       0.035 / 0.042 (linear: clusters overlap)
    10 x 2,000 movie
    independent UMAPs                        18-34      21 % (worst step 51 %)   0.423
    umap.AlignedUMAP                         138-174    1.6 %                    0.405
    aligned_umap_stacked, copy of the last   7.8-8.5    0.9 % (worst 1.6 %)      0.398
    2 x 70k, A frozen (cached map), e100, lambda 0.03: 35-46 s, 3.3 %, B 0.130 (independent UMAP 0.150)
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import orthogonal_procrustes
from scipy.spatial import cKDTree

from .. import paths
from ..errors import VAEError
from .projection import MAP_HALF_WIDTH, _expected_umap_seconds, _report, _with_ticks, project_pca

# Below this many rows umap.UMAP computes all pairwise distances through sklearn with a Python callable (2-3.5 s of a
# 2k fit); an exact kd-tree kNN takes 0.1 s there. Above it UMAP's nndescent wins over the 16-D kd-tree (10k: 0.2 s
# against 0.4-0.6 s; 70k: 2.3-6.4 s against 9-10 s).
EXACT_KNN_BELOW = 4096
UMAP_INTERNALS = "find_ab_params, make_epochs_per_sample, UMAP(transform_mode='graph', precomputed_knn=...).graph_"


# --- geometry --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Similarity:
    """aligned = scale * (source - source_mean) @ rotation + target_mean."""
    rotation: np.ndarray
    scale: float
    source_mean: np.ndarray
    target_mean: np.ndarray

    def apply(self, points) -> np.ndarray:
        return self.scale * (np.asarray(points, dtype=np.float64) - self.source_mean) @ self.rotation \
            + self.target_mean


def procrustes(source, target, scale: bool = True, reflection: bool = True, rows=None) -> tuple[np.ndarray,
                                                                                                  Similarity]:
    """The similarity transform (rotation, with reflection unless reflection=False; uniform scale; translation) taking
    `source` (N, d) onto `target` (N, d) in the least-squares sense, fitted on `rows` (all when None).
    Returns (the aligned source, the transform).

    A mirrored map is as good a map, so reflection is allowed by default: independent UMAPs come out mirrored about
    half the time. The scale is scipy's sum of singular values over |S|^2. ~1 ms for 10k x 2, ~5 ms for 70k x 2."""
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    s_fit, t_fit = (source, target) if rows is None else (source[rows], target[rows])
    mu_s, mu_t = s_fit.mean(axis=0), t_fit.mean(axis=0)
    centred_s, centred_t = s_fit - mu_s, t_fit - mu_t
    rotation, singular_sum = orthogonal_procrustes(centred_s, centred_t)
    if not reflection and np.linalg.det(rotation) < 0:
        u, singular, vt = np.linalg.svd(centred_s.T @ centred_t)
        flip = np.ones(len(singular))
        flip[-1] = -1.0
        rotation, singular_sum = (u * flip) @ vt, float((singular * flip).sum())
    norm = float((centred_s ** 2).sum())
    factor = singular_sum / norm if (scale and norm > 0) else 1.0
    transform = Similarity(rotation, float(factor), mu_s, mu_t)
    return transform.apply(source), transform


def tidy_joint(frames) -> list[np.ndarray]:
    """Several maps under ONE centring and scaling (the mean over all frames; the farthest point of any frame at ±10,
    as projection.tidy_coordinates does for one map), so aligned frames keep their alignment and share the axes."""
    frames = [np.asarray(f, dtype=np.float64) for f in frames]
    centre = np.concatenate(frames).mean(axis=0)
    extent = max(float(np.abs(f - centre).max()) for f in frames)
    factor = MAP_HALF_WIDTH / extent if extent > 0 else 1.0
    return [((f - centre) * factor).astype(np.float32) for f in frames]


def chain_procrustes(frames, anchor=None) -> list[np.ndarray]:
    """Each frame Procrustes-aligned onto the previous aligned one (the first onto `anchor` when given, else kept)."""
    out, previous = [], anchor
    for frame in frames:
        previous = np.asarray(frame, dtype=np.float64) if previous is None else procrustes(frame, previous)[0]
        out.append(previous)
    return out


def pca_procrustes(frames, anchor=None) -> list[np.ndarray]:
    """The PCA of each frame, each aligned onto the previous one (the first onto `anchor`, e.g. A's own PCA map), under
    one tidy transform. Instant (0.02 s for 2 x 10k, 0.3 s for 2 x 70k) but linear: clusters overlap (quality 0.035 /
    0.042 at 10k against UMAP's 0.27 / 0.31); stability 7.6 % (2 x 10k), 5.6 % (movie)."""
    return tidy_joint(chain_procrustes([project_pca(np.asarray(f, dtype=np.float32), 2) for f in frames], anchor))


def displacement_share(frames) -> np.ndarray:
    """Stability: for each consecutive pair of frames, the mean |x_i(t+1) - x_i(t)| over the map width (the larger
    axis range, averaged over the two frames). One value per pair; what the numbers in this module's docstrings call
    stability."""
    out = []
    for a, b in zip(frames[:-1], frames[1:]):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        width = 0.5 * (np.ptp(a, axis=0).max() + np.ptp(b, axis=0).max())
        out.append(float(np.linalg.norm(b - a, axis=1).mean() / width) if width > 0 else 0.0)
    return np.asarray(out)


# --- nearest neighbours ----------------------------------------------------------------------------------------------
def knn_indices(x, k: int = 10, eps: float = 0.0, rows=None) -> np.ndarray:
    """(len(rows), k) ids of each row's k nearest other rows (exact for eps=0; a kd-tree), self removed even among
    exact duplicates (a twin may take self's slot: then the farthest of the k+1 goes). `rows`: only those rows are
    asked (their neighbours are still searched among all). 10k x 16: 0.24 s; 70k x 16: 5.0 s."""
    x = np.asarray(x, dtype=np.float64)
    if not 1 <= k < len(x):
        raise VAEError(f"k must be from 1 to {len(x) - 1} (one less than the {len(x):,} points), not {k}")
    rows = np.arange(len(x)) if rows is None else np.asarray(rows)
    _, idx = cKDTree(x).query(x[rows], k=k + 1, eps=eps, workers=-1)
    own = idx == rows[:, None]
    drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
    keep = np.ones_like(idx, dtype=bool)
    keep[np.arange(len(rows)), drop] = False
    return idx[keep].reshape(len(rows), k)


def exact_knn(latents, n_neighbors: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """UMAP's kNN table computed exactly: (ids int32, distances float32), (N, n_neighbors), self in column 0, the
    others by distance. For `UMAP(precomputed_knn=(ids, distances, None))` below EXACT_KNN_BELOW rows."""
    x = np.asarray(latents, dtype=np.float64)
    idx = np.concatenate([np.arange(len(x))[:, None], knn_indices(x, n_neighbors - 1)], axis=1)
    dist = np.linalg.norm(x[idx] - x[:, None, :], axis=2)
    order = np.argsort(dist[:, 1:], axis=1, kind="stable") + 1
    idx[:, 1:] = np.take_along_axis(idx, order, axis=1)
    dist[:, 1:] = np.take_along_axis(dist, order, axis=1)
    return idx.astype(np.int32), dist.astype(np.float32)


# --- UMAP ------------------------------------------------------------------------------------------------------------
def _umap():
    paths.setup_numba_cache()  # before the import: numba reads NUMBA_CACHE_DIR once
    import umap

    return umap


def umap_internals():
    """(find_ab_params, make_epochs_per_sample) from umap-learn, or a VAEError saying what is missing: the stacked
    layout relies on them and on UMAP(transform_mode="graph"), which requirements.txt pins (umap-learn 0.5.12)."""
    umap = _umap()
    try:
        from umap.umap_ import find_ab_params, make_epochs_per_sample
    except ImportError as err:
        raise VAEError(f"umap-learn {getattr(umap, '__version__', '?')} lacks what the aligned maps use "
                       f"({UMAP_INTERNALS}): {err}. Install the version requirements.txt pins (0.5.12)") from None
    return find_ab_params, make_epochs_per_sample


def umap_fit(latents, init="spectral", n_epochs: int | None = None, seed: int | None = 0, n_neighbors: int = 15,
             min_dist: float = 0.1, learning_rate: float = 1.0, graph_only: bool = False, knn: str = "auto"):
    """One plain UMAP with the app's parameters -> (N, 2) float64 layout; graph_only=True returns the fitted reducer
    without a layout (its fuzzy graph in `.graph_`; transform_mode="graph"). `init` may be an (N, 2) array (UMAP
    0.5.12 rescales each of its axes to [0, 10] and starts there).

    knn: "exact" hands UMAP a kd-tree kNN table (exact_knn), "umap" lets it search, "auto" is exact below
    EXACT_KNN_BELOW rows. A seeded 2k x 16 fit: 5.0-6.0 s with "umap", 2.3-2.8 s exact; 10k x 16: 12-16 s either way
    (the graph 0.2-0.6 s of it); 70k: ~50 s. The first >= 4,096-row fit in a process also pays pynndescent's JIT
    (~20-25 s), which numba's disk cache does not cover."""
    umap = _umap()
    latents = np.asarray(latents, dtype=np.float32)
    n = len(latents)
    if n < 4:
        raise VAEError(f"UMAP needs at least 4 points, got {n}")
    n_neighbors = min(n_neighbors, n - 1)
    exact = knn == "exact" or (knn == "auto" and n < EXACT_KNN_BELOW)
    precomputed = (*exact_knn(latents, n_neighbors), None) if exact else (None, None, None)
    reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, init=init, n_epochs=n_epochs,
                        learning_rate=learning_rate, random_state=seed, precomputed_knn=precomputed,
                        n_jobs=1 if seed is not None else -1,
                        transform_mode="graph" if graph_only else "embedding")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs.*")
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning)
        reducer.fit(latents)
    return reducer if graph_only else np.asarray(reducer.embedding_, dtype=np.float64)


# --- the stacked aligned layout --------------------------------------------------------------------------------------
def _jaccard_rows(graph_a, graph_b) -> np.ndarray:
    """Per row, the Jaccard overlap of two sparse graphs' neighbour sets (identity relations), with sparse products:
    what umap.aligned_umap.build_neighborhood_similarities computes with an O(N^2) Python-set loop per frame pair."""
    a, b = graph_a.copy(), graph_b.copy()
    a.data[:], b.data[:] = 1.0, 1.0
    inter = np.asarray(a.multiply(b).sum(axis=1)).ravel()
    union = np.diff(a.indptr) + np.diff(b.indptr) - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0).astype(np.float32)


def _graphs(frames, seed, n_neighbors, min_dist, knn, progress, span) -> list:
    """Each frame's fuzzy graph (no layout): the bar moves on each graph's expected time (nndescent reports nothing)."""
    lo, hi = span
    graphs = []
    for i, frame in enumerate(frames):
        start, end = lo + (hi - lo) * i / len(frames), lo + (hi - lo) * (i + 1) / len(frames)
        fit = lambda f=frame: umap_fit(f, seed=seed, n_neighbors=n_neighbors, min_dist=min_dist,  # noqa: E731
                                       graph_only=True, knn=knn).graph_
        graphs.append(_with_ticks(fit, progress, start, end, 1.0 + len(frame) / 10_000,
                                  f"Neighbour graph of map {i + 1} of {len(frames)}…"))
    return graphs


def _starts(frames, init, reference, reference_map, seed, n_neighbors, min_dist, knn, progress, span) -> np.ndarray:
    """The starting layouts (M, N, 2) float32, scaled so the reference frame's farthest point sits at 10."""
    if isinstance(init, (list, tuple)):
        starts = [np.asarray(s, dtype=np.float64) for s in init]
    elif init == "pca":
        starts = chain_procrustes([project_pca(np.asarray(f, dtype=np.float32), 2) for f in frames])
    elif init == "copy":
        if reference_map is not None:
            ref = np.asarray(reference_map, dtype=np.float64)
        else:
            n = len(frames[reference])
            ref = _with_ticks(lambda: umap_fit(frames[reference], seed=seed, n_neighbors=n_neighbors,
                                               min_dist=min_dist, knn=knn),
                              progress, span[0], span[1], _expected_umap_seconds(n),
                              f"Fitting the reference map ({n:,} points)…")
        starts = [ref] * len(frames)
    else:
        raise VAEError(f"init must be 'copy', 'pca' or a list of (N, 2) arrays, not {init!r}")
    if len(starts) != len(frames) or any(s.shape != (len(frames[0]), 2) for s in starts):
        raise VAEError(f"the starting layouts must be {len(frames)} arrays of shape ({len(frames[0])}, 2)")
    centre = starts[reference].mean(axis=0)
    extent = float(np.abs(starts[reference] - centre).max()) or 1.0
    return np.ascontiguousarray(np.stack([(s - centre) * (10.0 / extent) for s in starts]), dtype=np.float32)


def _pull_weights(graphs, window: int, lambda_: float):
    """AlignedUMAP's pull: offsets -w..w (not 0), strength lambda * e^-(|offset|-1) * the Jaccard overlap of the
    point's neighbourhoods in the two frames. Returns (weights (M, Q, N), coefs (Q,), offsets (Q,))."""
    offsets = np.array([o for o in range(-window, window + 1) if o != 0], dtype=np.int64)
    coefs = (lambda_ * np.exp(-(np.abs(offsets) - 1.0))).astype(np.float32)
    m, n = len(graphs), graphs[0].shape[0]
    weights = np.zeros((m, len(offsets), n), dtype=np.float32)
    for i in range(m):
        for q, offset in enumerate(offsets):
            if 0 <= i + offset < m:
                weights[i, q] = _jaccard_rows(graphs[i], graphs[i + offset])
    return weights, coefs, offsets


def _edges(graphs, n_epochs: int, skip: int | None, make_epochs_per_sample):
    """Every frame's edges (frame, head, tail, epochs per sample), those too weak to be sampled in n_epochs pruned
    as plain UMAP prunes them; frame `skip` (a frozen reference) contributes none."""
    parts = []
    for i, graph in enumerate(graphs):
        if i == skip or graph.nnz == 0:
            continue
        graph = graph.tocoo()
        graph.sum_duplicates()
        keep = graph.data >= graph.data.max() / float(n_epochs)
        parts.append((np.full(int(keep.sum()), i), graph.row[keep], graph.col[keep],
                      make_epochs_per_sample(graph.data[keep], n_epochs)))
    if not parts:  # one frozen frame: nothing moves
        return tuple(np.zeros(0, dtype) for dtype in (np.int64, np.int64, np.int64, np.float64))
    frame, head, tail, eps = (np.concatenate([p[c] for p in parts]) for c in range(4))
    return frame.astype(np.int64), head.astype(np.int64), tail.astype(np.int64), eps.astype(np.float64)


def _layout(emb, edges, pull, ab, n_epochs: int, seed: int, progress, span) -> None:
    """n_epochs of the stacked kernel, in place, the bar moved every ~2 % of the epochs (real progress)."""
    from .align_kernel import stacked_epoch  # numba compiles (or loads its cache) here, after setup_numba_cache

    frame, head, tail, eps = edges
    weights, coefs, offsets = pull
    negative_eps = eps / 5.0
    next_sample, next_negative = eps.copy(), negative_eps.copy()
    every = max(1, n_epochs // 50)
    for epoch in range(n_epochs):
        stacked_epoch(emb, frame, head, tail, eps, negative_eps, next_sample, next_negative, float(ab[0]),
                      float(ab[1]), weights, coefs, offsets, 1.0 - epoch / float(n_epochs), epoch,
                      seed * 100_003 + epoch)
        if (epoch + 1) % every == 0 or epoch + 1 == n_epochs:
            _report(progress, span[0] + (span[1] - span[0]) * (epoch + 1) / n_epochs,
                    f"Aligning the maps: epoch {epoch + 1} of {n_epochs}")


def aligned_umap_stacked(frames, n_epochs: int = 200, init="copy", reference: int = 0, reference_map=None,
                         freeze_reference: bool = False, lambda_: float = 0.01, window: int = 3, seed: int = 0,
                         n_neighbors: int = 15, min_dist: float = 0.1, knn: str = "auto", progress=None,
                         timings: dict | None = None) -> list[np.ndarray]:
    """AlignedUMAP's objective for frames over the same rows, in one pass of a small numba kernel (align_kernel.py):
    each frame's fuzzy graph (no throw-away layout), then all frames laid out together by UMAP's SGD, every move also
    pulling the point towards its own place in the frames up to `window` away (strength lambda_ * e^-(|offset|-1) *
    the Jaccard overlap of its two neighbourhoods).

    init: "copy" starts every frame from frames[reference]'s layout (`reference_map`, e.g. the Map page's cached map
    of A, or a plain UMAP fitted here); "pca": each frame's PCA chained by Procrustes; or a list of (N, 2) arrays.
    reference=-1 is the last frame. freeze_reference=True keeps frames[reference] where it starts (A stays the Map
    page's map; B is laid out against it) and skips its edges: half the work for two frames.
    `progress(fraction, message)`: the graphs (moved on their expected time), then every ~2 % of the epochs.
    `timings` (a dict) receives each phase's seconds. Seeded runs are bit-for-bit reproducible (a serial kernel).

    Measured (seconds vary ~1.7x with the load): 2 x 10k copy, e200, lambda 0.01, A's map cached: 13-15 s, 2.2 %,
    0.261 / 0.304; A computed here: 23-36 s. 2 x 10k A frozen, e200, lambda 0.03: 7-11 s, 2.8 %, B 0.289.
    Movie 10 x 2k copy of the last frame, e100, lambda 0.03: 7.8-8.5 s, 0.9 % (worst step 1.6 %), 0.398.
    2 x 70k A's map cached: copy e100 67-72 s, 2.2 %; A frozen e100 lambda 0.03: 35-46 s, 3.3 %, B 0.130."""
    frames = [np.asarray(f, dtype=np.float32) for f in frames]
    if not frames or any(f.ndim != 2 or len(f) != len(frames[0]) for f in frames) or len(frames[0]) < 4:
        raise VAEError("frames must be (N, D) arrays over the same N >= 4 images")
    if any(not np.isfinite(f).all() for f in frames):
        raise VAEError("frames contain NaN or infinite values; a model may have diverged")
    if n_epochs < 1 or window < 0 or lambda_ < 0:
        raise VAEError(f"n_epochs must be >= 1, window and lambda_ >= 0 (got {n_epochs}, {window}, {lambda_})")
    find_ab_params, make_epochs_per_sample = umap_internals()
    reference = reference % len(frames)
    fit_reference = init == "copy" and reference_map is None
    t, clock = {} if timings is None else timings, time.perf_counter()
    graphs = _graphs(frames, seed, n_neighbors, min_dist, knn, progress, (0.0, 0.25))
    t["graphs"], clock = time.perf_counter() - clock, time.perf_counter()
    emb = _starts(frames, init, reference, reference_map, seed, n_neighbors, min_dist, knn, progress, (0.25, 0.45))
    t["init"], clock = time.perf_counter() - clock, time.perf_counter()
    pull = _pull_weights(graphs, window, lambda_)
    edges = _edges(graphs, n_epochs, reference if freeze_reference else None, make_epochs_per_sample)
    t["weights"], clock = time.perf_counter() - clock, time.perf_counter()
    _layout(emb, edges, pull, find_ab_params(1.0, min_dist), n_epochs, 0 if seed is None else seed, progress,
            (0.45 if fit_reference else 0.3, 1.0))
    t["layout"] = time.perf_counter() - clock
    return tidy_joint(list(emb))
