"""A small convolutional VAE: q(z|x) = N(mu, sigma^2), p(z) = N(0, I), p(x|z) = Bernoulli(logits).

Encoder: Conv(k4 s2) x2 -> FC hidden -> (mu, log sigma^2). Decoder mirrors it with ConvTranspose
(k4 s2 p1 doubles exactly: 7 -> 14 -> 28). No BatchNorm: it makes per-image likelihoods depend on the batch.
"""
from __future__ import annotations

import json
import math
import numbers
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn as nn

from ...errors import CheckpointError
from .. import likelihoods
from ..base import VAEModel

LOGVAR_RANGE = (-30.0, 20.0)  # keeps exp() finite when a run starts to diverge


@dataclass
class VAEConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W); H = W, a multiple of 4; C is 1 or 3
    latent_dim: int = 16          # 2..64; 2 makes the latent itself a map, 16 reconstructs well
    channels: tuple[int, int] = (16, 32)  # conv widths: 16-32 trains ~2x faster than 32-64 on CPU, as good per epoch
    hidden: int = 256             # FC width between convs and latent; with 16-32 the file stays ~3.2 MB
    beta: float = 1.0             # weight of KL in the loss (beta-VAE); 1 = the true ELBO
    warmup_epochs: float = 1.0    # anneal the KL weight 0 -> beta over this many epochs: avoids posterior collapse
                                  # early on (both shipped models were trained with it)
    free_bits: float = 0.0        # per-dim KL floor in nats while training (0 = off); reports stay unclamped
    binarize: bool = False        # dynamic binarisation: needed for NLL numbers comparable to papers
    dataset: str = ""             # which dataset the model was trained on (self-describing checkpoint)
    class_names: list[str] = field(default_factory=list)

    def __post_init__(self):
        problems = _type_problems(self)  # before any int(): "8" or 8.5 must be refused, not silently converted
        if problems:
            raise ValueError("; ".join(problems))
        self.image_shape = tuple(int(v) for v in self.image_shape)
        self.channels = tuple(int(v) for v in self.channels)
        self.class_names = list(self.class_names)
        c, h, w = self.image_shape if len(self.image_shape) == 3 else (0, 0, 0)
        if len(self.image_shape) != 3 or c not in (1, 3) or h != w or h < 8 or h % 4 or h > MAX_SIDE:
            problems.append(f"image_shape {self.image_shape} must be (1 or 3, S, S) with S a multiple of 4, "
                            f"8 ≤ S ≤ {MAX_SIDE}")
        if not 2 <= int(self.latent_dim) <= 64:
            problems.append(f"latent_dim {self.latent_dim} must be between 2 and 64")
        if len(self.channels) != 2 or min(self.channels) < 1 or max(self.channels) > MAX_WIDTH:
            problems.append(f"channels {self.channels} must be two widths between 1 and {MAX_WIDTH}")
        if self.hidden < 0 or self.beta < 0 or self.warmup_epochs < 0 or self.free_bits < 0:
            problems.append("hidden, beta, warmup_epochs and free_bits must be ≥ 0")
        if self.hidden > MAX_HIDDEN:
            problems.append(f"hidden {self.hidden} must be at most {MAX_HIDDEN}")
        if not problems and _parameter_estimate(self) > MAX_PARAMETERS:
            problems.append(f"this network would have about {_parameter_estimate(self):,} parameters, more than "
                            f"the {MAX_PARAMETERS:,} this app handles; use smaller images, channels or hidden")
        if problems:
            raise ValueError("; ".join(problems))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> VAEConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(f"config.json has unknown fields {unknown}; expected some of {sorted(known)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"config.json is invalid: {err}") from None

    @classmethod
    def from_json(cls, text: str) -> VAEConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise CheckpointError(f"config.json is not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise CheckpointError("config.json must hold a JSON object")
        return cls.from_dict(data)


# Sizes beyond which a config is refused: a config.json is data anyone can write, and building a VAE from
# channels [1e9, 1e9] would try to allocate terabytes. The shipped models are far below every cap.
MAX_SIDE, MAX_WIDTH, MAX_HIDDEN, MAX_PARAMETERS, MAX_CLASSES = 256, 1024, 8192, 100_000_000, 10_000


def _whole(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _type_problems(config: VAEConfig) -> list[str]:
    """Each field of its own type: whole numbers for sizes, finite numbers for weights, text for names."""
    problems = []
    for name in ("image_shape", "channels"):
        value = getattr(config, name)
        if not isinstance(value, (list, tuple)) or not all(_whole(v) for v in value):
            problems.append(f"{name} {value!r} must be a list of whole numbers")
    for name in ("latent_dim", "hidden"):
        if not _whole(getattr(config, name)):
            problems.append(f"{name} {getattr(config, name)!r} must be a whole number")
    for name in ("beta", "warmup_epochs", "free_bits"):
        if not _real(getattr(config, name)):
            problems.append(f"{name} {getattr(config, name)!r} must be a finite number")
    if not isinstance(config.binarize, bool):
        problems.append(f"binarize {config.binarize!r} must be true or false")
    if not isinstance(config.dataset, str):
        problems.append(f"dataset {config.dataset!r} must be text")
    names = config.class_names
    if not isinstance(names, (list, tuple)) or len(names) > MAX_CLASSES or not all(isinstance(n, str) for n in names):
        problems.append(f"class_names must be a list of at most {MAX_CLASSES:,} texts")
    return problems


def _parameter_estimate(config: VAEConfig) -> int:
    """The VAE's parameter count, from the config alone (weights only; biases are a rounding error)."""
    c, s, _ = config.image_shape
    c1, c2 = config.channels
    flat, d, hidden = c2 * (s // 4) ** 2, config.latent_dim, config.hidden
    convs = 2 * 16 * (c * c1 + c1 * c2)
    dense = (2 * flat * hidden + 3 * d * hidden) if hidden else 3 * d * flat
    return convs + dense


class VAE(VAEModel):
    """Our VAE; the interface (models/base.py) gives it decode_images, encode_means, log_likelihood, pixel_means."""

    kind = "ours"
    likelihood = "bernoulli_logits"  # decode gives logits

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        c, s, _ = config.image_shape
        c1, c2 = config.channels
        self.feature_shape = (c2, s // 4, s // 4)
        flat = c2 * (s // 4) ** 2
        hidden = config.hidden or flat
        self.encoder = nn.Sequential(
            nn.Conv2d(c, c1, 4, 2, 1), nn.SiLU(),
            nn.Conv2d(c1, c2, 4, 2, 1), nn.SiLU(),
            nn.Flatten(),
            *([nn.Linear(flat, hidden), nn.SiLU()] if config.hidden else []),
            nn.Linear(hidden, 2 * config.latent_dim),
        )
        self.decoder_fc = nn.Sequential(
            *([nn.Linear(config.latent_dim, hidden), nn.SiLU()] if config.hidden else []),
            nn.Linear(hidden if config.hidden else config.latent_dim, flat), nn.SiLU(),
        )
        self.decoder_conv = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.SiLU(),
            nn.ConvTranspose2d(c1, c, 4, 2, 1),
        )

    @property
    def binarized(self) -> bool:
        return bool(self.config.binarize)

    # --- the three maps of a VAE -------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: float (N, C, H, W) in [0, 1] -> mu, logvar, each (N, D)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (N, D) -> Bernoulli logits (N, C, H, W)."""
        return self.decoder_conv(self.decoder_fc(z).view(-1, *self.feature_shape))

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    # --- training objective ------------------------------------------------------------------
    def kl_weight(self, epoch_progress: float) -> float:
        """KL weight at a (fractional) epoch: linear warm-up to beta."""
        warm = self.config.warmup_epochs
        return self.config.beta * (min(1.0, epoch_progress / warm) if warm > 0 else 1.0)

    def loss(self, x: torch.Tensor, epoch_progress: float = math.inf) -> dict[str, torch.Tensor]:
        """Training loss and its (unclamped, unweighted) parts, per image in nats.

        The trainer only needs `loss`; the rest is reported. With free bits, each dimension's batch-mean
        KL is floored at `free_bits` in the optimised loss only, so reported ELBOs stay honest.
        """
        if self.config.binarize and self.training:
            x = torch.bernoulli(x)  # dynamic binarisation: a fresh binary image every epoch
        logits, mu, logvar = self(x)
        recon = -self.log_likelihood(logits, x)  # the same terms the reported metrics use (models/likelihoods.py)
        kl_per_dim = likelihoods.gaussian_kl_per_dim(mu, logvar)
        kl = kl_per_dim.sum(1)
        kl_term = kl_per_dim.mean(0)
        if self.config.free_bits > 0:
            kl_term = kl_term.clamp(min=self.config.free_bits)
        loss = recon.mean() + self.kl_weight(epoch_progress) * kl_term.sum()
        return {"loss": loss, "recon": recon.detach().mean(), "kl": kl.detach().mean(),
                "elbo": -(recon + kl).detach().mean()}

    def display_decoder_onnx(self) -> bytes:
        from .export import decoder_bytes  # local: the ONNX exporter loads only when a page asks for it

        return decoder_bytes(self, means=True)
