"""Honest numbers for a VAE, all in nats per image.

ELBO = E_q[log p(x|z)] − KL(q(z|x) || p(z)) with q = N(mu, sigma^2), p(z) = N(0, I), p(x|z) the model's own
likelihood (models/base.py: Bernoulli logits for ours, whatever an ONNX model declares).
The importance-weighted bound L_k (Burda et al.) tightens it: ELBO = L_1 ≤ L_k ≤ log p(x). Only on *binarised*
pixels is −L_k a negative log-likelihood comparable to papers; on grey-level pixels the Bernoulli "likelihood" is
a cross-entropy, so those numbers are reported as bounds, never as NLL.

Randomness comes from numpy Generators seeded per call (the global torch/numpy RNGs are never touched), drawn in
image order, so the first n images of a set get the same noise whatever the batch size or `limit`.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .data import to_tensor
from .errors import DataError
from .latent import active_dims
from .models.likelihoods import gaussian_kl_per_dim

LOG_2PI = math.log(2.0 * math.pi)
MAX_DECODES = 4096  # images decoded at once in the IWAE loop: bounds memory (~100 MB for 28x28 convs)
# The evaluation saved with a finished model (after training, an import, a bring): the IWAE bound on the first
# FINAL_IW_LIMIT test images with FINAL_IW_SAMPLES samples each: a few seconds, not minutes.
FINAL_IW_SAMPLES, FINAL_IW_LIMIT = 50, 1000


# --- the terms (each model's own likelihood: models/base.py; the KL: models/likelihoods.py) -----------------------
def binarize_fixed(images_float, seed: int = 777) -> torch.Tensor:
    """One fixed binarisation (pixel ~ Bernoulli(intensity)) so test-set NLLs are comparable run to run."""
    x = torch.as_tensor(images_float, dtype=torch.float32)
    uniform = np.random.default_rng(seed).random(tuple(x.shape), dtype=np.float32)
    return (torch.from_numpy(uniform) < x).to(torch.float32)


def active_units(mu: np.ndarray, threshold: float = 0.01) -> int:
    """How many dimensions are active: `latent.active_dims`, the one criterion (Var_x E[z_d|x] > threshold)."""
    return int(active_dims(mu, threshold).sum()) if len(mu) else 0


def percentile_of(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Percentile (0–100) of each value among `reference` (e.g. an upload's ELBO among the test set's)."""
    ref = np.sort(np.asarray(reference))
    return 100.0 * np.searchsorted(ref, np.asarray(values), side="right") / max(len(ref), 1)


# --- the split shown to people ------------------------------------------------------------------------
# One estimator wherever ELBO, Recon and KL are shown together, so that ELBO = −(Recon + KL) exactly: the single-sample
# estimate (per_image_stats: one seeded z ~ q(z|x) per image, analytic KL). The reconstruction at z = μ (the map's
# "recon error" colour) is another quantity and is never shown as the ELBO's part.
POINT_ESTIMATOR = ("a single-sample estimate: one z drawn from q(z|x) (seeded, so the same every time), "
                   "Recon = −log p(x|z) at that z, KL exact")


def dataset_estimator(n_images: int) -> str:
    """How a saved model's headline numbers (metrics.json) were estimated."""
    return (f"the mean over {n_images:,} test images of single-sample estimates (one z drawn from q(z|x) per image), "
            "KL exact")


def elbo_split(elbo: float, kl: float) -> tuple[float, float, float]:
    """(ELBO, Recon, KL) of one estimate, with Recon = −ELBO − KL: the reconstruction term of that same estimate, so
    the three add up by construction (a saved file whose 'recon' was measured otherwise is not mixed in)."""
    return float(elbo), -float(elbo) - float(kl), float(kl)


# --- inputs ----------------------------------------------------------------------------------------
NO_IMAGES = "there are no images to evaluate; check the dataset split or the `limit`"


def as_model_input(images, image_shape=None) -> torch.Tensor:
    """uint8 (N, H, W) / (N, H, W, C) arrays, or float (N, C, H, W) in [0, 1] -> float32 CPU tensor (N, C, H, W)."""
    if isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim in (3, 4):
        x = to_tensor(images)  # the one uint8 -> model-input conversion (data.py)
    else:
        x = torch.as_tensor(images, dtype=torch.float32).cpu()
    if len(x) == 0:
        raise DataError(NO_IMAGES)
    if image_shape is not None and tuple(x.shape[1:]) != tuple(image_shape):
        raise DataError(f"images have shape {tuple(x.shape[1:])} (C, H, W) but the model expects "
                        f"{tuple(image_shape)}; use the dataset the model was trained on or preprocess them")
    return x.contiguous()


class _EvalMode:
    """Evaluate in eval mode and give the model back in the mode it came in."""
    def __init__(self, model):
        self.model, self.was_training = model, model.training

    def __enter__(self):
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was_training)


# --- per image -------------------------------------------------------------------------------------
@torch.no_grad()
def per_image_stats(model, images, batch_size: int = 500, seed: int = 777, progress=None) -> dict[str, np.ndarray]:
    """Encoder outputs and ELBO terms for every image (converted to floats a batch at a time: a million images
    would be 3 GB as one float tensor). `progress(fraction, message)` about every 1 % of the images.

    recon         −log p(x|z=mu): deterministic reconstruction error, what the map colours by
    recon_sampled −log p(x|z), z ~ q(z|x) one seeded sample: an unbiased estimate of the ELBO's recon term
    kl, kl_per_dim analytic KL(q(z|x) || p(z))
    elbo          −(recon_sampled + kl): an unbiased single-sample ELBO per image
    """
    n = len(images)
    if n == 0:
        raise DataError(NO_IMAGES)
    device = model.device
    noise = np.random.default_rng(seed).standard_normal((n, model.config.latent_dim), dtype=np.float32)
    out = {name: [] for name in ("mu", "logvar", "recon", "recon_sampled", "kl_per_dim")}
    report_every = max(1, n // batch_size // 100)
    with _EvalMode(model):
        for batch, start in enumerate(range(0, n, batch_size)):
            xb = as_model_input(images[start:start + batch_size], model.config.image_shape).to(device)
            mu, logvar = model.encode(xb)
            eps = torch.from_numpy(noise[start:start + batch_size]).to(device)
            z = mu + eps * torch.exp(0.5 * logvar)
            out["mu"].append(mu)
            out["logvar"].append(logvar)
            out["recon"].append(-model.log_likelihood(model.decode(mu), xb))
            out["recon_sampled"].append(-model.log_likelihood(model.decode(z), xb))
            out["kl_per_dim"].append(gaussian_kl_per_dim(mu, logvar))
            done = min(n, start + batch_size)
            if progress is not None and (batch % report_every == 0 or done == n):
                progress(done / n, f"encoded {done:,} of {n:,} images")
    stats = {name: torch.cat(parts).cpu().numpy() for name, parts in out.items()}
    stats["kl"] = stats["kl_per_dim"].sum(axis=1)
    stats["elbo"] = -(stats["recon_sampled"] + stats["kl"])
    return stats


@torch.no_grad()
def iwae_bound(model, x, k: int, batch_size: int = 100, seed: int = 777, progress=None) -> torch.Tensor:
    """L_k per image, (N,): logsumexp_i(log p(x|z_i) + log p(z_i) − log q(z_i|x)) − log k, z_i ~ q(z|x).

    Samples are processed in chunks (at most MAX_DECODES decodes at once) with a running logsumexp, so memory
    does not grow with k. x must already be what the model's likelihood is about (binarised for NLL).
    `progress(fraction, message)` after each batch of images.
    """
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")
    x = as_model_input(x, model.config.image_shape)
    device, rng, bounds = model.device, np.random.default_rng(seed), []
    with _EvalMode(model):
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size].to(device)
            mu, logvar = model.encode(xb)
            std = torch.exp(0.5 * logvar)
            b, d = mu.shape
            chunk = max(1, MAX_DECODES // b)
            total = torch.full((b,), -math.inf, dtype=torch.float64, device=device)
            for done in range(0, k, chunk):
                c = min(chunk, k - done)
                eps = torch.from_numpy(rng.standard_normal((c, b, d), dtype=np.float32)).to(device)
                z = mu + eps * std  # (c, b, d)
                x_hat = model.decode(z.reshape(c * b, d))
                log_px = model.log_likelihood(x_hat, xb.repeat(c, 1, 1, 1)).view(c, b)
                log_pz = -0.5 * (LOG_2PI + z.pow(2)).sum(-1)
                log_qz = -0.5 * (LOG_2PI + logvar + eps.pow(2)).sum(-1)  # (z - mu)/sigma is eps
                log_w = (log_px + log_pz - log_qz).double()
                total = torch.logaddexp(total, torch.logsumexp(log_w, dim=0))
            bounds.append(total - math.log(k))
            if progress is not None:
                done = min(len(x), start + batch_size)
                progress(done / len(x), f"IWAE bound (k={k}): {done:,} of {len(x):,} images")
    return torch.cat(bounds).cpu()


# --- the test-set report ---------------------------------------------------------------------------
def evaluate(model, images, iw_samples: int = 0, limit: int | None = None, seed: int = 777, progress=None) -> dict:
    """Test-set numbers in nats per image, averaged over the first `limit` images (all when None).

    A model trained on binarised pixels is evaluated on one fixed binarisation (seeded with `seed`), and only
    then is −L_k reported as "nll". Same inputs -> same numbers (no global RNG is used or changed).
    `progress(fraction, message)`: the ELBO pass, then the IWAE pass (when asked for), each half of the bar.
    """
    share = 0.5 if iw_samples > 0 else 1.0
    part = (lambda lo: lambda f, m: progress(lo + share * f, m)) if progress is not None else (lambda lo: None)
    x = as_model_input(images, model.config.image_shape)
    if limit is not None:
        x = x[:limit]
    binarized = bool(model.binarized)
    if binarized:
        x = binarize_fixed(x, seed)
    stats = per_image_stats(model, x, seed=seed, progress=part(0.0))
    result = {
        "n_images": len(x),
        "binarized": binarized,
        "seed": seed,
        "elbo": float(stats["elbo"].astype(np.float64).mean()),
        "recon": float(stats["recon_sampled"].astype(np.float64).mean()),
        "kl": float(stats["kl"].astype(np.float64).mean()),
        "kl_per_dim": [float(v) for v in stats["kl_per_dim"].astype(np.float64).mean(axis=0)],
        "active_units": active_units(stats["mu"]),
        "iwae_k": int(iw_samples),
        "iwae_bound": None,
    }
    if iw_samples > 0:
        bound = float(iwae_bound(model, x, iw_samples, seed=seed + 1, progress=part(0.5)).mean())
        result["iwae_bound"] = bound
        if binarized:
            result["nll"] = -bound
    return result


def final_report(model, images, limit: int | None = None, seed: int = 777, progress=None) -> dict:
    """The numbers saved with a finished model (metrics.json): the ELBO split on the first `limit` test images (all
    when None) and the IWAE bound on the first FINAL_IW_LIMIT with FINAL_IW_SAMPLES samples. A likelihood that can't
    be computed (a Gaussian without σ) skips the IWAE pass: it would spend minutes computing NaN.
    `progress(fraction, message)`: the ELBO pass is the first half of the bar, the IWAE pass the second."""
    half = (lambda lo: lambda f, m: progress(lo + 0.5 * f, m)) if progress is not None else (lambda lo: None)
    result = evaluate(model, images, iw_samples=0, limit=limit, seed=seed, progress=half(0.0))
    if FINAL_IW_SAMPLES and math.isfinite(result["elbo"]):
        iw = evaluate(model, images, iw_samples=FINAL_IW_SAMPLES, limit=FINAL_IW_LIMIT, seed=seed,
                      progress=half(0.5))
        result.update({k: iw[k] for k in ("iwae_bound", "iwae_k", "nll") if k in iw})
        result["iwae_n"] = iw["n_images"]
    if progress is not None:
        progress(1.0, "measured")
    return result
