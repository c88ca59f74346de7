"""Our VAE -> the ONNX model-folder contract (models/contract.py), which anyone's VAE can also follow.

    encoder.onnx   x (N, C, H, W) float32 in [0, 1] -> mu, logvar (N, D)
    decoder.onnx   z (N, D) -> x_hat (N, C, H, W): Bernoulli logits for our models ("likelihood" in vae.json)
    vae.json       the manifest: format, image_shape, latent_dim, likelihood, dataset, ...

The display decoder (z -> pixel means, for the browser) is the model's own `pixel_means` after its decoder,
exported as one graph.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn

from ..contract import DECODER_FILE, ENCODER_FILE, FORMAT, MANIFEST_FILE, NAMES, ExportError, export_graph


class _Encoder(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.encode(x)


class _Decoder(nn.Module):
    """z -> x_hat, or z -> pixel means (the model's own pixel_means) with means=True."""

    def __init__(self, model, means: bool):
        super().__init__()
        self.model, self.means = model, means

    def forward(self, z):
        x_hat = self.model.decode(z)
        return self.model.pixel_means(x_hat) if self.means else x_hat


def encoder_bytes(model) -> bytes:
    """x (N, C, H, W) in [0, 1] -> mu, logvar."""
    example = torch.zeros(1, *model.config.image_shape)
    return export_graph(_Encoder(model), example, [NAMES["x"]], [NAMES["mu"], NAMES["logvar"]])


def decoder_bytes(model, means: bool = False) -> bytes:
    """z -> x_hat: Bernoulli logits (the contract's decoder), or pixel means in [0, 1] with `means=True`."""
    example = torch.zeros(1, model.config.latent_dim)
    return export_graph(_Decoder(model, means), example, [NAMES["z"]], [NAMES["x_hat"]])


def manifest(config, description: str = "") -> dict:
    """vae.json for one of our models: its decoder gives Bernoulli logits over images in [0, 1]."""
    data = {"format": FORMAT, "image_shape": list(config.image_shape), "latent_dim": int(config.latent_dim),
            "likelihood": "bernoulli_logits", "dataset": config.dataset or "",
            "input_range": [0, 1]}
    if config.class_names:
        data["class_names"] = list(config.class_names)
    if description:
        data["description"] = description
    return data


def export_model(model, out_dir: str | Path, description: str = "") -> Path:
    """Write encoder.onnx, decoder.onnx and vae.json for `model` into `out_dir` (created). Returns the folder."""
    out = Path(out_dir)
    encoder, decoder = encoder_bytes(model), decoder_bytes(model)  # both first: a failure writes nothing
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ENCODER_FILE).write_bytes(encoder)
        (out / DECODER_FILE).write_bytes(decoder)
        (out / MANIFEST_FILE).write_text(json.dumps(manifest(model.config, description), indent=2))
    except OSError as err:
        raise ExportError(f"cannot write the ONNX files to {out} ({err.strerror or err})") from None
    return out
