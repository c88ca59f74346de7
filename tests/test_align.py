"""map/align.py: the geometry (Procrustes, one tidy transform), the exact kNN tables, the umap-learn internals the
stacked layout relies on, and the stacked layout itself on small sets (numbers, not "it ran")."""
import numpy as np
import pytest

from vae_core.errors import VAEError
from vae_core.map import align

RNG = np.random.default_rng(1)


def rotation(angle: float, mirror: bool = False) -> np.ndarray:
    r = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return r @ np.diag([1.0, -1.0]) if mirror else r


@pytest.mark.parametrize("angle, scale, shift, mirror", [(0.7, 2.5, [4.0, -3.0], False),
                                                         (2.9, 0.3, [-100.0, 7.0], True),
                                                         (0.0, 1.0, [0.0, 0.0], False)])
def test_procrustes_lands_a_moved_copy_back_on_the_original(angle, scale, shift, mirror):
    x = RNG.normal(size=(1000, 2)) * [3.0, 1.0]
    moved = scale * x @ rotation(angle, mirror) + shift
    back, transform = align.procrustes(moved, x)
    assert np.abs(back - x).max() < 1e-9
    assert transform.scale == pytest.approx(1.0 / scale, abs=1e-9)
    np.testing.assert_allclose(transform.apply(moved), back)
    if mirror:  # without reflection a mirrored copy cannot land
        rigid, _ = align.procrustes(moved, x, reflection=False)
        assert np.abs(rigid - x).max() > 0.5


def test_procrustes_on_anchor_rows_and_with_noise():
    x = RNG.normal(size=(1000, 2))
    noisy = 2.0 * x @ rotation(1.1) + [1.0, 1.0] + 0.01 * RNG.normal(size=x.shape)
    back, _ = align.procrustes(noisy, x)
    assert np.linalg.norm(back - x, axis=1).mean() < 0.02
    anchored, _ = align.procrustes(noisy, x, rows=np.arange(0, 1000, 3))
    assert np.abs(anchored - back).max() < 0.01
    rigid, transform = align.procrustes(2.0 * x, x, scale=False)
    assert transform.scale == 1.0 and np.allclose(np.ptp(rigid, 0), np.ptp(2 * x, 0))


def test_tidy_joint_shares_one_transform():
    x = RNG.normal(size=(500, 2))
    a, b = align.tidy_joint([x, 3.0 * x])
    assert np.abs(np.concatenate([a, b])).max() == pytest.approx(10.0, abs=1e-5)
    np.testing.assert_allclose(b - b.mean(0), 3.0 * (a - a.mean(0)), rtol=1e-4, atol=1e-4)  # one scale for both
    assert align.displacement_share(align.tidy_joint([x, x]))[0] == 0.0


def test_a_rotated_copy_of_a_latent_set_gets_the_same_pca_map():
    latents = RNG.normal(size=(400, 6)) * np.array([5, 3, 2, 1, 0.5, 0.2])
    q, _ = np.linalg.qr(RNG.normal(size=(6, 6)))  # a rotation (or mirror) of the latent space
    a, b = align.pca_procrustes([latents, latents @ q * 2.0 + 7.0])
    assert np.abs(a - b).max() < 1e-4


def test_knn_indices_leave_self_out_even_among_duplicates():
    x = RNG.normal(size=(50, 4))
    twins = np.vstack([x, x])
    idx = align.knn_indices(twins, 10)
    assert (idx != np.arange(100)[:, None]).all() and all(len(set(row)) == 10 for row in idx)
    assert (idx[:50] == np.arange(50, 100)[:, None]).any(axis=1).all()  # each row's twin is a neighbour
    with pytest.raises(VAEError, match="k must be"):
        align.knn_indices(x, 50)


def test_exact_knn_is_umaps_table_layout():
    x = RNG.normal(size=(300, 5))
    ids, dist = align.exact_knn(x, 15)
    assert ids.shape == dist.shape == (300, 15) and ids.dtype == np.int32 and dist.dtype == np.float32
    assert (ids[:, 0] == np.arange(300)).all() and (dist[:, 0] == 0).all()
    assert (np.diff(dist, axis=1) >= 0).all()
    brute = np.sort(np.linalg.norm(x[:, None] - x[None], axis=2), axis=1)[:, :15]
    np.testing.assert_allclose(dist, brute, rtol=1e-5, atol=1e-6)


def test_the_umap_internals_the_stacked_layout_relies_on():
    """Pinned by requirements.txt (umap-learn 0.5.12). If this fails after an upgrade, aligned_umap_stacked's
    assumptions (align.UMAP_INTERNALS) no longer hold: pin umap-learn back or port the kernel's inputs."""
    import umap

    find_ab_params, make_epochs_per_sample = align.umap_internals()
    a, b = find_ab_params(1.0, 0.1)
    assert (a, b) == pytest.approx((1.577, 0.895), abs=0.01), f"umap {umap.__version__}: find_ab_params changed"
    eps = make_epochs_per_sample(np.array([1.0, 0.5, 0.25]), 100)
    np.testing.assert_allclose(eps, [1.0, 2.0, 4.0], err_msg=f"umap {umap.__version__}: make_epochs_per_sample")
    x = RNG.normal(size=(200, 4)).astype(np.float32)
    reducer = align.umap_fit(x, graph_only=True, knn="exact")
    graph = reducer.graph_
    assert graph.shape == (200, 200) and graph.nnz > 0, f"umap {umap.__version__}: transform_mode='graph' changed"
    assert abs(graph - graph.T).max() < 1e-6  # the fuzzy union is symmetric
    assert getattr(reducer, "embedding_", np.zeros((0, 2))).size == 0, "graph mode must skip the layout"


def blobs(n_per: int = 60, centres: int = 5, dim: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=6.0, size=(centres, dim))
    return np.concatenate([m + rng.normal(size=(n_per, dim)) for m in means]).astype(np.float32)


def test_stacked_layout_keeps_two_identical_frames_together():
    """Measured: 1.4 % of the map width apart (lambda 0.03, 50 epochs), against 16.6 % for two plain UMAPs of the
    same points with seeds 0 and 1."""
    x = blobs()
    seen = []
    a, b = align.aligned_umap_stacked([x, x], n_epochs=50, lambda_=0.03, progress=lambda f, m: seen.append(f))
    assert a.shape == b.shape == (300, 2) and a.dtype == np.float32
    assert np.abs(np.concatenate([a, b])).max() == pytest.approx(10.0, abs=1e-4)
    aligned = align.displacement_share([a, b])[0]
    independent = align.displacement_share(align.tidy_joint([align.umap_fit(x, seed=0), align.umap_fit(x, seed=1)]))
    assert aligned < 0.03 and aligned * 5 < independent[0], (aligned, independent)
    assert seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    again = align.aligned_umap_stacked([x, x], n_epochs=50, lambda_=0.03)
    assert all(np.array_equal(p, q) for p, q in zip((a, b), again))  # seeded: bit for bit


def test_a_frozen_reference_stays_its_map():
    x = blobs()
    y = x[:, :3] @ RNG.normal(size=(3, 3)) + 0.2 * RNG.normal(size=(300, 3))  # another "model": 3-D
    reference = RNG.normal(size=(300, 2)) * 4.0  # any layout: it must come back as it went in
    a, b = align.aligned_umap_stacked([x, y], n_epochs=30, reference_map=reference, freeze_reference=True,
                                      lambda_=0.03)
    landed, _ = align.procrustes(reference, a)
    assert np.abs(landed - a).max() < 1e-4
    assert np.isfinite(b).all() and np.abs(b).max() <= 10.0 + 1e-4


def test_bad_frames_are_refused():
    with pytest.raises(VAEError, match="same N"):
        align.aligned_umap_stacked([np.zeros((10, 2)), np.zeros((11, 2))])
    with pytest.raises(VAEError, match="NaN"):
        align.aligned_umap_stacked([np.full((10, 2), np.nan)])
