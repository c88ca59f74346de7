"""vae.json: the manifest of an ONNX model folder, parsed against the documented schema (README, "Bring your own
VAE"). The field names are an interface people write against: keep them stable.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from ...errors import CheckpointError
from ..contract import CHANNELS, FORMAT, LATENT_RANGE, LAYOUTS, MANIFEST_FILE, NAMES, SIDE_RANGE

LIKELIHOODS = ("bernoulli_logits", "bernoulli_probs", "gaussian")
INPUT_RANGES = ((0, 1), (-1, 1))
REQUIRED = ("format", "image_shape", "latent_dim", "likelihood", "dataset")
OPTIONAL = ("sigma", "input_range", "class_names", "description", "tensor_names", "layout")
MAX_MANIFEST_BYTES = 1_000_000  # a manifest is a few hundred bytes; class names for 10k classes still fit


class ManifestError(CheckpointError):
    """vae.json is missing, not JSON, or does not follow the schema."""


@dataclass
class OnnxConfig:
    """The manifest; its first four fields are models/base.py's ModelConfig."""
    image_shape: tuple[int, int, int]
    latent_dim: int
    likelihood: str
    dataset: str
    sigma: float | None = None
    input_range: tuple[float, float] = (0.0, 1.0)
    class_names: list[str] = field(default_factory=list)
    description: str = ""
    tensor_names: dict = field(default_factory=lambda: dict(NAMES))
    layout: str = "NCHW"


def _fail(problem: str) -> ManifestError:
    return ManifestError(f"{MANIFEST_FILE}: {problem}. See the README's 'Bring your own VAE' for the schema.")


def _int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"{name} must be an integer, got {json.dumps(value)}")
    return value


def parse_manifest(text: str) -> OnnxConfig:
    """Parse and check vae.json; every problem names the field and what it must be."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _fail(f"not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise _fail(f"must hold a JSON object, not {type(data).__name__}")
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise _fail(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(REQUIRED + OPTIONAL)}")
    missing = [name for name in REQUIRED if name not in data]
    if missing:
        raise _fail(f"missing required field(s) {', '.join(missing)}")
    if data["format"] != FORMAT:
        raise _fail(f"format must be {FORMAT!r}, got {json.dumps(data['format'])}")

    shape = data["image_shape"]
    if not isinstance(shape, list) or len(shape) != 3:
        raise _fail(f"image_shape must be [C, H, W], got {json.dumps(shape)}")
    c, h, w = (_int(v, "image_shape") for v in shape)
    if c not in CHANNELS:
        if w in CHANNELS and c > 4:  # [28, 28, 1]: the shape as a channels-last exporter reports it
            raise _fail(f"image_shape {json.dumps(shape)} looks channels-last (H, W, C): write it as "
                        f"[{w}, {c}, {h}] (C, H, W) and add \"layout\": \"NHWC\" if the graphs take (N, H, W, C)")
        raise _fail(f"image_shape channels must be 1 (grey) or 3 (colour), got {c}")
    if not (SIDE_RANGE[0] <= h <= SIDE_RANGE[1] and SIDE_RANGE[0] <= w <= SIDE_RANGE[1]):
        raise _fail(f"image sides must be {SIDE_RANGE[0]}–{SIDE_RANGE[1]} pixels, got {h}×{w}")
    latent_dim = _int(data["latent_dim"], "latent_dim")
    if not LATENT_RANGE[0] <= latent_dim <= LATENT_RANGE[1]:
        raise _fail(f"latent_dim must be {LATENT_RANGE[0]}–{LATENT_RANGE[1]}, got {latent_dim}")
    likelihood = data["likelihood"]
    if likelihood not in LIKELIHOODS:
        raise _fail(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {json.dumps(likelihood)}")
    if not isinstance(data["dataset"], str) or not data["dataset"].strip():
        raise _fail("dataset must name the data the model was trained on: a built-in name (digits, mnist, "
                    "fashion-mnist) or folder:<path>")

    sigma = data.get("sigma")
    if sigma is not None:
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not (math.isfinite(sigma) and sigma > 0):
            raise _fail(f"sigma must be a positive number, got {json.dumps(sigma)}")
        if likelihood != "gaussian":
            raise _fail(f"sigma belongs to a gaussian likelihood, not {likelihood}")
    input_range = data.get("input_range", [0, 1])
    if not isinstance(input_range, list) or tuple(input_range) not in INPUT_RANGES:
        raise _fail(f"input_range must be [0, 1] or [-1, 1], got {json.dumps(input_range)}")
    class_names = data.get("class_names", [])
    if not isinstance(class_names, list) or not all(isinstance(n, str) for n in class_names):
        raise _fail("class_names must be a list of strings")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail("description must be a string")
    names = data.get("tensor_names", {})
    if not isinstance(names, dict) or not all(isinstance(v, str) and v for v in names.values()):
        raise _fail("tensor_names must map names to non-empty strings")
    unknown_names = sorted(set(names) - set(NAMES))
    if unknown_names:
        raise _fail(f"tensor_names has unknown key(s) {', '.join(unknown_names)}; allowed: {', '.join(NAMES)}")
    layout = data.get("layout", "NCHW")
    if layout not in LAYOUTS:
        raise _fail(f"layout must be one of {', '.join(LAYOUTS)} (how encoder.onnx takes and decoder.onnx gives "
                    f"images), got {json.dumps(layout)}")
    return OnnxConfig(image_shape=(c, h, w), latent_dim=latent_dim, likelihood=likelihood, dataset=data["dataset"],
                      sigma=None if sigma is None else float(sigma),
                      input_range=(float(input_range[0]), float(input_range[1])), class_names=list(class_names),
                      description=description, tensor_names={**NAMES, **names}, layout=layout)
