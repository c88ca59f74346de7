"""The arithmetic of moving through latent space: paths, attribute vectors, traversals, samples.

Everything takes and returns numpy float32 arrays of latents (D,) or (N, D); a decoder turns them into
images elsewhere. Nothing here knows the model.
"""
from __future__ import annotations

import warnings

import numpy as np

from .errors import VAEError

PARALLEL_COS = 1.0 - 1e-7  # |cos| above this: the great circle is undefined, so slerp falls back to lerp


def _vector(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or len(x) == 0 or not np.isfinite(x).all():
        raise VAEError(f"{name} must be one finite latent vector (D,), got shape {x.shape}")
    return x


def _endpoints(a, b, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = _vector(a, "a"), _vector(b, "b")
    if a.shape != b.shape:
        raise VAEError(f"the two endpoints have different sizes ({len(a)} and {len(b)})")
    if steps < 2:
        raise VAEError(f"a path needs at least 2 steps, not {steps}")
    return a, b, np.linspace(0.0, 1.0, steps)


def _with_exact_ends(path: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    path[0], path[-1] = a, b  # rounding must never move the endpoints the user picked
    return path.astype(np.float32)


def lerp(a, b, steps: int) -> np.ndarray:
    """Straight line from a to b: (steps, D)."""
    a, b, t = _endpoints(a, b, steps)
    return _with_exact_ends(a + t[:, None] * (b - a), a, b)


def slerp(a, b, steps: int) -> np.ndarray:
    """Great-circle path between the directions, with the norm moving linearly from |a| to |b|: (steps, D).

    Why: under a N(0, I) prior most mass sits on a shell, and a straight line cuts through the low-norm
    middle where decoded images go grey. Falls back to lerp for zero or (anti)parallel endpoints.
    """
    a, b, t = _endpoints(a, b, steps)
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if norm_a == 0 or norm_b == 0:
        return lerp(a, b, steps)
    unit_a, unit_b = a / norm_a, b / norm_b
    cos = float(np.clip(unit_a @ unit_b, -1.0, 1.0))
    if abs(cos) > PARALLEL_COS:
        return lerp(a, b, steps)
    angle = np.arccos(cos)
    directions = (np.sin((1 - t) * angle)[:, None] * unit_a + np.sin(t * angle)[:, None] * unit_b) / np.sin(angle)
    norms = (1 - t) * norm_a + t * norm_b
    return _with_exact_ends(directions * norms[:, None], a, b)


def class_means(latents, labels, n_classes: int, return_counts: bool = False):
    """Mean latent per class: (C, D). An empty class gets a zero row (never NaN); pass return_counts=True
    to get the per-class counts too, so a UI can grey out classes with count 0."""
    latents = np.asarray(latents, dtype=np.float64)
    labels = np.asarray(labels)
    if latents.ndim != 2 or labels.shape != (len(latents),):
        raise VAEError(f"need latents (N, D) and labels (N,), got {latents.shape} and {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise VAEError(f"labels must lie in 0..{n_classes - 1}, found {labels.min()}..{labels.max()}")
    counts = np.bincount(labels.astype(np.int64), minlength=n_classes)
    sums = np.zeros((n_classes, latents.shape[1]))
    np.add.at(sums, labels.astype(np.int64), latents)
    means = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
    return (means, counts) if return_counts else means


def attribute_vector(from_mean, to_mean) -> np.ndarray:
    """The direction that turns one group into another (e.g. "shirt" -> "coat"): to − from."""
    return (np.asarray(to_mean, dtype=np.float64) - np.asarray(from_mean, dtype=np.float64)).astype(np.float32)


def apply_vector(z, vector, strength: float) -> np.ndarray:
    """z + strength · vector; z may be (D,) or a batch (N, D)."""
    return (np.asarray(z, dtype=np.float64) + strength * np.asarray(vector, dtype=np.float64)).astype(np.float32)


def analogy(a, b, c) -> np.ndarray:
    """"a is to b as ? is to c" in the word2vec sense: a − b + c."""
    a, b, c = (np.asarray(x, dtype=np.float64) for x in (a, b, c))
    return (a - b + c).astype(np.float32)


def _selected_mean(latents: np.ndarray, idx, name: str) -> np.ndarray:
    idx = np.asarray(idx, dtype=np.int64).ravel()
    if len(idx) == 0:
        raise VAEError(f"the {name} selection is empty; lasso some points first")
    if idx.min() < 0 or idx.max() >= len(latents):
        raise VAEError(f"the {name} selection has row ids outside 0..{len(latents) - 1}")
    return latents[idx].mean(axis=0)


def selection_vector(latents, first_idx, second_idx) -> np.ndarray:
    """mean(second selection) − mean(first selection): an attribute vector from two lassoed groups."""
    latents = np.asarray(latents, dtype=np.float64)
    first = _selected_mean(latents, first_idx, "first")
    second = _selected_mean(latents, second_idx, "second")
    return (second - first).astype(np.float32)


def kl_order(kl_per_dim) -> np.ndarray:
    """Latent dims sorted by mean KL, most informative first; accepts (D,) or per-image (N, D)."""
    kl = np.asarray(kl_per_dim, dtype=np.float64)
    mean_kl = kl.mean(axis=0) if kl.ndim == 2 else kl
    return np.argsort(-mean_kl, kind="stable")


def active_dims(latents, threshold: float = 0.01) -> np.ndarray:
    """Burda's active units: dim d is active when Var over the data of E[z_d | x] > threshold. (D,) bool."""
    return np.asarray(latents, dtype=np.float64).var(axis=0) > threshold


def traversal(z, dims, spread, steps: int = 9, n_sigma: float = 3.0) -> np.ndarray:
    """For each dim in `dims`, `steps` copies of z with only that dim swept over z_d ± n_sigma·spread[d].

    Returns (len(dims), steps, D); row i shows what dims[i] does, everything else held fixed.
    """
    z = _vector(z, "z")
    spread = np.asarray(spread, dtype=np.float64)
    dims = np.asarray(dims, dtype=np.int64).ravel()
    if spread.shape != z.shape:
        raise VAEError(f"spread must have one value per latent dim ({len(z)}), got shape {spread.shape}")
    if len(dims) and (dims.min() < 0 or dims.max() >= len(z)):
        raise VAEError(f"traversal dims must lie in 0..{len(z) - 1}")
    if steps < 2:
        raise VAEError(f"a traversal needs at least 2 steps, not {steps}")
    offsets = np.linspace(-n_sigma, n_sigma, steps)
    grid = np.repeat(np.repeat(z[None, None, :], len(dims), axis=0), steps, axis=1)
    for row, d in enumerate(dims):
        grid[row, :, d] = z[d] + offsets * spread[d]
    return grid.astype(np.float32)


def prior_samples(n: int, dim: int, seed: int | None) -> np.ndarray:
    """n draws from the prior N(0, I): (n, dim) float32."""
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


class AggregatePosterior:
    """A Gaussian mixture fitted to the encoder means: samples that look like the data, unlike the prior.

    Why: a VAE's aggregate posterior rarely fills N(0, I); prior samples land in holes between clusters and
    decode to blends. Sampling from a mixture fitted on where the data really is avoids most of those.
    """
    MAX_FIT_POINTS = 10_000  # EM cost grows with N; 10k points pin down 10–20 components just as well

    def __init__(self, latents, n_components: int = 10, seed: int = 0, covariance: str = "full"):
        # Imported here: sklearn costs seconds to import, and only this sampler needs it.
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture
        from threadpoolctl import threadpool_limits

        latents = np.asarray(latents, dtype=np.float64)
        if latents.ndim != 2 or len(latents) < 2 or not np.isfinite(latents).all():
            raise VAEError(f"need at least 2 finite latents (N, D) to fit, got shape {latents.shape}")
        if covariance not in ("full", "diag"):
            raise VAEError(f"covariance must be 'full' or 'diag', not {covariance!r}")
        rng = np.random.default_rng(seed)
        if len(latents) > self.MAX_FIT_POINTS:
            latents = latents[rng.choice(len(latents), self.MAX_FIT_POINTS, replace=False)]
        mixture = GaussianMixture(n_components=min(n_components, len(latents)), covariance_type=covariance,
                                  reg_covar=1e-5, max_iter=100, random_state=seed)
        # One BLAS thread: EM multiplies many tiny D×D matrices, where threads only add overhead; on a
        # busy 2-core machine multi-threaded EM measured ~30x slower.
        with threadpool_limits(limits=1), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ConvergenceWarning)  # an unconverged mixture still samples well
            mixture.fit(latents)
        self.weights = mixture.weights_ / mixture.weights_.sum()
        self.means = mixture.means_
        covariances = mixture.covariances_ if covariance == "full" \
            else np.stack([np.diag(c) for c in mixture.covariances_])
        self.cholesky = np.linalg.cholesky(covariances)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, seed: int | None) -> np.ndarray:
        """n samples (n, D) float32; the same seed gives the same samples (sklearn's sample() can't be seeded)."""
        rng = np.random.default_rng(seed)
        component = rng.choice(len(self.weights), size=n, p=self.weights)
        noise = rng.standard_normal((n, self.dim))
        samples = self.means[component] + np.einsum("nij,nj->ni", self.cholesky[component], noise)
        return samples.astype(np.float32)


def pixel_steps(images) -> np.ndarray:
    """Mean absolute pixel change between neighbouring frames of a path (n−1,), in pixel units (0–255).

    Why: a smooth path has even steps; one big jump shows where an interpolation crosses a gap in the data.
    """
    images = np.asarray(images, dtype=np.float64)
    if len(images) < 2:
        return np.zeros(0, dtype=np.float32)
    steps = np.abs(np.diff(images, axis=0)).reshape(len(images) - 1, -1).mean(axis=1)
    return steps.astype(np.float32)
