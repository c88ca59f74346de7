"""latent.py: paths, vector arithmetic, traversals and samplers, checked on numbers worked out by hand."""
import numpy as np
import pytest

from vae_core import latent
from vae_core.errors import VAEError


# --- paths --------------------------------------------------------------------------------------------------

def test_lerp_is_a_straight_line_with_exact_endpoints():
    a = np.array([0.1, -0.7, 3.3], np.float32)
    b = np.array([2.0, 0.3, -1.0], np.float32)
    path = latent.lerp(a, b, 5)
    assert path.shape == (5, 3) and path.dtype == np.float32
    assert path[0].tobytes() == a.tobytes() and path[-1].tobytes() == b.tobytes()
    np.testing.assert_allclose(path[2], (a + b) / 2, atol=1e-6)
    np.testing.assert_allclose(np.diff(path, axis=0), np.tile((b - a) / 4, (4, 1)), atol=1e-6)


def test_slerp_endpoints_exact_and_norm_monotone():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(16).astype(np.float32)
    b = (3.0 * rng.standard_normal(16)).astype(np.float32)
    path = latent.slerp(a, b, 11)
    assert path[0].tobytes() == a.tobytes() and path[-1].tobytes() == b.tobytes()
    norms = np.linalg.norm(path, axis=1)
    lo, hi = sorted([np.linalg.norm(a), np.linalg.norm(b)])
    assert norms.min() >= lo - 1e-5 and norms.max() <= hi + 1e-5
    assert np.all(np.diff(norms) * np.sign(norms[-1] - norms[0]) > 0)     # monotone towards the larger norm
    np.testing.assert_allclose(norms, np.linspace(norms[0], norms[-1], 11), rtol=1e-5)  # linear in t
    # Direction moves along the great circle at constant angular speed.
    unit = path / norms[:, None]
    angles = np.arccos(np.clip((unit[:-1] * unit[1:]).sum(1), -1, 1))
    np.testing.assert_allclose(angles, angles[0], rtol=1e-3)


def test_slerp_of_orthogonal_unit_vectors_hits_the_45_degree_point():
    path = latent.slerp([1.0, 0.0], [0.0, 1.0], 3)
    np.testing.assert_allclose(path[1], [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-6)
    # lerp cuts the corner instead: its midpoint has norm 0.707, slerp's keeps norm 1.
    assert np.linalg.norm(latent.lerp([1.0, 0.0], [0.0, 1.0], 3)[1]) == pytest.approx(np.sqrt(0.5), rel=1e-6)


@pytest.mark.parametrize("b_scale", [2.5, -2.0])
def test_slerp_equals_lerp_for_parallel_and_antiparallel(b_scale):
    a = np.array([1.0, 2.0, -0.5], np.float32)
    np.testing.assert_array_equal(latent.slerp(a, b_scale * a, 7), latent.lerp(a, b_scale * a, 7))


def test_slerp_from_zero_vector_is_lerp():
    b = np.array([1.0, -1.0], np.float32)
    np.testing.assert_array_equal(latent.slerp(np.zeros(2), b, 4), latent.lerp(np.zeros(2), b, 4))


def test_paths_reject_bad_input():
    with pytest.raises(VAEError, match="different sizes"):
        latent.lerp(np.zeros(3), np.zeros(4), 5)
    with pytest.raises(VAEError, match="2 steps"):
        latent.slerp(np.ones(3), np.ones(3), 1)
    with pytest.raises(VAEError):
        latent.lerp([np.nan, 0.0], [0.0, 0.0], 3)


# --- vector arithmetic --------------------------------------------------------------------------------------

def test_class_means_and_empty_class():
    latents = np.array([[1, 2], [3, 4], [10, 10], [0, 0]], np.float32)
    labels = np.array([0, 0, 2, 2])
    means, counts = latent.class_means(latents, labels, 4, return_counts=True)
    np.testing.assert_array_equal(means, [[2, 3], [0, 0], [5, 5], [0, 0]])
    np.testing.assert_array_equal(counts, [2, 0, 2, 0])
    assert not np.isnan(means).any()
    with pytest.raises(VAEError, match="labels"):
        latent.class_means(latents, np.array([0, 1, 2, 4]), 4)


def test_attribute_apply_and_analogy_arithmetic():
    shirt, coat = np.array([1.0, 2.0, 3.0]), np.array([2.0, 0.0, 3.5])
    v = latent.attribute_vector(shirt, coat)
    np.testing.assert_allclose(v, [1.0, -2.0, 0.5])
    np.testing.assert_allclose(latent.apply_vector(shirt, v, 1.0), coat)
    np.testing.assert_allclose(latent.apply_vector(shirt, v, -0.5), [0.5, 3.0, 2.75])
    batch = np.zeros((2, 3))
    np.testing.assert_allclose(latent.apply_vector(batch, v, 2.0), [[2, -4, 1], [2, -4, 1]])
    np.testing.assert_allclose(latent.analogy([5, 5, 5], [1, 2, 3], [0, 1, -1]), [4, 4, 1])


def test_selection_vector():
    latents = np.array([[0, 0], [2, 0], [10, 4], [12, 8]], np.float32)
    np.testing.assert_allclose(latent.selection_vector(latents, [0, 1], [2, 3]), [10, 6])
    with pytest.raises(VAEError, match="second selection is empty"):
        latent.selection_vector(latents, [0], [])
    with pytest.raises(VAEError, match="outside"):
        latent.selection_vector(latents, [0, 9], [1])


def test_kl_order_and_active_dims():
    kl = np.array([[0.1, 3.0, 0.0, 1.0], [0.3, 1.0, 0.0, 1.0]])   # means 0.2, 2.0, 0.0, 1.0
    np.testing.assert_array_equal(latent.kl_order(kl), [1, 3, 0, 2])
    np.testing.assert_array_equal(latent.kl_order(np.array([0.5, 0.5, 2.0])), [2, 0, 1])  # stable ties
    rng = np.random.default_rng(0)
    latents = rng.standard_normal((1000, 3)) * [1.0, 0.05, 0.2]      # variances 1, 0.0025, 0.04
    np.testing.assert_array_equal(latent.active_dims(latents), [True, False, True])


def test_traversal_moves_only_the_chosen_dim_by_three_sigma():
    z = np.array([0.5, -1.0, 2.0, 0.0], np.float32)
    spread = np.array([1.0, 0.5, 2.0, 0.1], np.float32)
    grid = latent.traversal(z, [2, 0], spread, steps=7)
    assert grid.shape == (2, 7, 4)
    for row, d in enumerate([2, 0]):
        others = [i for i in range(4) if i != d]
        np.testing.assert_array_equal(grid[row][:, others], np.tile(z[others], (7, 1)))
        assert grid[row, 0, d] - z[d] == pytest.approx(-3 * spread[d], abs=1e-6)
        assert grid[row, -1, d] - z[d] == pytest.approx(3 * spread[d], abs=1e-6)
        assert grid[row, 3, d] == pytest.approx(z[d])
        assert np.all(np.diff(grid[row, :, d]) > 0)
    with pytest.raises(VAEError, match="dims"):
        latent.traversal(z, [4], spread)


# --- sampling -----------------------------------------------------------------------------------------------

def test_prior_samples_are_seeded_standard_normal():
    s = latent.prior_samples(20_000, 4, seed=1)
    assert s.shape == (20_000, 4) and s.dtype == np.float32
    np.testing.assert_array_equal(s, latent.prior_samples(20_000, 4, seed=1))
    assert np.abs(s.mean(0)).max() < 0.03 and np.abs(s.std(0) - 1).max() < 0.03


def test_aggregate_posterior_samples_stay_on_the_data():
    rng = np.random.default_rng(0)
    centres = np.array([[-4.0, 0.0], [4.0, 0.0]])
    data = np.concatenate([c + 0.5 * rng.standard_normal((500, 2)) for c in centres])
    posterior = latent.AggregatePosterior(data, n_components=2, seed=0)
    samples = posterior.sample(4000, seed=3)
    assert samples.shape == (4000, 2)
    np.testing.assert_array_equal(samples, posterior.sample(4000, seed=3))
    np.testing.assert_allclose(samples.mean(0), data.mean(0), atol=0.3)
    np.testing.assert_allclose(np.cov(samples.T), np.cov(data.T), rtol=0.1, atol=0.1)
    # "Between the blobs" = |x| < 2. A Gaussian with the data's mean and cov (prior-like) puts ~40% there.
    def gap(s):
        return np.mean(np.abs(s[:, 0]) < 2)

    moment_matched = rng.multivariate_normal(data.mean(0), np.cov(data.T), 4000)
    assert gap(samples) < 0.01 < 0.3 < gap(moment_matched)


def test_pixel_steps():
    frames = np.zeros((3, 2, 2), np.uint8)
    frames[1, 0, 0] = 100          # step 0: one pixel of four changes by 100 -> 25
    frames[2] = 255                # step 1: 100 -> 255 on one pixel, 0 -> 255 on three -> (155 + 765) / 4 = 230
    np.testing.assert_allclose(latent.pixel_steps(frames), [25.0, 230.0])
    assert latent.pixel_steps(frames[:1]).shape == (0,)
