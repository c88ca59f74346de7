"""The ONNX model-folder contract (README, "Bring your own VAE"): its file and tensor names, and the one way a torch
module becomes an ONNX graph here. Both formats use it (our VAE exports to it; an ONNX folder is read by it), so it
lives above them and neither format imports the other.

    encoder.onnx   x (N, C, H, W) float32 on the manifest's input_range -> mu, logvar (N, D)
    decoder.onnx   z (N, D) -> x_hat (N, C, H, W), meaning what vae.json's `likelihood` says
    vae.json       the manifest: format, image_shape, latent_dim, likelihood, dataset, ...
"""
from __future__ import annotations

import io
import warnings

import torch
import torch.nn as nn

from ..errors import VAEError

OPSET = 17  # torch.onnx.export(dynamo=False) writes it; onnxruntime-web 1.30 runs it
ENCODER_FILE, DECODER_FILE, MANIFEST_FILE = "encoder.onnx", "decoder.onnx", "vae.json"
FORMAT = "onnx-vae"
NAMES = {"x": "x", "mu": "mu", "logvar": "logvar", "z": "z", "x_hat": "x_hat"}  # the contract's tensor names
LATENT_RANGE, SIDE_RANGE, CHANNELS = (2, 512), (8, 256), (1, 3)  # what a model folder may declare
# How graphs may hold images: the contract's own (N, C, H, W) first; vae.json's "layout" names the others, which the
# loader adapts (models/onnx/layouts.py) and `bring` finds by trial (models/from_torch.py).
LAYOUTS = ("NCHW", "NHWC", "flat")


def layout_shape(layout: str, image_shape, n) -> tuple:
    """The batch shape a graph in `layout` takes for n images of `image_shape` (C, H, W)."""
    c, h, w = image_shape
    return {"NCHW": (n, c, h, w), "NHWC": (n, h, w, c), "flat": (n, c * h * w)}[layout]


class ExportError(VAEError):
    """A model could not be written as ONNX (an operator the exporter does not know, say)."""


def export_graph(module: nn.Module, example: torch.Tensor, inputs: list[str], outputs: list[str],
                 opset: int = OPSET) -> bytes:
    """One graph as ONNX bytes, batch size dynamic. Any exporter failure becomes an ExportError naming it."""
    buffer = io.BytesIO()
    axes = {name: {0: "n"} for name in inputs + outputs}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes are not the user's concern
            torch.onnx.export(module.eval(), (example,), buffer, input_names=inputs, output_names=outputs,
                              dynamic_axes=axes, dynamo=False, opset_version=opset)
    except Exception as err:  # noqa: BLE001 - the exporter raises many kinds; the user needs one clear message
        raise ExportError(f"the model could not be exported to ONNX (opset {opset}): {type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else ''}") from None
    return buffer.getvalue()
