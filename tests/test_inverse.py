"""The learned inverse of a map and its measured fidelity against the kNN blend."""
import numpy as np
import pytest
import torch

from vae_core.map import inverse
from vae_core.errors import VAEError
from vae_core.map.projection import ProjectionSpec, fit_projection
from vae_core.map.cache import Cache


def curve(n=600, seed=0):
    """Latents that are a smooth function of the map coordinates: an invertible map, so an inverse can be exact."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-3, 3, size=(n, 2)).astype(np.float32)
    z = np.stack([xy[:, 0], xy[:, 1], np.sin(xy[:, 0]), xy[:, 0] * xy[:, 1] / 3], axis=1).astype(np.float32)
    return xy, z


def test_learned_inverse_recovers_a_smooth_map_and_is_deterministic():
    xy, z = curve()
    fit = inverse.fit_inverse(xy, z, steps=600)
    held = fit.heldout_rows
    assert len(held) == 60 and not set(held) & set(fit.train_rows)
    error = np.abs(fit.inverse.latent_at(xy[held]) - z[held]).mean()
    assert error < 0.15, error  # latents span ~[-3, 3]
    again = inverse.fit_inverse(xy, z, steps=600)
    assert np.array_equal(again.inverse.latent_at(xy[:5]), fit.inverse.latent_at(xy[:5]))
    # one row alone or in a batch: the same latent
    assert np.allclose(fit.inverse.latent_at(xy[3]), fit.inverse.latent_at(xy[:10])[3], atol=1e-6)


def test_fidelity_compares_both_guesses_in_pixels():
    xy, z = curve()
    fit = inverse.fit_inverse(xy, z, steps=600)
    weights = np.random.default_rng(1).normal(size=(4, 36)).astype(np.float32)

    def decode(latents):  # a fixed smooth "decoder" into [0, 1]
        return 1 / (1 + np.exp(-np.asarray(latents, dtype=np.float32) @ weights))
    result = inverse.measure(fit, xy, z, decode)
    assert result.n_points == 60 and result.learned >= 0 and result.knn >= 0
    z_learned = fit.inverse.latent_at(xy[fit.heldout_rows])
    expected = np.abs(decode(z_learned).astype(np.float64) - decode(z[fit.heldout_rows])).mean() * 255
    assert result.learned == pytest.approx(expected, rel=1e-5)
    assert result.better == ("learned" if result.learned <= result.knn else "knn")


def test_bad_input_and_nan_rows():
    xy, z = curve(100)
    xy[:5] = np.nan  # left out of the fit, not a crash
    fit = inverse.fit_inverse(xy, z, steps=50)
    assert not set(range(5)) & (set(fit.train_rows) | set(fit.heldout_rows))
    with pytest.raises(VAEError, match="at least 10"):
        inverse.fit_inverse(xy[:8], z[:8])
    with pytest.raises(VAEError, match="finite"):
        fit.inverse.latent_at([np.nan, 0.0])


def test_onnx_export_matches_torch():
    import onnxruntime as ort

    xy, z = curve(200)
    fit = inverse.fit_inverse(xy, z, steps=50)
    session = ort.InferenceSession(inverse.onnx_bytes(fit.inverse))
    probe = np.random.default_rng(2).uniform(-4, 4, size=(7, 2)).astype(np.float32)
    got = session.run(None, {"xy": probe})[0]
    with torch.no_grad():
        assert np.allclose(got, fit.inverse(torch.from_numpy(probe)).numpy(), atol=1e-5)


def test_latent_projection_is_the_latent_itself():
    z = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    assert np.array_equal(fit_projection(z, ProjectionSpec(method="latent")), z)
    with pytest.raises(VAEError, match="2-D latent space"):
        fit_projection(np.zeros((50, 3), dtype=np.float32), ProjectionSpec(method="latent"))


def test_cached_inverse_is_saved_without_pickle_and_reloaded(tmp_path):
    xy, z = curve(200)
    weights = np.random.default_rng(1).normal(size=(4, 9)).astype(np.float32)

    def decode(latents):
        return 1 / (1 + np.exp(-np.asarray(latents, dtype=np.float32) @ weights))
    first, fidelity = inverse.cached(Cache.at(tmp_path), "demo", xy, z, decode)
    saved = tmp_path / "inverse-demo.safetensors"
    assert saved.is_file()
    again, same = inverse.cached(Cache.at(tmp_path), "demo", xy, z, decode)
    assert same == fidelity
    assert np.array_equal(again.latent_at(xy[:4]), first.latent_at(xy[:4]))
    saved.write_bytes(b"garbage")  # damaged: fitted again, not a crash
    assert inverse.cached(Cache.at(tmp_path), "demo", xy, z, decode)[1] == fidelity
