"""The latent pad (pad.mjs): sliders that decode in the page on every input event; Python hears the final z.

`latent_pad(...)` mounts it and returns what the page sent: {"z": {"z": [...], "seq": n, "rev": r}} once a drag or
key press ended, and {"engine": "<one line>"} if the in-page engine could not load (the page then paints the
server's decode, `pixels`, of each z it receives).
"""
from __future__ import annotations

import base64
from dataclasses import asdict, dataclass

import numpy as np

from . import renderer

Z_STATE, ENGINE_STATE = "z", "engine"


@dataclass(frozen=True)
class Dim:
    """One slider, as the page shows it (all text is plain text: the page never renders it as markup)."""
    d: int
    name: str      # visible label, e.g. "z3 · 1.23 nats · inactive"
    aria: str      # the input's aria-label
    help: str      # tooltip
    min: float
    max: float
    step: float
    inactive: bool


def _renderer():
    return renderer("vae_latent_pad", "pad")


def pixels_b64(image: np.ndarray) -> str:
    """uint8 (H, W) or (H, W, C) -> base64 of its bytes in H×W×C order (pad.mjs paints it until the engine runs)."""
    return base64.b64encode(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).decode("ascii")


def latent_pad(key: str, *, rev: int, z: np.ndarray, dims: list[Dim], top: int, shape, decoder: str,
               placement: str | None, minimap: str | None, pixels: np.ndarray, size: int = 320,
               minimap_size: int = 300, server_only: bool = False, on_change=None):
    data = {"rev": int(rev), "z": [float(v) for v in z], "dims": [asdict(d) for d in dims], "top": int(top),
            "shape": [int(s) for s in shape], "size": int(size), "decoder": decoder, "placement": placement,
            "minimap": minimap, "minimapSize": int(minimap_size), "pixels": pixels_b64(pixels),
            "serverOnly": bool(server_only)}
    noop = on_change or (lambda: None)
    return _renderer()(key=key, data=data, on_z_change=noop, on_engine_change=noop)
