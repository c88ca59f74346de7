"""Our VAE vs the reference MLP VAE (pytorch/examples), trained for the same wall-clock budget in one process.

    python bench/train_vs_reference.py [--seconds 120] [--dataset fashion-mnist]

Both models see grey-level pixels with a Bernoulli (BCE) decoder and are scored by the same code
(vae_core.metrics): test -ELBO per image on the whole test split and the IWAE bound (k=100, 1,000 test images).
The two trainings run interleaved in short slices, so a neighbour process slowing the shared CPU slows both
alike; each model's budget counts only its own training steps. Ours uses the project's defaults (TrainConfig,
VAEConfig with the CLI's latent size); the reference is the 784-400-20 ReLU MLP, Adam 1e-3, batch 128.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: see vae_core/__main__.py
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
import torch.nn as nn
import torch.nn.functional as F

from vae_core import data, metrics
from vae_core.errors import VAEError
from vae_core.models.torch_vae.model import VAE, VAEConfig
from vae_core.training.trainer import TrainConfig, make_optimizer

SLICE_SECONDS = 2.0          # interleaving granularity
IW_K, IW_IMAGES = 100, 1000


@dataclass
class _RefConfig:
    """Just what vae_core.metrics reads from a model's config."""
    image_shape: tuple = (1, 28, 28)
    latent_dim: int = 20
    binarize: bool = False


class ReferenceMLPVAE(nn.Module):
    """pytorch/examples' VAE: 784-400-(20, 20) encoder, 20-400-784 decoder, ReLU, Bernoulli logits.

    The example sums the loss over the batch; we average per image, which Adam's scale invariance makes the
    same update up to its epsilon, and which reads in nats per image like ours.
    """

    def __init__(self, image_shape=(1, 28, 28), hidden: int = 400, latent_dim: int = 20):
        super().__init__()
        self.config = _RefConfig(tuple(image_shape), latent_dim)
        pixels = math.prod(image_shape)
        self.fc1, self.fc21, self.fc22 = nn.Linear(pixels, hidden), nn.Linear(hidden, latent_dim), \
            nn.Linear(hidden, latent_dim)
        self.fc3, self.fc4 = nn.Linear(latent_dim, hidden), nn.Linear(hidden, pixels)

    def encode(self, x):
        h = F.relu(self.fc1(x.flatten(1)))
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        return self.fc4(F.relu(self.fc3(z))).view(-1, *self.config.image_shape)

    def loss(self, x, epoch_progress: float = math.inf):
        mu, logvar = self.encode(x)
        logits = self.decode(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar))
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
        return {"loss": (recon + kl).mean(), "elbo": -(recon + kl).detach().mean()}


class Runner:
    """One model's training, advanced a slice at a time: seeded shuffles, its own clock and image count."""

    def __init__(self, name: str, model: nn.Module, config: TrainConfig, train_x: torch.Tensor):
        self.name, self.model, self.config, self.train_x = name, model, config, train_x
        self.optimizer = make_optimizer(model.parameters(), config)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.order, self.position, self.epoch = torch.randperm(len(train_x), generator=self.generator), 0, 0
        self.seconds, self.images = 0.0, 0

    def run_for(self, seconds: float) -> None:
        self.model.train()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            if self.position >= len(self.order):
                self.order, self.position = torch.randperm(len(self.train_x), generator=self.generator), 0
                self.epoch += 1
            idx = self.order[self.position:self.position + self.config.batch_size]
            loss = self.model.loss(self.train_x[idx], self.epoch + self.position / len(self.order))["loss"]
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.position += len(idx)
            self.images += len(idx)
            self.seconds += time.perf_counter() - start

    @property
    def epochs(self) -> float:
        return self.images / len(self.train_x)


def train_both(runners: list[Runner], budget: float) -> None:
    while any(r.seconds < budget for r in runners):
        for runner in runners:
            if runner.seconds < budget:
                runner.run_for(min(SLICE_SECONDS, budget - runner.seconds))


def score(runner: Runner, test_images, iw_k: int = IW_K) -> dict:
    model = runner.model.eval()
    full = metrics.evaluate(model, test_images)
    bound = math.nan
    if iw_k:
        bound = metrics.evaluate(model, test_images, iw_samples=iw_k, limit=IW_IMAGES)["iwae_bound"]
    return {"images_per_s": runner.images / runner.seconds, "epochs": runner.epochs,
            "neg_elbo": -full["elbo"], "neg_iwae": -bound, "active": full["active_units"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="training budget per model")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--latent-dim", type=int, default=16, help="ours (the CLI's default)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--iw-k", type=int, default=IW_K, help=f"IWAE samples on {IW_IMAGES} test images (0: skip)")
    parser.add_argument("--ours", action="append", default=[],
                        help="trial variant, e.g. 'lr=2e-3,batch_size=256,optimizer=adamax,channels=16-32,"
                             "hidden=256,latent_dim=20' (repeatable; default: our defaults)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        dataset = data.load_dataset(args.dataset)
    except VAEError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    train_x = data.to_tensor(dataset.train_images)
    base_model = VAEConfig(image_shape=dataset.image_shape, latent_dim=args.latent_dim, dataset=dataset.name)
    runners = []
    for spec in args.ours or [""]:
        model_config, train_config = _variant(base_model, TrainConfig(), spec)
        torch.manual_seed(train_config.seed)
        runners.append(Runner(_describe(model_config, train_config), VAE(model_config), train_config, train_x))
    torch.manual_seed(0)
    runners.append(Runner("reference MLP 784-400-20 adam lr0.001 b128", ReferenceMLPVAE(dataset.image_shape),
                          TrainConfig(lr=1e-3, batch_size=128, optimizer="adam"), train_x))

    print(f"{dataset.name}: {len(train_x):,} train / {len(dataset.test_images):,} test images, "
          f"{args.seconds:g} s of training each, {torch.get_num_threads()} torch threads", flush=True)
    train_both(runners, args.seconds)
    results = {r.name: score(r, dataset.test_images, args.iw_k) for r in runners}
    width = max(len(name) for name in results) + 2
    print(f"{'model':{width}s} {'images/s':>9s} {'epochs':>7s} {'test -ELBO':>11s} "
          f"{f'-IWAE k={args.iw_k}':>12s} {'active':>7s}")
    for name, r in results.items():
        print(f"{name:{width}s} {r['images_per_s']:9.0f} {r['epochs']:7.2f} {r['neg_elbo']:11.2f} "
              f"{r['neg_iwae']:12.2f} {r['active']:7d}")
    ours, ref = results[runners[0].name], results[runners[-1].name]
    print(f"ratio ours/ref: test -ELBO {ours['neg_elbo'] / ref['neg_elbo']:.4f} (<1: ours better), "
          f"images/s {ours['images_per_s'] / ref['images_per_s']:.3f}")
    return 0


def _describe(model_config: VAEConfig, train_config: TrainConfig) -> str:
    c1, c2 = model_config.channels
    return (f"ours conv {c1}-{c2} h{model_config.hidden} z{model_config.latent_dim} "
            f"{train_config.optimizer} lr{train_config.lr:g} b{train_config.batch_size}")


def _variant(model_config: VAEConfig, train_config: TrainConfig, spec: str):
    """Apply 'key=value,...' to whichever config owns the key (trials while tuning the defaults)."""
    model_changes, train_changes = {}, {}
    for item in filter(None, spec.split(",")):
        key, value = item.split("=")
        if key == "channels":
            model_changes[key] = tuple(int(v) for v in value.split("-"))
        elif key in ("hidden", "latent_dim"):
            model_changes[key] = int(value)
        elif key in ("warmup_epochs", "free_bits"):
            model_changes[key] = float(value)
        elif key in ("batch_size", "seed"):
            train_changes[key] = int(value)
        elif key == "lr":
            train_changes[key] = float(value)
        else:
            train_changes[key] = value
    return replace(model_config, **model_changes), replace(train_config, **train_changes)


if __name__ == "__main__":
    sys.exit(main())
