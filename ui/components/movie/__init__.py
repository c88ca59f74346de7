"""The training movie's component (movie.mjs): the snapshots' aligned maps drawn on a canvas, an epoch scrubber and a
Play button that make the points glide between epochs in the page, and a lens that decodes with that epoch's own
decoder. No Streamlit rerun while scrubbing or playing: Python hears only a click that pins a spot (state "spot",
the GIF's spot).

Python's side: `pack` the frames once per movie (one binary file, served.publish), publish each epoch's decoder, and
mount with a small JSON. AppTest cannot run the JavaScript: tests set `session_state[key] = {"spot": [x, y]}`,
exactly what the page sends after a click.
"""
from __future__ import annotations

import math
import struct

import numpy as np

from ui.components import renderer, served

MAGIC = b"VMOVIE01"
HEADER = struct.Struct("<8s4I4d")  # magic, M frames, N points, D latent dims, C classes, bounds x0 x1 y0 y1


def pack(maps: np.ndarray, means: np.ndarray, labels: np.ndarray, n_classes: int, bounds) -> bytes:
    """The movie for the page, one buffer (little-endian; every array at an offset its type can view in place):
    header, float32 maps (M, N, 2), float32 means (M, N, D), int16 labels (N; -1: none)."""
    maps = np.ascontiguousarray(maps, dtype="<f4")
    means = np.ascontiguousarray(means, dtype="<f4")
    m, n, _ = maps.shape
    if means.shape[:2] != (m, n):
        raise ValueError(f"means {means.shape} do not match maps {maps.shape}")
    labels = np.ascontiguousarray(labels, dtype="<i2")
    header = HEADER.pack(MAGIC, m, n, means.shape[2], int(n_classes), *[float(b) for b in bounds])
    return header + maps.tobytes() + means.tobytes() + labels.tobytes()


def publish_frames(buffer: bytes) -> str:
    return served.publish(buffer, "maps", "bin")


def publish_decoder(onnx_bytes: bytes) -> str:
    """One epoch's display decoder, checked by models/snapshots.Snapshot.decoder_onnx before it gets here."""
    return served.publish(onnx_bytes, "models", "onnx")


def movie_player(key: str, *, frames: str, decoders: list[str | None], epochs: list[int], numbers: list[str],
                 shape, class_names: list[str], palette: list[str], spot, k: int, size: int = 400,
                 lens_size: int = 168):
    """Mount the movie. `decoders[t]`: epoch t's decoder URL (None: its lens is off); `numbers[t]`: that epoch's
    ELBO split as shown; `spot`: the pinned spot [x, y] (the lens's start). Returns the component's state."""
    data = {"frames": frames, "decoders": decoders, "epochs": [int(e) for e in epochs], "numbers": numbers,
            "shape": [int(s) for s in shape], "classNames": list(class_names), "palette": palette,
            "spot": [float(v) for v in spot], "k": int(k), "size": int(size), "lensSize": int(lens_size)}
    component = renderer("vae_training_movie", "movie/movie")
    return component(key=key, data=data, default={"spot": None}, on_spot_change=lambda: None)


def checked_spot(value, bounds) -> list[float] | None:
    """The pinned spot as the page sends it ({"spot": [x, y]}), inside the map's bounds; None for anything else (a
    forged or broken state is dropped, never an exception)."""
    spot = value.get("spot") if isinstance(value, dict) else None
    if not (isinstance(spot, list) and len(spot) == 2):
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in spot):
        return None
    x0, x1, y0, y1 = bounds
    if not (x0 <= spot[0] <= x1 and y0 <= spot[1] <= y1):
        return None
    return [float(spot[0]), float(spot[1])]
