"""What the model says about the user's own pictures (read by data/uploads.py): encodings, losses, typicality,
neighbours and a place on the map; a CSV and a contact sheet of them.

Every image is evaluated ALONE (batch of one): `metrics.per_image_stats` seeds its noise by position in the batch
and batched convolutions may round differently, so only one-at-a-time gives the guarantee "same picture, same
numbers and same map position, whatever else was uploaded with it".
At ~2 ms an image that costs nothing a user would notice.
Everything happens in memory: nothing an upload contains is written to disk.
"""
from __future__ import annotations

import contextlib
import csv
import io
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageOps

from . import images, metrics
from .data.uploads import UploadResult
from .errors import ImageError, VAEError
from .map.encodings import EncodedSplit
from .map.placement import Placer
from .models import LoadedModel

N_NEIGHBOURS = 8


@dataclass
class EncodedUpload:
    """What the model makes of one uploaded picture."""
    name: str
    original: np.ndarray | None   # uint8 thumbnail of the picture as decoded (display only)
    input: np.ndarray             # uint8 (H, W) / (H, W, C): exactly what the encoder received
    mu: np.ndarray                # (D,) float32 encoder mean
    logvar: np.ndarray            # (D,) float32
    reconstruction: np.ndarray    # uint8, same shape as `input`: decoded from mu
    recon: float                  # −log p(x|z) at the ELBO's sampled z, nats: elbo = −(recon + kl) exactly
    kl: float                     # KL(q(z|x) || p(z)) in nats
    elbo: float                   # single-sample ELBO, same definition as the split's
    percentile: float             # 0–100: share of the reference split's images with an ELBO ≤ this one
    xy: np.ndarray                # (dims,) float32 position on the current map
    neighbours: np.ndarray        # (k,) row ids of the nearest split images in latent space, nearest first
    distances: np.ndarray         # (k,) their latent distances
    inverted: bool = False
    cropped: bool = False
    notes: list[str] = field(default_factory=list)
    background_removed: bool = False
    steps: list[tuple[str, np.ndarray]] = field(default_factory=list)  # images.Preprocessed.steps: what each did

    @property
    def sigma(self) -> np.ndarray:
        return np.exp(0.5 * self.logvar).astype(np.float32)


# --- encoding -----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _one_torch_thread():
    """A batch of one 28×28 image is too small for a thread pool: on a busy 2-core machine 100 uploads took
    9–16 s with 2 threads and 1.1 s with 1. torch's thread count is per OS thread (OpenMP), so this does not slow
    other threads of the server (a training run keeps its threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _as_inputs(inputs) -> list[tuple[str, np.ndarray | None, np.ndarray, images.Preprocessed | None]]:
    """UploadResults (bad ones skipped) or plain uint8 arrays -> (name, original, input, info)."""
    rows = []
    for i, item in enumerate(inputs):
        if isinstance(item, UploadResult):
            if item.input is not None:
                rows.append((item.name, item.original, item.input.array, item.input))
        else:
            array = np.asarray(item)
            if array.dtype != np.uint8:
                raise ImageError(f"input {i} must be a uint8 image, got {array.dtype}")
            rows.append((f"image {i + 1}", None, array, None))
    return rows


def _encode_one(model, placer: Placer, reference: np.ndarray, k: int, name: str, original, array: np.ndarray,
                info: images.Preprocessed | None) -> EncodedUpload:
    shape = tuple(model.config.image_shape)
    expected = shape[1:] if shape[0] == 1 else (*shape[1:], shape[0])
    if array.shape != expected:
        raise ImageError(f"{name} has shape {array.shape}, the model expects {expected}")
    stats = metrics.per_image_stats(model, array[None])
    mu = stats["mu"][0].astype(np.float32)
    elbo = float(stats["elbo"][0])
    rows, distances = placer.neighbours(mu, k=k)
    return EncodedUpload(
        name=name, original=original, input=array, mu=mu, logvar=stats["logvar"][0].astype(np.float32),
        reconstruction=model.decode_images(mu)[0], recon=-elbo - float(stats["kl"][0]), kl=float(stats["kl"][0]),
        elbo=elbo, percentile=float(metrics.percentile_of(elbo, reference)), xy=placer.place(mu),
        neighbours=rows, distances=distances, inverted=bool(info and info.inverted),
        cropped=bool(info and info.cropped), notes=list(info.notes) if info else [],
        background_removed=bool(info and info.background_removed), steps=list(info.steps) if info else [])


def encode_uploads(loaded: LoadedModel, inputs, encoded: EncodedSplit, placer: Placer, k: int = N_NEIGHBOURS,
                   reference_elbo: np.ndarray | None = None, progress=None) -> list[EncodedUpload]:
    """Encode, score and place each good upload, one at a time (see the module docstring for why).

    `inputs`: UploadResults (failed ones are skipped) or uint8 images. `encoded`/`placer` are the map's split;
    `reference_elbo` (default: the split's ELBOs) ranks each ELBO. `progress(fraction, message)` after each image.
    """
    reference = encoded.elbo if reference_elbo is None else np.asarray(reference_elbo)
    rows_in = _as_inputs(inputs)
    out = []
    with _one_torch_thread():
        for index, row in enumerate(rows_in):
            out.append(_encode_one(loaded.model, placer, reference, k, *row))
            if progress is not None:
                progress((index + 1) / len(rows_in), f"{index + 1} of {len(rows_in)} encoded")
    return out


# --- exports ------------------------------------------------------------------------------------------
def to_csv(uploads: list[EncodedUpload]) -> bytes:
    """One row per upload: file name, μ and σ (all dims), map x/y, ELBO, recon, KL, percentile."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    dims = len(uploads[0].mu) if uploads else 0
    writer.writerow(["file", *[f"mu_{d}" for d in range(dims)], *[f"sigma_{d}" for d in range(dims)],
                     "map_x", "map_y", "elbo", "recon", "kl", "percentile"])
    for up in uploads:
        writer.writerow([up.name, *[f"{v:.6g}" for v in up.mu], *[f"{v:.6g}" for v in up.sigma],
                         f"{up.xy[0]:.6g}", f"{up.xy[1]:.6g}" if len(up.xy) > 1 else "",
                         f"{up.elbo:.6g}", f"{up.recon:.6g}", f"{up.kl:.6g}", f"{up.percentile:.4g}"])
    return buffer.getvalue().encode()


def fit_to(picture: np.ndarray | None, like: np.ndarray) -> np.ndarray:
    """A display thumbnail letterboxed (black bars) to the model input's size and channels."""
    if picture is None:
        return np.zeros_like(like)
    grey = like.ndim == 2
    image = Image.fromarray(np.ascontiguousarray(picture)).convert("L" if grey else "RGB")
    height, width = like.shape[:2]
    return np.asarray(ImageOps.pad(image, (width, height), Image.Resampling.LANCZOS, color=0), dtype=np.uint8)


def contact_sheet(uploads: list[EncodedUpload], per_row: int = 16) -> np.ndarray:
    """uint8 sheet: per block of `per_row` uploads, three rows — original, model input, reconstruction."""
    if not uploads:
        raise VAEError("no encoded images to put on a sheet")
    blank = np.zeros_like(uploads[0].input)
    tiles = []
    for start in range(0, len(uploads), per_row):
        block = uploads[start:start + per_row]
        pad = [blank] * (min(per_row, len(uploads)) - len(block))
        tiles += [fit_to(u.original, u.input) for u in block] + pad
        tiles += [u.input for u in block] + pad
        tiles += [u.reconstruction for u in block] + pad
    return images.grid(tiles, ncols=min(per_row, len(uploads)))
