"""The numba kernel of align.aligned_umap_stacked: one epoch of UMAP's SGD over the edges of every frame at once, each
move also pulling the point towards its own place in the neighbouring frames (AlignedUMAP's term).

Compiled on first use and cached on disk (numba cache=True, in NUMBA_CACHE_DIR: `paths.setup_numba_cache()` must run
before this module is imported, which align.py does): 1.0 s to compile cold, ~0 s from the cache. umap's own aligned
optimiser is re-compiled on every AlignedUMAP.fit, with parallel=True but no prange, and walks typed lists; this
one runs over plain stacked (M, N, 2) arrays and is serial on purpose, so a seeded run is bit-for-bit reproducible.
The pull uses symmetric offsets (-w..w without 0); umap's loop uses range(-w, w), which leaves out the frame +w ahead.
"""
from __future__ import annotations

import numba
import numpy as np

CLIP = 4.0  # umap's gradient clip


@numba.njit(fastmath=True, inline="always", cache=True)
def _clip(value):
    return CLIP if value > CLIP else (-CLIP if value < -CLIP else value)


@numba.njit(fastmath=True, cache=True)
def _pull(emb, weights, coefs, offsets, m, j, d):
    """The clipped pulls of point j (frame m, axis d) towards itself in the frames within the window, summed."""
    total = 0.0
    for q in range(offsets.shape[0]):
        other = m + offsets[q]
        if 0 <= other < emb.shape[0]:
            total += _clip(coefs[q] * weights[m, q, j] * (emb[m, j, d] - emb[other, j, d]))
    return total


@numba.njit(fastmath=True, cache=True)
def stacked_epoch(emb, frame, head, tail, epochs_per_sample, epochs_per_negative, next_sample, next_negative,
                  a, b, weights, coefs, offsets, alpha, epoch, seed):
    """One epoch over all edges (edge i: frame[i], head[i] -> tail[i]), in place on emb (M, N, 2) float32.

    The attraction and negative sampling are umap.layouts' (gamma 1, 5 negatives per positive sample, the same
    epochs-per-sample schedule); each move of a point adds -pull towards its own position in the nearby frames."""
    np.random.seed(seed)
    n_points, dim = emb.shape[1], emb.shape[2]
    for i in range(epochs_per_sample.shape[0]):
        if next_sample[i] > epoch:
            continue
        m, j, k = frame[i], head[i], tail[i]
        d2 = 0.0
        for d in range(dim):
            diff = emb[m, j, d] - emb[m, k, d]
            d2 += diff * diff
        grad = -2.0 * a * b * d2 ** (b - 1.0) / (a * d2 ** b + 1.0) if d2 > 0.0 else 0.0
        for d in range(dim):
            g = _clip(grad * (emb[m, j, d] - emb[m, k, d]))
            emb[m, j, d] += _clip(g - _pull(emb, weights, coefs, offsets, m, j, d)) * alpha
            g = _clip(grad * (emb[m, k, d] - emb[m, j, d]))
            emb[m, k, d] += _clip(g - _pull(emb, weights, coefs, offsets, m, k, d)) * alpha
        next_sample[i] += epochs_per_sample[i]
        negatives = int((epoch - next_negative[i]) / epochs_per_negative[i])
        for _ in range(negatives):
            other = np.random.randint(n_points)
            d2 = 0.0
            for d in range(dim):
                diff = emb[m, j, d] - emb[m, other, d]
                d2 += diff * diff
            if d2 > 0.0:
                grad = 2.0 * b / ((0.001 + d2) * (a * d2 ** b + 1.0))
            elif j == other:
                continue
            else:
                grad = 0.0
            for d in range(dim):
                g = _clip(grad * (emb[m, j, d] - emb[m, other, d])) if grad > 0.0 else 0.0
                emb[m, j, d] += _clip(g - _pull(emb, weights, coefs, offsets, m, j, d)) * alpha
        next_negative[i] += negatives * epochs_per_negative[i]
