"""projection.py (PCA/UMAP + disk cache) and placement.py (kNN placer and its inverse)."""
import time

import numpy as np
import pytest

from vae_core.map import projection
from vae_core.errors import VAEError
from vae_core.map.placement import Placer
from vae_core.map.projection import ProjectionSpec, cached_projection, fit_projection
from vae_core.map.cache import Cache


def blobs(n_per=100, dim=8, seed=0, gap=12.0):
    """Three well separated Gaussian blobs: centres `gap` apart along different axes."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((3, dim))
    centres[1, 0] = gap
    centres[2, 1] = gap
    latents = np.concatenate([c + rng.standard_normal((n_per, dim)) for c in centres]).astype(np.float32)
    return latents, np.repeat(np.arange(3), n_per)


def knn_label_agreement(coords, labels, k=5):
    d = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :k]
    return float((labels[nearest] == labels[:, None]).mean())


# --- spec ---------------------------------------------------------------------------------------------------

def test_spec_key_is_stable_and_distinguishes_settings():
    assert ProjectionSpec().key() == "umap-2d-nn15-md0.1-s0"
    assert ProjectionSpec(method="pca", dims=3).key() == "pca-3d"
    assert ProjectionSpec(seed=None).key() != ProjectionSpec(seed=0).key()
    assert ProjectionSpec(min_dist=0.5).key() != ProjectionSpec().key()


@pytest.mark.parametrize("bad", [dict(method="tsne"), dict(dims=4), dict(n_neighbors=1), dict(min_dist=-0.1),
                                 dict(seed=-1), dict(n_neighbors=15.0)])
def test_spec_rejects_bad_settings(bad):
    with pytest.raises(VAEError):
        ProjectionSpec(**bad)


# --- PCA ----------------------------------------------------------------------------------------------------

def test_pca_recovers_plane_and_variance_order():
    rng = np.random.default_rng(1)
    basis, _ = np.linalg.qr(rng.standard_normal((16, 2)))     # a random plane in 16-D
    plane = rng.standard_normal((400, 2)) * [5.0, 1.0]         # std 5 along one axis, 1 along the other
    latents = (plane @ basis.T + 3.0).astype(np.float32)
    coords = fit_projection(latents, ProjectionSpec(method="pca", dims=3))
    assert coords.dtype == np.float32 and coords.shape == (400, 3)
    std = coords.std(axis=0)
    assert std[0] / std[1] == pytest.approx(5.0, rel=0.15)     # variance ordering and ratio survive
    assert std[2] < 1e-4 * std[0]                              # nothing off the plane
    assert np.abs(coords.mean(axis=0)).max() < 1e-4            # centred
    assert np.abs(coords).max() == pytest.approx(10.0, rel=1e-5)  # scaled into [-10, 10]
    # The map is the plane up to rotation/scale: pairwise distances are proportional.
    scale = 10.0 / np.abs(plane - plane.mean(0)).max()
    d_map = np.linalg.norm(coords[:50, None, :2] - coords[None, :50, :2], axis=-1)
    d_true = np.linalg.norm(plane[:50, None] - plane[None, :50], axis=-1)
    ratio = d_map[d_true > 0] / d_true[d_true > 0]
    assert ratio.std() / ratio.mean() < 1e-4 and ratio.mean() > 0.5 * scale


def test_fit_rejects_nan_latents():
    latents = np.ones((10, 4), np.float32)
    latents[3, 2] = np.nan
    with pytest.raises(VAEError, match="NaN"):
        fit_projection(latents, ProjectionSpec(method="pca"))


# --- cache --------------------------------------------------------------------------------------------------

def test_cache_reuses_file_without_refitting(tmp_path, monkeypatch):
    latents, _ = blobs(n_per=50)
    calls, messages = [], []
    real_fit = projection.fit_projection

    def counting_fit(*args, **kwargs):
        calls.append(1)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(projection, "fit_projection", counting_fit)
    spec = ProjectionSpec(method="pca")
    first = cached_projection(Cache.at(tmp_path), "fashion-mnist/test", latents, spec,
                              lambda f, m: messages.append((f, m)))
    files = list(tmp_path.glob("projection-*.npy"))
    assert len(files) == 1 and files[0].name.startswith("projection-fashion-mnist_test-pca-2d-")
    assert len(files[0].stem.rsplit("-", 1)[1]) == 12
    assert not list(tmp_path.glob("*.tmp"))                     # atomic write left no temp file
    t0 = time.perf_counter()
    second = cached_projection(Cache.at(tmp_path), "fashion-mnist/test", latents, spec)
    assert time.perf_counter() - t0 < 0.2
    assert len(calls) == 1
    assert second.tobytes() == first.tobytes()
    assert messages[0][0] == 0.0 and messages[-1][0] == 1.0
    # Different latents -> a different file, a new fit.
    cached_projection(Cache.at(tmp_path), "fashion-mnist/test", latents + 1.0, spec)
    assert len(calls) == 2 and len(list(tmp_path.glob("projection-*.npy"))) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_shape"])
def test_corrupt_cache_is_recomputed(tmp_path, damage):
    latents, _ = blobs(n_per=30)
    spec = ProjectionSpec(method="pca")
    good = cached_projection(Cache.at(tmp_path), "x", latents, spec)
    path = tmp_path / projection.projection_name("x", latents, spec)
    if damage == "garbage":
        path.write_bytes(b"not a numpy file at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    else:
        np.save(path, np.zeros((5, 2), np.float32))
    again = cached_projection(Cache.at(tmp_path), "x", latents, spec)
    assert again.tobytes() == good.tobytes()
    assert np.load(path).tobytes() == good.tobytes()             # and the file was repaired


# --- UMAP ---------------------------------------------------------------------------------------------------

def test_umap_keeps_blobs_apart():
    latents, labels = blobs(n_per=100)
    messages = []
    coords = fit_projection(latents, ProjectionSpec(method="umap", seed=0), lambda f, m: messages.append(m))
    assert coords.shape == (300, 2) and coords.dtype == np.float32
    assert np.abs(coords).max() == pytest.approx(10.0, rel=1e-5)
    assert knn_label_agreement(coords, labels) > 0.95
    assert "UMAP" in messages[0] and "300" in messages[0]
    # Each blob's centroid is farther from the others than the blob is wide.
    centroids = np.stack([coords[labels == c].mean(0) for c in range(3)])
    widths = [np.linalg.norm(coords[labels == c] - centroids[c], axis=1).mean() for c in range(3)]
    gaps = [np.linalg.norm(centroids[i] - centroids[j]) for i in range(3) for j in range(i + 1, 3)]
    assert min(gaps) > 2 * max(widths)


# --- placement ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def placer_data():
    rng = np.random.default_rng(3)
    latents = rng.standard_normal((2000, 16)).astype(np.float32)
    coords = fit_projection(latents, ProjectionSpec(method="pca"))
    return latents, coords, Placer(latents, coords, k=8)


def test_place_data_latent_lands_on_its_coords(placer_data):
    latents, coords, placer = placer_data
    for i in (0, 17, 1999):
        np.testing.assert_array_equal(placer.place(latents[i]), coords[i])


def test_place_is_batch_independent(placer_data):
    latents, coords, placer = placer_data
    rng = np.random.default_rng(4)
    batch = (latents[:50] + 0.3 * rng.standard_normal((50, 16))).astype(np.float32)
    together = placer.place(batch)
    alone = np.stack([placer.place(z) for z in batch])
    shuffled = placer.place(batch[::-1])[::-1]
    assert together.shape == (50, 2)
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)
    np.testing.assert_allclose(together, shuffled, rtol=0, atol=1e-6)
    # Inverse-distance weighted mean of the 8 nearest coords, checked against a direct computation.
    z = batch[7].astype(np.float64)
    d = np.linalg.norm(latents - z, axis=1)
    idx = np.argsort(d)[:8]
    expected = (coords[idx] / d[idx, None]).sum(0) / (1 / d[idx]).sum()
    np.testing.assert_allclose(together[7], expected, atol=1e-5)


def test_neighbours_match_brute_force(placer_data):
    latents, _, placer = placer_data
    z = latents[5] + 0.1
    idx, dist = placer.neighbours(z, k=6)
    d = np.linalg.norm(latents.astype(np.float64) - z, axis=1)
    np.testing.assert_array_equal(idx, np.argsort(d)[:6])
    np.testing.assert_allclose(dist, np.sort(d)[:6], rtol=1e-6)


def test_latent_at_reads_back_data_point_and_flags_far(placer_data):
    latents, coords, placer = placer_data
    hit = placer.latent_at(coords[42])
    np.testing.assert_allclose(hit.z, latents[42], atol=1e-6)
    assert hit.distance == 0.0 and not hit.far and hit.neighbours[0] == 42
    between = placer.latent_at((coords[0] + coords[1]) / 2)
    assert not between.far and len(between.neighbours) == 8
    off_map = placer.latent_at(np.array([50.0, 50.0]))
    assert off_map.far and off_map.distance > 30


def test_placer_is_fast_on_70k():
    rng = np.random.default_rng(5)
    latents = rng.standard_normal((70_000, 32)).astype(np.float32)
    coords = rng.uniform(-10, 10, (70_000, 2)).astype(np.float32)
    placer = Placer(latents, coords)
    z, point = latents[123] + 0.01, coords[321] + 0.01
    def best_of(call, repeats=30):  # the fastest run: other processes on the machine only add time
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        return min(times)

    per_place = best_of(lambda: placer.place(z))
    per_read = best_of(lambda: placer.latent_at(point))
    assert per_place < 0.005 and per_read < 0.005, (per_place, per_read)


def test_placer_rejects_mismatched_input(placer_data):
    latents, coords, placer = placer_data
    with pytest.raises(VAEError):
        Placer(latents, coords[:-1])
    with pytest.raises(VAEError, match="16"):
        placer.place(np.zeros(15))
    with pytest.raises(VAEError):
        placer.latent_at(np.array([np.nan, 0.0]))


def test_placement_of_the_rest_is_batch_independent_and_follows_the_rule():
    from vae_core.map.projection import place_rest

    rng = np.random.default_rng(3)
    sample = rng.normal(size=(3000, 6))
    sample_xy = rng.normal(size=(3000, 2))
    rest = rng.normal(size=(500, 6))
    together = place_rest(sample, sample_xy, rest)
    alone = np.stack([place_rest(sample, sample_xy, row[None])[0] for row in rest[:40]])
    assert np.array_equal(together[:40], alone)  # the same place whatever else is placed with it
    exact = place_rest(sample, sample_xy, rest, eps=0.0)
    for i in range(10):  # eps = 0: exactly the inverse-distance mean of the 8 nearest (brute force)
        d = np.linalg.norm(sample - rest[i], axis=1)
        near = np.argsort(d)[:8]
        w = 1 / d[near]
        assert np.allclose(exact[i], (w @ sample_xy[near]) / w.sum())
    assert np.array_equal(place_rest(sample, sample_xy, sample[:3]), sample_xy[:3])  # exact hits stay put


def test_big_umap_maps_fit_a_sample_and_place_the_rest(monkeypatch):
    from vae_core.map import projection

    calls = []

    def fake_umap(latents, spec):  # UMAP stays out of tests: the first two coordinates stand in for it
        calls.append(len(latents))
        return latents[:, :2].astype(np.float64) * 3

    monkeypatch.setattr(projection, "project_umap", fake_umap)
    monkeypatch.setattr(projection, "UMAP_SAMPLE", 400)
    monkeypatch.setattr(projection, "PLACE_BLOCK", 100)  # several progress steps
    latents = np.random.default_rng(4).normal(size=(1000, 5)).astype(np.float32)
    steps = []
    coords = projection.fit_projection(latents, ProjectionSpec(method="umap"), progress=lambda f, m: steps.append(f))
    assert calls == [400] and coords.shape == (1000, 2) and np.isfinite(coords).all()
    rows = projection.sample_rows(1000, 400, 0)
    raw = np.empty((1000, 2))
    raw[rows] = latents[rows, :2] * 3
    rest = np.setdiff1d(np.arange(1000), rows)
    raw[rest] = projection.place_rest(latents[rows], raw[rows], latents[rest])
    assert np.allclose(coords, projection.tidy_coordinates(raw), atol=1e-5)
    assert steps[-1] == 1.0 and any(0.5 < f < 1.0 for f in steps)


def test_a_long_fit_moves_the_bar_while_it_runs_and_its_errors_come_back(monkeypatch):
    import time

    from vae_core.map import projection
    monkeypatch.setattr(projection, "TICK_SECONDS", 0.05)
    seen = []
    done = projection._with_ticks(lambda: time.sleep(0.6) or "fitted", lambda f, m: seen.append((f, m)),
                                  0.0, 0.5, 1.0, "Fitting…")
    assert done == "fitted" and len(seen) >= 5
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and 0 < fractions[-1] <= 0.5 * 0.95
    assert seen[-1][1].startswith("Fitting… ") and seen[-1][1].endswith(" s so far")

    def fails():
        raise ValueError("diverged")
    with pytest.raises(ValueError, match="diverged"):
        projection._with_ticks(fails, lambda f, m: None, 0.0, 1.0, 1.0, "Fitting…")
    assert projection._with_ticks(lambda: 7, None, 0.0, 1.0, 1.0, "") == 7  # no bar: no thread either
