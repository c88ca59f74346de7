"""map/compare.py: the neighbourhood agreement against a brute-force computation, identical models agree everywhere,
the per-class numbers come from the encodings, models of different datasets or shapes are refused by name, and the
agreement is computed once (cached in A's cache)."""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vae_core.errors import VAEError
from vae_core.map import compare
from vae_core.map.encodings import EncodedSplit
from vae_core.models.torch_vae.model import VAEConfig

RNG = np.random.default_rng(1)


def brute_neighbours(z, k):
    d = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return [set(np.argsort(row, kind="stable")[:k]) for row in d]


@pytest.mark.parametrize("k", [1, 5, 10])
def test_agreement_equals_brute_force_jaccard(k):
    za = RNG.normal(size=(500, 16))
    zb = za[:, :8] @ RNG.normal(size=(8, 8)) + 0.3 * RNG.normal(size=(500, 8))  # another model: 8-D
    na, nb = brute_neighbours(za, k), brute_neighbours(zb, k)
    expected = np.array([len(a & b) / len(a | b) for a, b in zip(na, nb)])
    got = compare.knn_jaccard(za, zb, k)
    assert got.shape == (500,) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert 0.0 < got.mean() < 0.95  # some shared, some not: not a degenerate case


def test_the_same_space_agrees_everywhere_whatever_its_scale():
    z = RNG.normal(size=(300, 6))
    assert (compare.knn_jaccard(z, z) == 1.0).all()
    assert (compare.knn_jaccard(z, 3.0 * z + 1.0) == 1.0).all()
    with pytest.raises(VAEError, match="same N"):
        compare.knn_jaccard(z, z[:-1])


def test_most_different_is_least_agreement_first():
    agreement = np.array([0.5, 0.1, 0.9, 0.1, 0.0], dtype=np.float32)
    assert compare.most_different(agreement, 3).tolist() == [4, 1, 3]


def test_ties_go_to_the_image_sharing_fewer_of_its_wider_neighbourhood():
    """Two unrelated latent spaces: many images share none of their 10 nearest (agreement 0). Among those, the list
    is ordered by how many of their 30 nearest they share (brute force here), not by row number."""
    a, b = RNG.normal(size=(300, 4)), RNG.normal(size=(300, 3))
    agreement = compare.knn_jaccard(a, b, k=10)
    assert (agreement == 0).sum() > 20  # ties to break
    shown = compare.most_different(agreement, 20, a, b, wide_k=30)

    def nearest(x, row, k):
        d = ((x - x[row]) ** 2).sum(axis=1)
        d[row] = np.inf
        return set(np.argsort(d, kind="stable")[:k].tolist())

    wide = {r: len(nearest(a, r, 30) & nearest(b, r, 30)) for r in np.flatnonzero(agreement == 0)}
    expected = sorted(wide, key=lambda r: (wide[r], r))[:20]
    assert shown.tolist() == expected
    assert shown.tolist() != sorted(shown.tolist())  # not the row order it used to be


def encoded(mu, labels, kl, recon) -> EncodedSplit:
    n, d = mu.shape
    return EncodedSplit(mu=mu.astype(np.float32), logvar=np.zeros((n, d), np.float32),
                        recon=np.asarray(recon, np.float32), kl=np.asarray(kl, np.float32),
                        kl_per_dim=np.zeros((n, d), np.float32),
                        elbo=-np.asarray(recon, np.float32) - np.asarray(kl, np.float32),
                        labels=np.asarray(labels, np.int64))


def test_per_class_means_come_from_the_encodings():
    labels = np.array([0, 0, 1, 1, 1])
    a = encoded(RNG.normal(size=(5, 3)), labels, kl=[1, 3, 10, 20, 30], recon=[100, 200, 1, 2, 3])
    b = encoded(RNG.normal(size=(5, 2)), labels, kl=[2, 2, 5, 5, 5], recon=[50, 50, 7, 8, 9])
    agreement = np.array([0.0, 1.0, 0.5, 0.5, 0.2], dtype=np.float32)
    first, second = compare.per_class(agreement, a, b, ["shirt", "bag"])
    assert (first.name, first.count, first.agreement, first.kl_a, first.kl_b, first.recon_a, first.recon_b) == \
        ("shirt", 2, 0.5, 2.0, 2.0, 150.0, 50.0)
    assert (second.name, second.count, second.kl_a, second.recon_b) == ("bag", 3, 20.0, 8.0)
    assert second.agreement == pytest.approx(0.4)
    assert compare.per_class(agreement, a, b, ["unlabelled"]) == []  # no classes: no per-class rows


def model_like(name: str, dataset: str, image_shape=(1, 28, 28), weights_hash="0" * 16, folder=None):
    config = VAEConfig(image_shape=image_shape, dataset=dataset)
    return SimpleNamespace(path=Path(folder or "/models") / name, config=config, weights_hash=weights_hash)


def test_models_of_different_datasets_are_refused_naming_both():
    a, b = model_like("fashion-z16", "fashion-mnist"), model_like("digits-z8", "digits")
    with pytest.raises(VAEError) as err:
        compare.check_comparable(a, b)
    message = str(err.value)
    for needle in ("fashion-z16", "digits-z8", "fashion-mnist", "digits", "different datasets"):
        assert needle in message, message


def test_models_of_different_image_shapes_are_refused_naming_both():
    a, b = model_like("grey", "npz:/data/x.npz", (1, 32, 32)), model_like("colour", "npz:/data/x.npz", (3, 32, 32))
    with pytest.raises(VAEError) as err:
        compare.check_comparable(a, b)
    message = str(err.value)
    for needle in ("grey", "colour", "1×32×32", "3×32×32", "different image shapes"):
        assert needle in message, message
    compare.check_comparable(a, model_like("grey-2", "npz:/data/x.npz", (1, 32, 32)))  # the same: fine


def test_compare_is_cached_in_as_cache_and_identical_models_agree_everywhere(tmp_path, monkeypatch):
    from vae_core.models import folder

    a = model_like("a", "digits", weights_hash="a" * 16, folder=tmp_path)
    b = model_like("b", "digits", weights_hash="b" * 16, folder=tmp_path)
    for m in (a, b):  # what Cache.of reads from a LoadedModel
        m.cache_folder = folder.cache_folder(m.path, m.weights_hash)
        m.cache_folders = folder.cache_folders(m.path, m.weights_hash)
    labels = np.repeat([0, 1, 2], 40)
    mu = RNG.normal(size=(120, 4)) + labels[:, None] * 3.0
    same = encoded(mu, labels, kl=np.ones(120), recon=np.ones(120))
    result = compare.compare(a, b, same, same, "digits-test", ["x", "y", "z"])
    assert (result.agreement == 1.0).all() and result.overall.agreement == 1.0
    assert [c.count for c in result.classes] == [40, 40, 40] and len(result.most_different) == 20
    assert [p.name for p in (tmp_path / "a" / "cache" / a.weights_hash).iterdir()] == \
        [f"agreement-digits-test-k10-{b.weights_hash}.npy"]
    monkeypatch.setattr(compare, "knn_jaccard", lambda *args: pytest.fail("computed again"))
    again = compare.compare(a, b, same, same, "digits-test", ["x", "y", "z"])
    assert np.array_equal(again.agreement, result.agreement)
    other = encoded(mu[:, ::-1] * 2.0, labels, kl=np.ones(120), recon=np.ones(120))  # a permuted, scaled space
    with pytest.raises(VAEError, match="same images"):
        compare.compare(a, b, same, encoded(mu[:100], labels[:100], np.ones(100), np.ones(100)), "digits-test")
    monkeypatch.undo()
    assert (compare.compare(a, b, same, other, "digits-test-2").agreement == 1.0).all()
