"""The trainer: reproducible, resumable to the bit, cancellable, safe on divergence, never overwrites a model."""
import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from vae_core import data, metrics
from vae_core.models.torch_vae import checkpoint
from vae_core.errors import CheckpointError
from vae_core.models.torch_vae.model import VAEConfig
from vae_core.training.trainer import Progress, TrainConfig, Trainer
from vae_core.training import train_model

TINY = VAEConfig(latent_dim=4, channels=(8, 16), hidden=32)


@pytest.fixture(scope="module")
def digits():
    full = data.load_dataset("digits")
    # 384 train images = 3 steps of 128: enough to learn something, quick enough for many runs
    return dataclasses.replace(full, train_images=full.train_images[:384], train_labels=full.train_labels[:384],
                               test_images=full.test_images[:100], test_labels=full.test_labels[:100])


@pytest.fixture(autouse=True)
def cheap_and_single_threaded(monkeypatch):
    monkeypatch.setattr(metrics, "FINAL_IW_SAMPLES", 5)
    # Tiny models gain nothing from a second thread, and on a shared 2-core machine it costs a lot.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _config(**overrides):
    return TrainConfig(**{"epochs": 2, "batch_size": 128, "lr": 3e-3, "device": "cpu", **overrides})


def _weights(folder):
    return checkpoint.load_checkpoint(folder).model.state_dict()


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_same_seed_same_weights_and_learning(digits, tmp_path):
    first = train_model(TINY, _config(), digits, tmp_path / "a")
    train_model(TINY, _config(), digits, tmp_path / "b")
    train_model(TINY, _config(seed=1), digits, tmp_path / "c")
    assert first.stopped == "finished" and first.epochs_done == 2
    _assert_same_weights(_weights(tmp_path / "a"), _weights(tmp_path / "b"))
    assert not torch.equal(_weights(tmp_path / "a")["encoder.0.weight"], _weights(tmp_path / "c")["encoder.0.weight"])
    # It learns: the test -ELBO falls from the untrained ~540 nats (784 * log 2) and keeps falling.
    elbos = [-h["test_elbo"] for h in first.history]
    assert elbos[1] < elbos[0] < 540


def test_checkpoint_holds_headline_metrics_and_history(digits, tmp_path):
    result = train_model(TINY, _config(epochs=1), digits, tmp_path / "m")
    folder = tmp_path / "m"
    assert result.path == folder
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors", "metrics.json", "train.json",
                                                   "optimizer.safetensors"}
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["epochs"] == 1 and saved["dataset"] == "digits" and saved["n_images"] == 100
    assert len(saved["kl_per_dim"]) == 4 and 0 <= saved["active_units"] <= 4
    assert math.isfinite(saved["elbo"]) and saved["images_per_s"] > 0
    assert saved["iwae_k"] == 5 and saved["iwae_n"] == 100 and math.isfinite(saved["iwae_bound"])
    info = json.loads((folder / "train.json").read_text())
    assert info["dataset"] == "digits" and info["config"]["lr"] == 3e-3
    entry = info["history"][0]
    assert entry["epoch"] == 1 and entry["test_elbo"] == pytest.approx(saved["elbo"])
    assert set(entry) >= {"train_recon", "train_kl", "train_elbo", "test_recon", "test_kl", "seconds", "images_per_s"}
    loaded = checkpoint.load_checkpoint(folder)
    assert loaded.config.dataset == "digits" and loaded.config.class_names == digits.class_names


def test_resume_continues_bit_identically(digits, tmp_path):
    train_model(TINY, _config(epochs=3), digits, tmp_path / "straight")
    train_model(TINY, _config(epochs=2), digits, tmp_path / "resumed")
    result = train_model(TINY, _config(epochs=3), digits, tmp_path / "resumed", resume=True)
    assert result.epochs_done == 3 and [h["epoch"] for h in result.history] == [1, 2, 3]
    _assert_same_weights(_weights(tmp_path / "straight"), _weights(tmp_path / "resumed"))
    straight = json.loads((tmp_path / "straight" / "train.json").read_text())["history"]
    assert [h["test_elbo"] for h in straight] == [h["test_elbo"] for h in result.history]


def test_existing_model_is_never_overwritten(digits, tmp_path):
    train_model(TINY, _config(epochs=1), digits, tmp_path / "m")
    before = (tmp_path / "m" / "model.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match="already holds a model"):
        train_model(TINY, _config(epochs=1, seed=5), digits, tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == before


def test_cancel_keeps_last_finished_epoch(digits, tmp_path):
    seen: list[Progress] = []

    def stop_in_second_epoch():
        return any(p.epoch == 2 and p.step == 2 for p in seen)

    result = train_model(TINY, _config(epochs=3), digits, tmp_path / "m", callback=seen.append,
                         should_stop=stop_in_second_epoch)
    assert result.stopped == "cancelled" and result.epochs_done == 1
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["epochs"] == 1
    assert len(json.loads((tmp_path / "m" / "train.json").read_text())["history"]) == 1
    # Progress: per step, then one epoch-end report with originals and reconstructions.
    ends = [p for p in seen if p.epoch_end]
    assert len(ends) == 1 and ends[0].recon_images.shape == (2, 8, 28, 28) and ends[0].recon_images.dtype == np.uint8
    assert np.array_equal(ends[0].recon_images[0], digits.test_images[:8])
    assert [p.step for p in seen if not p.epoch_end] == [1, 2, 3, 1, 2]
    assert all(math.isfinite(p.losses["loss"]) for p in seen)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(digits, tmp_path, monkeypatch):
    from vae_core.models.torch_vae.model import VAE

    original = VAE.loss
    calls = {"n": 0}

    def loss_turning_nan(self, x, epoch_progress=math.inf):
        out = original(self, x, epoch_progress)
        if self.training:
            calls["n"] += 1
            if calls["n"] == 5:  # epoch 2, step 2
                out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(VAE, "loss", loss_turning_nan)
    result = train_model(TINY, _config(epochs=3), digits, tmp_path / "m")
    assert result.stopped == "diverged" and result.epochs_done == 1
    assert "epoch 2, step 2" in result.message and "learning rate" in result.message
    loaded = checkpoint.load_checkpoint(tmp_path / "m")  # would refuse NaN weights
    assert all(torch.isfinite(v).all() for v in loaded.model.state_dict().values())
    assert loaded.metrics["epochs"] == 1


def test_huge_learning_rate_diverges_cleanly(digits):
    result = train_model(TINY, _config(epochs=2, lr=1e9), digits, None)
    assert result.stopped == "diverged" and result.path is None
    assert "lower learning rate" in result.message


class _LinearRegression(torch.nn.Module):
    """Not a VAE: the trainer must only need loss(x, epoch_progress)["loss"]."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Linear(3, 1)

    def loss(self, x, epoch_progress=0.0):
        target = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
        mse = (self.w(x) - target).pow(2).mean()
        return {"loss": mse, "mse": mse.detach()}


def test_trainer_is_model_agnostic():
    torch.manual_seed(0)
    x = torch.randn(512, 3)
    model = _LinearRegression()
    result = Trainer(model, TrainConfig(epochs=30, batch_size=64, lr=0.05, device="cpu")).fit(x, x[:64], None)
    assert result.stopped == "finished" and result.path is None
    assert result.history[-1]["test_mse"] < 1e-3 < result.history[0]["train_mse"]
    assert torch.allclose(model.w.weight, torch.tensor([[1.0, -2.0, 0.5]]), atol=0.02)


def test_a_resumed_run_times_only_its_own_steps(digits, tmp_path):
    """Issue 22, fault 6: a resume's first step read "Epoch 2/2 · step 1/469 · 384,034 img/s · ETA 0 s": the saved
    epochs were counted as this run's images and share of the work."""
    from ui.training import TrainJob

    train_model(TINY, _config(epochs=2), digits, tmp_path / "m")
    seen: list[Progress] = []
    config = _config(epochs=3)
    train_model(TINY, config, digits, tmp_path / "m", callback=seen.append, resume=True)
    first = seen[0]
    assert (first.epoch, first.step, first.first_epoch) == (3, 1, 3)
    assert first.run_fraction == pytest.approx(1 / first.steps)
    job = TrainJob(id="r", folder=tmp_path / "m", dataset="digits", n_train=len(digits.train_images),
                   model_config=TINY, train_config=config, resumed=True, progress=first)
    assert job.images_per_s == pytest.approx(config.batch_size / first.elapsed)  # one batch, in this run's time
    assert job.eta_s == pytest.approx(first.elapsed * (first.steps - 1))  # the other steps at the same pace
    assert job.fraction == pytest.approx((2 * first.steps + 1) / (3 * first.steps))  # the bar: all epochs


def test_the_default_batch_follows_the_training_sets_size():
    from vae_core.training.trainer import MIN_STEPS, STEPS_PER_EPOCH, batch_size_for, too_short

    assert [batch_size_for(n) for n in (540, 1_497, 10_000, 60_000, 1_000_000)] == [16, 16, 64, 128, 128]
    for n in (200, 1_497, 5_000, 11_520, 11_521, 60_000):
        batch = batch_size_for(n)
        assert -(-n // batch) >= STEPS_PER_EPOCH or batch == 16  # enough steps, or the smallest batch
        assert batch == 128 or -(-n // (2 * batch)) < STEPS_PER_EPOCH  # and the largest that gives them
    # the form's warning, with what to try (the case: digits, 2 epochs at 128)
    assert too_short(1_497, 128, 2) == ("24 optimiser steps (2 × 12): too few to learn (a model needs about "
                                        f"{MIN_STEPS}); try 10 epochs or batch 16")
    assert too_short(1_497, 16, 2) is None and too_short(60_000, 128, 1) is None

