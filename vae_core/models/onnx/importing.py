"""A zipped ONNX model folder (uploaded in the app) -> a checked model folder in the models directory.

The zip is read in memory by the same traversal- and bomb-proof reader as picture zips (zips.py). Its files go
to a hidden staging folder, the model is loaded with every check, and only a model that loads is renamed into
the list; a refused one leaves nothing behind. The caller's `measure(loaded)` runs on the staged model before it
joins the list (vae_core/measure.py writes the test metrics, as after our trainings).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Callable

from ... import paths
from ...errors import CheckpointError
from ...zips import UploadLimits, iter_zip
from ..base import LoadedModel
from ..folder import unique_model_dir
from .graph_checks import MAX_EXTERNAL_BYTES, MAX_GRAPH_BYTES
from .loader import MANIFEST, load_onnx_model

# Graphs and their external weights; nothing else of a zip is written.
MODEL_EXTENSIONS = {".onnx": "", ".json": "", ".data": "", ".bin": "", ".weights": "", ".pb": ""}
ZIP_LIMITS = UploadLimits(max_files=100, max_file_bytes=MAX_GRAPH_BYTES, max_zip_members=100,
                          max_zip_total_bytes=2 * MAX_GRAPH_BYTES + MAX_EXTERNAL_BYTES)


def _members(name: str, data: bytes) -> dict[PurePosixPath, bytes]:
    """Zip members by path; the folder holding vae.json becomes the model's root."""
    files, refused = {}, []
    for entry in iter_zip(name, data, ZIP_LIMITS, extensions=MODEL_EXTENSIONS, kind="a model file"):
        if entry.data is None:
            if "not a model file" not in (entry.error or ""):
                refused.append(entry.error)
            continue
        files[PurePosixPath(entry.name[len(name) + 1:])] = entry.data
    if refused:
        raise CheckpointError(f"{refused[0]} Nothing was imported")
    roots = [path.parent for path in files if path.name == MANIFEST]
    if len(roots) != 1:
        raise CheckpointError(f"{name} must hold exactly one model folder with encoder.onnx, decoder.onnx and "
                              f"{MANIFEST} (found {len(roots)} {MANIFEST} files). Nothing was imported")
    root = roots[0]
    return {path.relative_to(root): content for path, content in files.items() if path.is_relative_to(root)}


def import_zip(name: str, data: bytes, parent=None, measure: Callable[[LoadedModel], object] | None = None) -> Path:
    """Check and install an uploaded model zip; returns the new model folder. Raises CheckpointError on refusal."""
    members = _members(name, data)
    parent = Path(parent) if parent is not None else paths.models_dir()
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=parent))  # hidden: never listed while being checked
    try:
        for relative, content in members.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        try:
            loaded = load_onnx_model(staging)
        except CheckpointError as err:  # name the upload, not the hidden staging folder
            raise CheckpointError(str(err).replace(str(staging), name)) from None
        if measure is not None:
            measure(loaded)
        base = PurePosixPath(name).stem or "onnx-model"
        folder = unique_model_dir(base, parent)
        folder.rmdir()
        staging.rename(folder)
        return folder
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
