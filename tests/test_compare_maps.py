"""map/compare_maps.py: two models' maps aligned (UMAP: stacked layout from A's Map-page map; PCA: Procrustes onto A),
the right shapes, cached in A's cache by both weights hashes (a second call fits nothing), A frozen past the size
bound, a sample aligned past the sample bound."""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vae_core import data, training
from vae_core.errors import VAEError
from vae_core.map import align, compare_maps, encodings
from vae_core.map.cache import Cache
from vae_core.map.encodings import EncodedSplit
from vae_core.map.projection import ProjectionSpec, cached_projection
from vae_core.models import load_model
from vae_core.models.torch_vae.model import VAEConfig

NAME = "digits-test"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two tiny digits models (latent 4 and 3, different seeds) and their encoded test splits (300 images)."""
    dataset = data.load_dataset("digits")
    root = tmp_path_factory.mktemp("pair")
    out = []
    for name, latent, seed in (("a", 4, 0), ("b", 3, 1)):
        config = VAEConfig(image_shape=dataset.image_shape, latent_dim=latent, channels=(8, 16), hidden=32,
                           dataset="digits", class_names=dataset.class_names)
        training.train_model(config, training.TrainConfig(epochs=2, batch_size=64, seed=seed, snapshot_every=0),
                             dataset, root / name)
        loaded = load_model(root / name)
        out.append((loaded, encodings.encode_split(loaded, dataset, "test")))
    return out


def test_umap_pair_is_aligned_cached_and_the_right_shape(pair, monkeypatch):
    (a, enc_a), (b, enc_b) = pair
    seen = []
    result = compare_maps.aligned_pair(a, b, enc_a, enc_b, NAME, progress=lambda f, m: seen.append(f))
    assert result.a.shape == result.b.shape == (300, 2) and result.a.dtype == np.float32
    assert result.settings == compare_maps.PairSettings(freeze=False, n_epochs=200, lambda_=0.01, sample=None)
    assert np.abs(np.concatenate([result.a, result.b])).max() == pytest.approx(10.0, abs=1e-4)
    assert seen[-1] == 1.0 and seen == sorted(seen)
    name = compare_maps.pair_file_name(a, b, NAME, ProjectionSpec(), result.settings)
    assert a.weights_hash in name and b.weights_hash in name and (a.cache_folder / name).is_file()
    found = compare_maps.cached_pair(a, b, enc_a, NAME)  # what a page shows at once, with no job
    assert np.array_equal(found.a, result.a) and np.array_equal(found.b, result.b)
    assert found.settings == result.settings and found.method == "umap"
    assert compare_maps.cached_pair(b, a, enc_b, NAME) is None  # B against A is another pair, not computed
    assert compare_maps.cached_pair(a, b, enc_a, NAME, ProjectionSpec(method="pca")) is None
    monkeypatch.setattr(compare_maps, "aligned_umap_stacked", lambda *args, **kw: pytest.fail("fitted again"))
    monkeypatch.setattr(compare_maps, "cached_projection", lambda *args, **kw: pytest.fail("A's map asked again"))
    again = compare_maps.aligned_pair(a, b, enc_a, enc_b, NAME)
    assert np.array_equal(again.a, result.a) and np.array_equal(again.b, result.b)


def rotated(encoded: EncodedSplit, seed: int = 3) -> EncodedSplit:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(encoded.mu.shape[1],) * 2))
    return EncodedSplit(**{**encoded.__dict__, "mu": (encoded.mu @ q * 1.7 + 0.5).astype(np.float32)})


def near_copy(encoded: EncodedSplit, share: float = 0.3) -> EncodedSplit:
    """A's latents rotated, with noise of `share` of the median nearest-neighbour distance: a model that mostly
    agrees with A (k=10 agreement 0.68 here)."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)
    spacing = float(np.median(cKDTree(encoded.mu).query(encoded.mu, k=2)[0][:, 1]))
    noisy = rotated(encoded).mu + share * spacing * rng.normal(size=encoded.mu.shape)
    return EncodedSplit(**{**encoded.__dict__, "mu": noisy.astype(np.float32)})


def test_a_model_that_mostly_agrees_lands_where_a_is(pair):
    """Measured: 1.8 % of the map width between A and B aligned; B's own UMAP map 56 % off A's, 5.1 % after the best
    Procrustes fit."""
    (a, enc_a), (b, _) = pair
    enc_b = near_copy(enc_a)
    result = compare_maps.aligned_pair(a, b, enc_a, enc_b, "digits-test-near")
    own_b = align.tidy_joint([align.umap_fit(enc_b.mu)])[0]
    aligned = align.displacement_share([result.a, result.b])[0]
    best_fit = align.displacement_share(align.tidy_joint([result.a, align.procrustes(own_b, result.a)[0]]))[0]
    assert aligned < 0.03 and aligned < 0.5 * best_fit, (aligned, best_fit)
    assert align.displacement_share([result.a, own_b])[0] > 5 * aligned


def test_the_pca_of_a_rotated_copy_of_a_lands_on_a(pair):
    (a, enc_a), (b, _) = pair
    result = compare_maps.aligned_pair(a, b, enc_a, rotated(enc_a), "digits-test-rotated",
                                       ProjectionSpec(method="pca"))
    assert result.settings is None and result.a.shape == (300, 2)
    assert np.abs(result.a - result.b).max() < 1e-3
    map_a = cached_projection(Cache.of(a), "digits-test-rotated", enc_a.mu, ProjectionSpec(method="pca"))
    assert np.abs(align.procrustes(map_a, result.a)[0] - result.a).max() < 1e-4  # A is its Map-page PCA map


def test_past_the_size_bound_a_stays_its_map_page_map(pair, monkeypatch):
    (a, enc_a), (b, enc_b) = pair
    monkeypatch.setattr(compare_maps, "FREEZE_ABOVE", 100)
    result = compare_maps.aligned_pair(a, b, enc_a, enc_b, NAME)
    assert result.settings == compare_maps.PairSettings(freeze=True, n_epochs=100, lambda_=0.03, sample=None)
    map_a = cached_projection(Cache.of(a), NAME, enc_a.mu, ProjectionSpec())
    assert np.abs(align.procrustes(map_a, result.a)[0] - result.a).max() < 1e-3
    monkeypatch.setattr(compare_maps, "PAIR_SAMPLE", 150)
    sampled = compare_maps.aligned_pair(a, b, enc_a, enc_b, NAME)
    assert sampled.settings.sample == 150 and sampled.b.shape == (300, 2) and np.isfinite(sampled.b).all()
    assert np.abs(align.procrustes(map_a, sampled.a)[0] - sampled.a).max() < 1e-3


def test_models_of_different_datasets_are_refused_before_any_work(pair):
    (a, enc_a), _ = pair
    other = SimpleNamespace(path=Path("/models/fashion-z16"), weights_hash="f" * 16,
                            config=VAEConfig(dataset="fashion-mnist"))
    with pytest.raises(VAEError, match="fashion-z16.*cannot be compared"):
        compare_maps.aligned_pair(a, other, enc_a, enc_a, NAME)
    with pytest.raises(VAEError, match="2-D UMAP or PCA"):
        compare_maps.aligned_pair(a, a, enc_a, enc_a, NAME, ProjectionSpec(dims=3))
