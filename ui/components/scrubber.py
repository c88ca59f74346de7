"""The path scrubber (scrubber.mjs): any t in [0, 1] along a lerp or slerp path, decoded in the page while dragged.

`path_scrubber(...)` returns the component's state: {"t": float} once a drag or key press ended, and
{"engine": "<one line>"} if the in-page engine could not load (the page then paints `pixels`, the server's decode
of the z at Python's t).
"""
from __future__ import annotations

import numpy as np

from . import renderer
from .pad import pixels_b64

T_STATE, ENGINE_STATE = "t", "engine"
T_STEPS = 1000  # t moves in steps of 1/1000: the server finds the same z as latent.lerp/slerp with 1001 steps

def _renderer():
    return renderer("vae_path_scrubber", "scrubber")


def path_scrubber(key: str, *, rev: int, a: np.ndarray, b: np.ndarray, kind: str, t: float, shape, decoder: str,
                  placement: str | None, minimap: str | None, path_xy: np.ndarray, pixels: np.ndarray,
                  aria: str, size: int = 224, minimap_size: int = 300, server_only: bool = False):
    data = {"rev": int(rev), "a": [float(v) for v in a], "b": [float(v) for v in b], "kind": kind, "t": float(t),
            "shape": [int(s) for s in shape], "size": int(size), "decoder": decoder, "placement": placement,
            "minimap": minimap, "minimapSize": int(minimap_size),
            "path": [[float(x), float(y)] for x, y in np.asarray(path_xy)[:, :2]], "pixels": pixels_b64(pixels),
            "aria": aria, "serverOnly": bool(server_only)}
    return _renderer()(key=key, data=data, on_t_change=lambda: None, on_engine_change=lambda: None)
