"""ELBO terms, IWAE bound, active units and the evaluation report, checked against hand numbers and theory."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.distributions import Normal, kl_divergence

from vae_core import metrics
from vae_core.models import VAEModel, likelihoods
from vae_core.errors import DataError
from vae_core.models.torch_vae.model import VAE, VAEConfig


class FixedVAE(VAEModel):
    """1-D latent, 2-pixel image: encoder gives mu=0.5, sigma^2=1.5; the decoder ignores z (logits 2, -1).

    Because p(x|z) does not depend on z, log p(x) = log p(x|z) exactly, which the IWAE bound must approach.
    """
    kind = "test"

    def __init__(self, binarize=False):
        super().__init__()
        self.config = SimpleNamespace(image_shape=(1, 1, 2), latent_dim=1, dataset="", class_names=[])
        self.binarized = binarize
        self.anchor = nn.Parameter(torch.zeros(()))

    def display_decoder_onnx(self) -> bytes:
        raise NotImplementedError

    def encode(self, x):
        n = len(x)
        return torch.full((n, 1), 0.5), torch.full((n, 1), math.log(1.5))

    def decode(self, z):
        return torch.tensor([2.0, -1.0]).expand(len(z), 2).reshape(len(z), 1, 1, 2)


def log_sigmoid(v):
    return -math.log(1.0 + math.exp(-v))


# by hand: x = (1, 0.25), logits (2, -1)
HAND_LOG_PX = 1.0 * log_sigmoid(2.0) + 0.25 * log_sigmoid(-1.0) + 0.75 * log_sigmoid(1.0)
HAND_KL = 0.5 * (0.5 ** 2 + 1.5 - 1.0 - math.log(1.5))


@pytest.fixture(scope="module")
def toy_model():
    """An untrained tiny VAE made deliberately wrong: a narrow q(z|x) and a decoder that is sensitive to z.

    q is then far from the true posterior, so the IWAE gap is large enough to test without training (CPU time).
    """
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=4, channels=(4, 8), hidden=16)).eval()
    with torch.no_grad():
        model.encoder[-1].bias[4:] = -2.0  # log sigma^2 around -2
        model.decoder_fc[0].weight *= 6.0
    images = (np.random.default_rng(0).random((50, 8, 8)) < 0.3).astype(np.uint8) * 255
    return model, images


def test_kl_matches_torch_distributions():
    torch.manual_seed(1)
    mu, logvar = torch.randn(6, 4) * 2, torch.randn(6, 4)
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0))
    assert torch.allclose(likelihoods.gaussian_kl_per_dim(mu, logvar), expected, atol=1e-5)
    assert likelihoods.gaussian_kl_per_dim(torch.zeros(1, 3), torch.zeros(1, 3)).abs().max() == 0


def test_bernoulli_log_likelihood_matches_torch_distribution():
    logits, x = torch.randn(3, 1, 4, 4), torch.rand(3, 1, 4, 4).round()
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(likelihoods.log_likelihood("bernoulli_logits", logits, x), expected, atol=1e-5)


def test_hand_computed_case():
    x = torch.tensor([[[[1.0, 0.25]]]])
    stats = metrics.per_image_stats(FixedVAE(), x)
    assert stats["recon"][0] == pytest.approx(-HAND_LOG_PX, abs=1e-5)
    assert stats["recon_sampled"][0] == pytest.approx(-HAND_LOG_PX, abs=1e-5)
    assert stats["kl"][0] == pytest.approx(HAND_KL, abs=1e-5)
    assert stats["kl_per_dim"].shape == (1, 1)
    assert stats["elbo"][0] == pytest.approx(HAND_LOG_PX - HAND_KL, abs=1e-5)
    assert stats["mu"][0, 0] == 0.5 and stats["logvar"][0, 0] == pytest.approx(math.log(1.5))


def test_iwae_approaches_log_px_when_decoder_ignores_z():
    x = torch.tensor([[[[1.0, 0.25]]]]).repeat(20, 1, 1, 1)
    bound = metrics.iwae_bound(FixedVAE(), x, k=2000)
    # log p(x) = log p(x|z) here; L_k is a lower bound converging to it, already well above the ELBO
    assert bound.mean().item() == pytest.approx(HAND_LOG_PX, abs=0.01)
    assert bound.mean().item() > HAND_LOG_PX - HAND_KL + 0.1


def test_iwae_grows_with_k_and_beats_elbo(toy_model):
    model, images = toy_model
    l1 = np.mean([metrics.iwae_bound(model, images, k=1, seed=s).mean().item() for s in range(20)])
    l5 = metrics.iwae_bound(model, images, k=5).mean().item()
    l50 = metrics.iwae_bound(model, images, k=50).mean().item()
    elbo = metrics.evaluate(model, images)["elbo"]
    assert l1 < l5 < l50
    assert l50 > elbo + 0.5  # a real gap (about 1.2 nats here), not noise


def test_iwae_k1_is_the_elbo_in_expectation(toy_model):
    model, images = toy_model
    samples = torch.stack([metrics.iwae_bound(model, images, k=1, seed=s) for s in range(20)])  # (20, 50)
    exact_kl = metrics.per_image_stats(model, images)["kl"]
    recon = np.mean([metrics.per_image_stats(model, images, seed=s)["recon_sampled"] for s in range(20)], 0)
    elbo = -(recon + exact_kl).mean()
    stderr = samples.mean(1).std().item() / math.sqrt(20)
    assert abs(samples.mean().item() - elbo) < 4 * stderr + 0.05


def test_iwae_memory_chunks_do_not_change_the_result(toy_model, monkeypatch):
    model, images = toy_model
    whole = metrics.iwae_bound(model, images[:10], k=30, batch_size=10)
    monkeypatch.setattr(metrics, "MAX_DECODES", 70)  # 7 samples per chunk: same noise stream, 5 chunks
    assert torch.allclose(metrics.iwae_bound(model, images[:10], k=30, batch_size=10), whole, atol=1e-9)


def test_active_units_counts_constructed_means():
    rng = np.random.default_rng(0)
    mu = np.stack([rng.normal(0, 1.0, 5000),      # var 1      -> active
                   rng.normal(0, 0.07, 5000),     # var 0.0049 -> inactive
                   rng.normal(3, 0.15, 5000),     # var 0.0225 -> active (the offset does not matter)
                   np.full(5000, 2.0)], axis=1)   # constant   -> inactive
    assert metrics.active_units(mu) == 2
    assert metrics.active_units(mu, threshold=0.001) == 3
    assert metrics.active_units(np.zeros((0, 4))) == 0


def test_binarize_fixed_is_seeded_and_prefix_stable():
    x = torch.rand(30, 1, 8, 8)
    first = metrics.binarize_fixed(x, seed=777)
    assert set(first.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(first, metrics.binarize_fixed(x, seed=777))
    assert not torch.equal(first, metrics.binarize_fixed(x, seed=778))
    assert torch.equal(metrics.binarize_fixed(x[:7], seed=777), first[:7])  # a subset gets the same pixels
    assert abs(first.mean().item() - x.mean().item()) < 0.05


def test_per_image_stats_accepts_uint8_and_is_batch_independent(toy_model):
    model, images = toy_model
    a = metrics.per_image_stats(model, images, batch_size=7)
    b = metrics.per_image_stats(model, metrics.as_model_input(images), batch_size=500)
    for key in ("mu", "recon", "elbo", "kl_per_dim"):
        assert np.allclose(a[key], b[key], atol=1e-5), key
    single = metrics.per_image_stats(model, images[:1])
    assert np.allclose(single["mu"], a["mu"][:1], atol=1e-6) and single["elbo"][0] == pytest.approx(a["elbo"][0])
    assert a["mu"].shape == (50, 4) and a["recon"].shape == (50,)
    assert (a["recon"] > 0).all() and (a["kl"] >= 0).all()


def test_wrong_image_shape_is_a_data_error(toy_model):
    model, _ = toy_model
    with pytest.raises(DataError, match=r"shape \(1, 28, 28\).*expects \(1, 8, 8\)"):
        metrics.per_image_stats(model, np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match="no images"):
        metrics.evaluate(model, np.zeros((0, 8, 8), np.uint8))


def test_evaluate_report_and_nll_only_for_binarized():
    x = torch.tensor([[[[1.0, 0.25]]]]).repeat(8, 1, 1, 1)
    grey = metrics.evaluate(FixedVAE(binarize=False), x, iw_samples=10)
    assert "nll" not in grey and grey["binarized"] is False
    assert grey["iwae_k"] == 10 and grey["iwae_bound"] < 0 and grey["n_images"] == 8
    assert grey["elbo"] == pytest.approx(HAND_LOG_PX - HAND_KL, abs=1e-5)
    assert grey["recon"] == pytest.approx(-HAND_LOG_PX, abs=1e-5) and grey["kl_per_dim"] == [
        pytest.approx(HAND_KL, abs=1e-6)]
    assert grey["active_units"] == 0  # constant encoder means

    binary = metrics.evaluate(FixedVAE(binarize=True), x, iw_samples=10, limit=5)
    assert binary["nll"] == -binary["iwae_bound"] and binary["n_images"] == 5 and binary["binarized"] is True
    pixels = metrics.binarize_fixed(x[:5], seed=777).flatten(1)
    log_on = torch.tensor([log_sigmoid(2.0), log_sigmoid(-1.0)])   # log p(pixel = 1)
    log_off = torch.tensor([log_sigmoid(-2.0), log_sigmoid(1.0)])  # log p(pixel = 0)
    hand = (pixels * log_on + (1 - pixels) * log_off).sum(1).mean().item()
    assert binary["recon"] == pytest.approx(-hand, abs=1e-5)  # evaluated on the fixed binarisation
    assert "nll" not in metrics.evaluate(FixedVAE(binarize=True), x)  # no IWAE, no NLL claim


def test_evaluate_is_deterministic_and_leaves_global_rng_alone(toy_model):
    model, images = toy_model
    model.config.binarize = True
    try:
        torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
        first = metrics.evaluate(model, images, iw_samples=5)
        second = metrics.evaluate(model, images, iw_samples=5)
        assert first == second
        assert torch.equal(torch.get_rng_state(), torch_state) and np.array_equal(np.random.get_state()[1], np_state)
        assert metrics.evaluate(model, images, iw_samples=5, seed=1) != first
        assert first["nll"] == pytest.approx(-first["iwae_bound"]) and first["nll"] <= -first["elbo"] + 1e-9
        assert len(first["kl_per_dim"]) == 4 and sum(first["kl_per_dim"]) == pytest.approx(first["kl"])
        assert not model.training
    finally:
        model.config.binarize = False


def test_evaluate_restores_training_mode(toy_model):
    model, images = toy_model
    model.train()
    metrics.evaluate(model, images[:5])
    assert model.training
    model.eval()
