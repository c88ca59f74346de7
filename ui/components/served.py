"""Files the page fetches by URL, all written by one function, `publish`: bytes under static/run/<server pid>/<folder>/
(git-ignored; Streamlit serves static/ at /app/static/), named by the hash of their own content, written atomically.

They are this server's: a deleted model's files go with it (`forget`, the URLs its cached results held), and the
files of servers that are gone are removed when a server starts (`prune_orphans`). Nothing a model folder holds is
ever served as it is: the display decoder is exported by the app from the checked graphs, and kept in the app's own
cache folder, never in the model's (an uploaded zip could have put a file there).

Components get only URLs (relative to the page's base: `new URL(url, document.baseURI)`), so a rerun never
re-sends a model, and a name that is the content's hash never serves stale bytes: a dataset that changed under the
same name (another $VAE_DATA_DIR, a folder that gained pictures) never gets the old map's table. What is published:
- models/ (here): a model's display decoder (ONNX), exported once per model, and per map (model, split,
  projection) the placement table and the mini map picture;
- maps/: the map component's points, density layer, thumbnail atlas and lens graph (ui/components/map,
  ui/map_data.py).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import struct
import threading
from pathlib import Path

import numpy as np

from vae_core import images as imgs
from vae_core import paths
from vae_core.files import atomic_write

ROOT = Path(__file__).resolve().parents[2]  # beside app.py: Streamlit serves ROOT/static at /app/static/
STATIC = ROOT / "static"
RUNS = "run"  # static/run/<pid>/: each server process's own files
_pruned = threading.Event()


def run_folder() -> Path:
    """This server's folder of published files (several servers may run from one checkout: tests, a second port)."""
    return STATIC / RUNS / str(os.getpid())


def publish(data: bytes, folder: str, ext: str) -> str:
    """Write `data` as static/run/<pid>/<folder>/<sha256[:16]>.<ext> unless it is there; returns its URL path.
    Atomic: a browser never fetches half a file, and two sessions writing the same bytes at once both succeed."""
    name = f"{hashlib.sha256(data).hexdigest()[:16]}.{ext}"
    target = run_folder() / folder / name
    if not target.exists():
        atomic_write(target, data)
    return f"app/static/{RUNS}/{os.getpid()}/{folder}/{name}"


def file_of(url: str) -> Path | None:
    """The file behind one of this server's URLs, or None for any other string."""
    prefix = f"app/static/{RUNS}/{os.getpid()}/"
    if not isinstance(url, str) or not url.startswith(prefix) or ".." in url:
        return None
    return run_folder() / url[len(prefix):]


def forget(urls) -> int:
    """Delete the files behind these URLs (a deleted model's); returns how many were removed."""
    removed = 0
    for url in urls:
        path = file_of(url)
        if path is not None and path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def prune_orphans() -> list[str]:
    """Once per server process: remove the published files of servers no longer running (and the folders of the
    layout before static/run/). Returns what was removed."""
    if _pruned.is_set():
        return []
    _pruned.set()
    removed = [name for name in ("maps", "models") if (STATIC / name).is_dir()]
    for name in removed:
        shutil.rmtree(STATIC / name, ignore_errors=True)
    runs = STATIC / RUNS
    for folder in runs.iterdir() if runs.is_dir() else []:
        if not folder.name.isdigit() or not _alive(int(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(f"{RUNS}/{folder.name}")
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def decoder_cache(weights_hash: str) -> Path:
    """Where the app keeps a model's exported display decoder: its own cache folder, never the model's (a file a zip
    put in a model folder must never reach a browser)."""
    return paths.cache_dir() / "display" / f"{weights_hash}.onnx"


def display_decoder(loaded) -> bytes:
    """The model's display decoder (VAEModel.display_decoder_onnx: z -> pixel means), exported by the app from the
    model's checked graphs on first use, then kept in the app's cache folder (exporting ours takes ~0.6 s)."""
    cached = decoder_cache(loaded.weights_hash)
    if cached.is_file():
        return cached.read_bytes()
    data = loaded.model.display_decoder_onnx()
    try:
        atomic_write(cached, data)
    except OSError:  # a read-only install: exported again by the next server
        pass
    return data


def decoder_url(loaded) -> str:
    """URL of the model's display decoder: exported (or read from the app's cache) once per model in a server, then
    named by its own bytes like every published file."""
    from ui import loaders

    return loaders.memo(("served-decoder", str(loaded.path), loaded.weights_hash),
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
