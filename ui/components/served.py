"""Files the page fetches by URL, all written by one function, `publish`: bytes under static/<folder>/ (git-ignored;
Streamlit serves static/ at /app/static/), named by the hash of their own content and written atomically.

Components get only URLs (relative to the page's base: `new URL(url, document.baseURI)`), so a rerun never
re-sends a model, and a name that is the content's hash never serves stale bytes: a dataset that changed under the
same name (another $VAE_DATA_DIR, a folder that gained pictures) never gets the old map's table. What is published:
- static/models/ (here): a model's display decoder (ONNX), exported once per weights hash (also kept in the
  model's cache folder), and per map (model, split, projection) the placement table and the mini map picture;
- static/maps/: the map component's points, density layer, thumbnail atlas and lens graph (ui/components/map,
  ui/map_data.py).
"""
from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np

from vae_core import images as imgs
from vae_core.files import atomic_write

ROOT = Path(__file__).resolve().parents[2]  # beside app.py: Streamlit serves ROOT/static at /app/static/
STATIC = ROOT / "static"
DECODER_CACHE_NAME = "display-decoder.onnx"  # beside the model's other caches (loaded.cache_folder)


def publish(data: bytes, folder: str, ext: str) -> str:
    """Write `data` as static/<folder>/<sha256[:16]>.<ext> unless it is there; returns its URL path
    ("app/static/<folder>/<name>"). Atomic: a browser never fetches half a file, and two sessions writing the same
    bytes at once both succeed."""
    name = f"{hashlib.sha256(data).hexdigest()[:16]}.{ext}"
    target = STATIC / folder / name
    if not target.exists():
        atomic_write(target, data)
    return f"app/static/{folder}/{name}"


def display_decoder(loaded) -> bytes:
    """The model's display decoder (VAEModel.display_decoder_onnx: z -> pixel means), exported on first use and
    cached next to the model's other caches."""
    cached = Path(loaded.cache_folder) / DECODER_CACHE_NAME
    if cached.exists():
        return cached.read_bytes()
    data = loaded.model.display_decoder_onnx()
    try:
        atomic_write(cached, data)
    except OSError:  # a read-only model folder: static/models/ still has it
        pass
    return data


def decoder_url(loaded) -> str:
    """URL of the model's display decoder: exported (or read from the model's cache folder) once per weights hash in
    a server, then named by its own bytes like every published file."""
    from ui import loaders

    return loaders.memo(("served-decoder", loaded.weights_hash),
                        lambda cb: publish(display_decoder(loaded), "models", "onnx"))


def _serve_map_file(cur, kind: str, ext: str, make) -> str:
    """A map's file, built and published once per (model, split, projection) in a server."""
    from ui import loaders

    return loaders.memo(("served-map-file", kind, *cur.key, cur.spec), lambda cb: publish(make(), "models", ext))


def placement_bytes(latents: np.ndarray, coords: np.ndarray, bounds, k: int) -> bytes:
    """The page's placement table (the engine parses it): uint32 n, d, dims, k; float64 bounds (4); float32
    latents, float32 coords."""
    latents = np.ascontiguousarray(latents, dtype="<f4")
    coords = np.ascontiguousarray(coords, dtype="<f4")
    n, d = latents.shape
    header = struct.pack("<4I4d", n, d, coords.shape[1], int(k), *[float(b) for b in bounds])
    return header + latents.tobytes() + coords.tobytes()


def placement_url(cur) -> str:
    """URL of the table the page places latents with: the Placer's latents and coordinates, and the map's frame."""
    from ui import figures  # plotly: only when a page needs it

    def make() -> bytes:
        placer = cur.placer()
        return placement_bytes(placer.latents32, placer.coords, figures.map_bounds(placer.coords), placer.k)
    return _serve_map_file(cur, "placement", "bin", make)


def minimap_url(cur) -> str:
    """URL of the raster mini map (ui.figures.raster_map's picture, no marker): the page draws the marker."""
    from ui import figures

    def make() -> bytes:
        background, _ = figures.raster_map(cur.coords(), cur.encoded().labels, len(cur.dataset.class_names))
        return imgs.to_png(background)
    return _serve_map_file(cur, "minimap", "png", make)


def map_urls(cur) -> tuple[str, str]:
    """(placement table, mini map picture) for the current model, split and projection."""
    return placement_url(cur), minimap_url(cur)
