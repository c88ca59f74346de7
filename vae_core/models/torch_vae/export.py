"""Our VAE -> ONNX: the model-folder contract anyone's VAE can also follow (see README, "Bring your own VAE").

    encoder.onnx   x (N, C, H, W) float32 in [0, 1] -> mu, logvar (N, D)
    decoder.onnx   z (N, D) -> x_hat (N, C, H, W): Bernoulli logits for our models ("likelihood" in vae.json)
    vae.json       the manifest: format, image_shape, latent_dim, likelihood, dataset, ...

The browser needs pixel means in [0, 1], whatever the decoder's output means: `means_decoder` appends the one
node that maps x_hat to them (Sigmoid for logits, an affine map for [-1, 1] images), so the page runs the exported
graph itself and never a hand-written copy of the network.
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from .errors import VAEError

OPSET = 17
ENCODER_FILE, DECODER_FILE, MANIFEST_FILE = "encoder.onnx", "decoder.onnx", "vae.json"
FORMAT = "onnx-vae"
NAMES = {"x": "x", "mu": "mu", "logvar": "logvar", "z": "z", "x_hat": "x_hat"}  # the contract's tensor names


class ExportError(VAEError):
    """A model could not be written as ONNX (an operator the exporter does not know, say)."""


class _Encoder(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.encode(x)


class _Decoder(nn.Module):
    def __init__(self, model, means: bool):
        super().__init__()
        self.model, self.means = model, means

    def forward(self, z):
        logits = self.model.decode(z)
        return torch.sigmoid(logits) if self.means else logits


def _export(module: nn.Module, example: torch.Tensor, inputs: list[str], outputs: list[str]) -> bytes:
    """One graph as ONNX bytes, batch size dynamic. Any exporter failure becomes an ExportError naming it."""
    buffer = io.BytesIO()
    axes = {name: {0: "n"} for name in inputs + outputs}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes are not the user's concern
            torch.onnx.export(module.eval(), (example,), buffer, input_names=inputs, output_names=outputs,
                              dynamic_axes=axes, dynamo=False, opset_version=OPSET)
    except Exception as err:  # noqa: BLE001 - the exporter raises many kinds; the user needs one clear message
        raise ExportError(f"the model could not be exported to ONNX (opset {OPSET}): {type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else ''}") from None
    return buffer.getvalue()


def encoder_bytes(model) -> bytes:
    """x (N, C, H, W) in [0, 1] -> mu, logvar."""
    example = torch.zeros(1, *model.config.image_shape)
    return _export(_Encoder(model), example, [NAMES["x"]], [NAMES["mu"], NAMES["logvar"]])


def decoder_bytes(model, means: bool = False) -> bytes:
    """z -> x_hat: Bernoulli logits (the contract's decoder), or pixel means in [0, 1] with `means=True`."""
    example = torch.zeros(1, model.config.latent_dim)
    return _export(_Decoder(model, means), example, [NAMES["z"]], [NAMES["x_hat"]])


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


def means_decoder(decoder: bytes, likelihood: str, input_range=(0, 1), names: dict | None = None) -> bytes:
    """A decoder graph whose single output is the pixel means in [0, 1] (N, C, H, W), for display.

    `decoder` is a contract decoder's bytes; one node is appended after x_hat according to the likelihood.
    """
    import onnx
    from onnx import helper

    names = {**NAMES, **(names or {})}
    graph_model = onnx.load_from_string(decoder)
    graph = graph_model.graph
    x_hat = names["x_hat"]
    lo, hi = float(input_range[0]), float(input_range[1])
    nodes = []
    if likelihood == "bernoulli_logits":
        nodes.append(helper.make_node("Sigmoid", [x_hat], ["means"]))
    elif (lo, hi) != (0.0, 1.0):  # probabilities or Gaussian means on another scale -> [0, 1]
        scale = helper.make_tensor("means_scale", onnx.TensorProto.FLOAT, [], [1.0 / (hi - lo)])
        shift = helper.make_tensor("means_shift", onnx.TensorProto.FLOAT, [], [-lo])
        zero = helper.make_tensor("means_zero", onnx.TensorProto.FLOAT, [], [0.0])
        one = helper.make_tensor("means_one", onnx.TensorProto.FLOAT, [], [1.0])
        graph.initializer.extend([scale, shift, zero, one])
        nodes += [helper.make_node("Add", [x_hat, "means_shift"], ["means_shifted"]),
                  helper.make_node("Mul", ["means_shifted", "means_scale"], ["means_raw"]),
                  helper.make_node("Clip", ["means_raw", "means_zero", "means_one"], ["means"])]
    else:
        nodes.append(helper.make_node("Identity", [x_hat], ["means"]))
    graph.node.extend(nodes)
    old = next(o for o in graph.output if o.name == x_hat)
    out = helper.make_tensor_value_info("means", onnx.TensorProto.FLOAT, None)
    out.type.CopyFrom(old.type)
    del graph.output[:]
    graph.output.append(out)
    return graph_model.SerializeToString()
