"""The terms of every ELBO here, written once: log p(x | x_hat) for the decoder outputs a model may declare (summed
over pixels, nats per image), the Gaussian posterior's KL to the prior, and the pixel means the app shows.

    bernoulli_logits  x_hat are logits (our models): −BCE with logits
    bernoulli_probs   x_hat are probabilities in [0, 1]
    gaussian          x_hat are means of N(x_hat, sigma² I), sigma fixed; without sigma the term can't be computed

On grey-level pixels the Bernoulli "likelihood" is a cross-entropy, not a density: those numbers are bounds to
compare models by, not NLLs (see metrics.py). x must already be on the scale the decoder works on.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

KINDS = ("bernoulli_logits", "bernoulli_probs", "gaussian")
NO_SIGMA = ("can't be computed: the Gaussian decoder's σ is not declared (add \"sigma\" to vae.json); "
            "KL and the map still work")


def log_likelihood(kind: str, x_hat: torch.Tensor, x: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """(N,) log p(x | x_hat); NaN where it can't be computed (a Gaussian without sigma)."""
    if kind == "bernoulli_logits":
        per_pixel = -F.binary_cross_entropy_with_logits(x_hat, x, reduction="none")
    elif kind == "bernoulli_probs":
        p = x_hat.clamp(0.0, 1.0)  # exported probabilities may overshoot by rounding; xlogy keeps 0·log 0 = 0
        per_pixel = torch.xlogy(x, p) + torch.xlogy(1.0 - x, 1.0 - p)
    elif kind == "gaussian":
        if sigma is None:
            return torch.full((len(x),), math.nan, dtype=x.dtype, device=x.device)
        per_pixel = -0.5 * ((x - x_hat) / sigma).pow(2) - math.log(sigma) - 0.5 * math.log(2.0 * math.pi)
    else:
        raise ValueError(f"unknown likelihood {kind!r}; one of {', '.join(KINDS)}")
    return per_pixel.flatten(1).sum(1)


def gaussian_kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) for each latent dimension, (N, D)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def pixel_means(kind: str, x_hat: torch.Tensor, input_range=(0.0, 1.0)) -> torch.Tensor:
    """The decoder's pixel means in [0, 1], what the app shows (the map models/onnx/display.py writes as ONNX nodes).
    Called only through a model's own `pixel_means`."""
    if kind == "bernoulli_logits":
        return torch.sigmoid(x_hat)
    lo, hi = float(input_range[0]), float(input_range[1])
    return ((x_hat - lo) / (hi - lo)).clamp(0.0, 1.0)
