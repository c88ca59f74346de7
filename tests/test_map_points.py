"""The map's binary points buffer: round trip, and bad input named instead of drawn wrong."""
import numpy as np
import pytest

from vae_core.map import points as map_points
from vae_core.errors import VAEError


def sample(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 2)).astype(np.float32), rng.integers(0, 10, n), rng.random(n) * 300,
            rng.random(n) * 40, -rng.random(n) * 300)


def test_round_trip_keeps_every_value_and_type():
    coords, labels, recon, kl, elbo = sample()
    built = map_points.build(coords, labels, recon, kl, elbo, meta={"classes": 10})
    buffer = map_points.pack(built)
    back = map_points.unpack(buffer)
    assert back.n == 500 and back.left_out == 0 and back.meta == {"classes": 10}
    assert np.array_equal(back.arrays["x"], coords[:, 0]) and np.array_equal(back.arrays["y"], coords[:, 1])
    assert back.arrays["label"].dtype == np.int16 and np.array_equal(back.arrays["label"], labels)
    for name, values in (("recon", recon), ("kl", kl), ("elbo", elbo)):
        assert np.array_equal(back.arrays[name], values.astype(np.float32))
    for entry in ("x", "y", "label", "recon", "kl", "elbo", "nn"):  # typed-array views need aligned offsets
        assert back.arrays[entry].ctypes.data % 2 == 0
    # nearest-other-point spacing, checked by brute force
    d = np.linalg.norm(coords[:, None].astype(np.float64) - coords[None].astype(np.float64), axis=2)
    np.fill_diagonal(d, np.inf)
    assert np.allclose(back.arrays["nn"], d.min(axis=1), rtol=1e-5)
    assert map_points.pack(built) == buffer  # deterministic: same points, same file name


def test_nan_coordinates_are_left_out_and_counted():
    coords, labels, recon, kl, elbo = sample(50)
    coords[[3, 7]] = np.nan
    coords[9, 1] = np.inf
    back = map_points.unpack(map_points.pack(map_points.build(coords, labels, recon, kl, elbo)))
    assert back.left_out == 3
    assert np.isnan(back.arrays["x"][[3, 7, 9]]).all() and np.isnan(back.arrays["nn"][[3, 7, 9]]).all()
    assert np.isfinite(back.arrays["x"][[0, 1, 2]]).all()


def test_bad_input_is_named():
    coords, labels, recon, kl, elbo = sample(20)
    with pytest.raises(VAEError, match=r"colour data 'recon' has shape \(19,\) but the map has 20 points"):
        map_points.build(coords, labels, recon[:19], kl, elbo)
    with pytest.raises(VAEError, match="no points"):
        map_points.build(np.zeros((0, 2)), [], [], [], [])
    with pytest.raises(VAEError, match="wrong magic"):
        map_points.unpack(b"not a map")
    buffer = map_points.pack(map_points.build(coords, labels, recon, kl, elbo))
    with pytest.raises(VAEError, match="truncated"):
        map_points.unpack(buffer[:-40])


def test_extra_arrays_travel_after_the_fixed_fields():
    """Compare's points carry each image's neighbourhood agreement, which the page colours by."""
    coords, labels, recon, kl, elbo = sample(30)
    agreement = np.linspace(0, 1, 30)
    built = map_points.build(coords, labels, recon, kl, elbo, extra={"agreement": agreement})
    back = map_points.unpack(map_points.pack(built))
    assert back.arrays["agreement"].dtype == np.float32
    assert np.array_equal(back.arrays["agreement"], agreement.astype(np.float32))
    assert np.array_equal(back.arrays["kl"], kl.astype(np.float32))  # the fixed fields are where they were
    with pytest.raises(VAEError, match=r"colour data 'agreement' has shape \(29,\)"):
        map_points.build(coords, labels, recon, kl, elbo, extra={"agreement": agreement[:29]})
    with pytest.raises(VAEError, match="new plain names"):
        map_points.build(coords, labels, recon, kl, elbo, extra={"kl": kl})
