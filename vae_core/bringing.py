"""`bring(model, ...)`: a VAE as its author wrote it -> a model folder every page explores, in one call, no wrapper.

    from vae_core import bring
    bring(model, out="models/my-vae", image_shape=(1, 28, 28), dataset="fashion-mnist")

The model's encoder and decoder are exported to the ONNX contract (models/from_torch.py finds their layout, what the
encoder returns and what the decoder's outputs mean), the folder is loaded with every check an uploaded zip gets
(models/onnx/loader.py: graphs, a probe in a child process, the likelihood against the outputs), its test metrics
are measured when the dataset is here, and only then does it appear at `out`. A failure leaves no folder behind.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from . import data, measure, models
from .errors import CheckpointError, DataError
from .files import new_dir_mode
from .models.contract import DECODER_FILE, ENCODER_FILE, FORMAT, MANIFEST_FILE
from .models.folder import BRING_STAGING
from .models.from_torch import (BringError, check_limits, check_pair, evaluating, export_pair, guess_likelihood,
                                layout_shape)

__all__ = ["bring", "BringError"]


def bring(model, out, image_shape, dataset: str, encode="encode", decode="decode", decoder=None, layout="auto",
          likelihood="auto", sigma=None, input_range=(0, 1), class_names=None, description=None,
          progress=None) -> Path:
    """Write `model` as an explorable folder at `out` and return it.

    encode, decode: method names on `model`, or callables (`decoder=` for a second module holding the decoder).
    layout: "auto" (found by trial: NCHW, then NHWC, then flat), "NCHW", "NHWC" or "flat".
    likelihood: "auto" (probabilities when every decoded prior sample lies in [0, 1], else logits),
    "bernoulli_logits", "bernoulli_probs", or "gaussian" with `sigma` (README: reading σ off an MSE + β·KL loss).
    input_range: the scale the model takes images on, (0, 1) or (-1, 1). progress(fraction, message).
    """
    report = progress or (lambda fraction, message: None)
    out = Path(out)
    if models.holds_model(out) or (out.exists() and (not out.is_dir() or any(out.iterdir()))):
        raise BringError(f"{out} already exists and is not empty; choose a new folder (nothing is overwritten)")
    manifest, graphs = _export(model, image_shape, dataset, encode, decode, decoder, layout, likelihood, sigma,
                               input_range, class_names, description, report)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=BRING_STAGING, dir=out.parent))  # hidden: never listed half-written
    try:
        for name, content in graphs.items():
            (staging / name).write_bytes(content)
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        report(0.25, "checking the folder as an import would (graphs, a test run, the likelihood)")
        try:
            loaded = models.load_model(staging)
        except CheckpointError as err:  # name the folder asked for, not the hidden one about to be removed
            raise type(err)(str(err).replace(str(staging), str(out))) from None
        _measure(loaded, report)
        staging.chmod(new_dir_mode())  # mkdtemp makes 0700 folders; a model folder is like every other
        if out.exists():
            out.rmdir()
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    report(1.0, f"brought to {out}")
    return out


def _export(model, image_shape, dataset, encode, decode, decoder, layout, likelihood, sigma, input_range,
            class_names, description, report) -> tuple[dict, dict[str, bytes]]:
    """The manifest and the two graphs, every check passed; nothing written yet."""
    image_shape = tuple(int(v) for v in image_shape)
    if tuple(input_range) not in ((0, 1), (-1, 1)):
        raise BringError(f"input_range must be (0, 1) or (-1, 1), got {tuple(input_range)}")
    if not isinstance(dataset, str) or not dataset.strip():
        raise BringError("dataset must name the training data: a built-in name (digits, mnist, fashion-mnist), "
                         "folder:<path> or npz:<path>")
    try:
        data.check_dataset_name(dataset)  # a misspelt name, before any export (it was taken as "not here")
    except DataError as err:
        raise BringError(str(err)) from None
    if len(image_shape) != 3:
        raise BringError(f"image_shape must be (C, H, W), got {list(image_shape)}")
    check_limits(image_shape)  # the channels and sides now: a wrong shape would only fail the layout trial
    report(0.0, "finding the layout and exporting the encoder and decoder to ONNX")
    with evaluating(model, decoder):  # one block: a forward in train mode would move BatchNorm's statistics
        exported = export_pair(model, image_shape, encode, decode, decoder, layout, input_range)
        check_limits(image_shape, exported.latent_dim)
        likelihood, evidence = guess_likelihood(exported.decoder_module, exported.latent_dim, likelihood, sigma,
                                                input_range)
        check_pair(exported, image_shape, input_range)
    found = (f"Brought from torch: encoder input {exported.layout} "
             f"{list(layout_shape(exported.layout, image_shape, 'N'))}, decoder output {exported.decoder_layout}; "
             f"likelihood {likelihood}: {evidence}.")
    c, h, w = image_shape
    manifest = {"format": FORMAT, "image_shape": [c, h, w], "latent_dim": int(exported.latent_dim),
                "likelihood": likelihood, "dataset": dataset.strip(), "input_range": list(input_range),
                "description": f"{description} {found}" if description else found}
    if sigma is not None:
        manifest["sigma"] = float(sigma)
    if class_names:
        manifest["class_names"] = [str(name) for name in class_names]
    return manifest, {ENCODER_FILE: exported.encoder, DECODER_FILE: exported.decoder}


def _measure(loaded, report) -> None:
    """The test metrics into metrics.json, as after our trainings, when the dataset is on this machine."""
    try:
        dataset = data.load_dataset(loaded.config.dataset, image_shape=loaded.config.image_shape)
    except (DataError, CheckpointError):
        report(0.9, f"{loaded.config.dataset} is not on this machine: no metrics until it is")
        return
    if dataset.image_shape != tuple(loaded.config.image_shape):
        raise BringError(f"{dataset.name} holds {dataset.image_shape} images (C, H, W); image_shape says "
                         f"{tuple(loaded.config.image_shape)}")
    measure.record_metrics(loaded, dataset, lambda f, m: report(0.3 + 0.65 * f, f"measuring the test split: {m}"))
