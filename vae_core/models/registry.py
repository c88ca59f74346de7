"""Model folders of every format: find, list, load, hash, delete, zip. The one place that dispatches over formats
(models/torch_vae/ and models/onnx/ each give a FORMAT; see models/base.py's ModelFormat).
"""
from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

from .. import paths
from ..errors import CheckpointError
from ..files import TEMP_PREFIX, TEMP_SUFFIX
from . import folder as folder_files
from .base import LoadedModel, ModelConfig, ModelFormat, ModelInfo
from .onnx.loader import FORMAT as ONNX
from .torch_vae.checkpoint import FORMAT as OURS
from .torch_vae.checkpoint import OPTIMIZER, WEIGHTS

FORMATS: tuple[ModelFormat, ...] = (ONNX, OURS)  # an ONNX folder is recognised first: its manifest says so
CACHE, SNAPSHOTS = folder_files.CACHE, folder_files.SNAPSHOTS


def format_of(folder) -> ModelFormat | None:
    """The format a folder is written in, by its marker file (ours also by its weights alone); None: no model."""
    folder = Path(folder)
    for fmt in FORMATS:
        if (folder / fmt.marker).exists():
            return fmt
    return OURS if (folder / WEIGHTS).exists() else None


def holds_model(folder) -> bool:
    """A model (or the start of one) is saved in `folder`: training there must resume or choose another folder."""
    return format_of(folder) is not None


def _format_or_refuse(folder: Path) -> ModelFormat:
    if not folder.is_dir():
        raise CheckpointError(f"model folder {folder} does not exist; pick one from the model list")
    fmt = format_of(folder)
    if fmt is None:
        raise CheckpointError(f"{folder} holds no model: a model folder has config.json and model.safetensors "
                              "(trained here) or vae.json, encoder.onnx and decoder.onnx (ONNX)")
    return fmt


def load_model(folder) -> LoadedModel:
    """A model folder of any format, behind the one interface (models/base.py)."""
    folder = Path(folder)
    return _format_or_refuse(folder).load(folder)


def training_refusal(folder) -> str | None:
    """Why the model in `folder` cannot be trained here (with what to do instead), or None when it can."""
    folder = Path(folder)
    fmt = format_of(folder)
    return fmt.training_refusal(folder) if fmt else None


def load_for_training(folder) -> LoadedModel:
    """A model to train further: only ours; another format is refused with what to do instead."""
    folder = Path(folder)
    fmt = _format_or_refuse(folder)
    refusal = fmt.training_refusal(folder)
    if refusal:
        raise CheckpointError(refusal)
    return fmt.load(folder)


def import_zip(name: str, data: bytes, parent=None) -> Path:
    """An uploaded zip of a model folder, checked and installed (models/onnx/importing.py: the ONNX contract is the
    one way a model trained elsewhere arrives, and what an import may write)."""
    from .onnx.importing import import_zip as import_onnx_zip  # local: the zip reader loads only when used

    return import_onnx_zip(name, data, parent)


def read_config(folder) -> ModelConfig:
    """The folder's own description (image shape, latent size, dataset, classes), read without loading the model."""
    folder = Path(folder)
    return _format_or_refuse(folder).read_config(folder)


def weights_hash(folder) -> str:
    """16 hex digits naming exactly what the folder's model computes: the key of its cache/."""
    folder = Path(folder)
    return _format_or_refuse(folder).weights_hash(folder)


def describe(folder) -> ModelInfo:
    """One folder's list entry. Never raises: one bad folder must not take the list (every page's sidebar) down."""
    folder = Path(folder)
    fmt = format_of(folder) or OURS
    try:
        return fmt.describe(folder)
    except Exception as err:  # noqa: BLE001 - whatever is wrong with the folder becomes its entry's error
        info = ModelInfo.blank(folder, fmt.kind, f"{folder} cannot be read as a model ({type(err).__name__}: {err})")
        info.trainable = fmt.training_refusal(folder) is None
        return info


def list_models(dirs: list[Path] | None = None) -> list[ModelInfo]:
    """Model folders in `dirs` (default: the models folder, then the shipped ones), newest first per folder."""
    found: list[ModelInfo] = []
    for parent in dirs if dirs is not None else [paths.models_dir(), paths.PRETRAINED_DIR]:
        try:
            folders = [p for p in Path(parent).iterdir()
                       if p.is_dir() and not p.name.startswith(".") and holds_model(p)]
        except OSError:  # missing or unreadable: nothing to list there
            continue
        found.extend(sorted((describe(p) for p in folders), key=lambda m: (-m.modified, m.name)))
    return found


# --- delete / zip / prune ------------------------------------------------------------------------------------------
STAGING_PREFIXES = (folder_files.IMPORT_STAGING, folder_files.BRING_STAGING)
STALE_STAGING_S, EMPTY_FOR_S = 900.0, 60.0  # a staging folder this old was left by a kill; an empty one, by a kill
# before a first epoch was saved (a running training fills its reserved folder within its first epoch)


def remove_leftovers(parent=None, now: float | None = None) -> list[str]:
    """What a kill leaves in the models folder, removed (at a server's start): stale staging folders, and folders
    older than a minute that are empty. Returns the names removed. A model is never touched."""
    import time

    parent = Path(parent) if parent is not None else paths.models_dir()
    now = time.time() if now is None else now
    removed = []
    try:
        entries = [p for p in parent.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []
    for folder in entries:
        try:
            age = now - folder.stat().st_mtime
            stale = folder.name.startswith(STAGING_PREFIXES) and age > STALE_STAGING_S
            empty = not folder.name.startswith(".") and age > EMPTY_FOR_S and not any(folder.iterdir())
            if stale:
                shutil.rmtree(folder)
            elif empty:
                folder.rmdir()
            else:
                continue
        except OSError:
            continue
        removed.append(folder.name)
    return removed
def delete_model(folder) -> None:
    """Delete a user's model folder; refuse shipped folders and anything that is not only a model's files."""
    folder = Path(folder)
    if folder_files.is_read_only(folder):
        raise CheckpointError(f"{folder} is a pretrained model shipped with the app; it cannot be deleted")
    if folder.is_symlink() or not folder.is_dir():
        raise CheckpointError(f"{folder} is not a model folder (missing or a link); nothing was deleted")
    fmt = format_of(folder)
    entries = {p.name for p in folder.iterdir()}
    foreign = sorted(n for n in entries if not (fmt and fmt.own_file(n))
                     and not (n.startswith(TEMP_PREFIX) and n.endswith(TEMP_SUFFIX)))
    if fmt is None or foreign:
        why = (f"it holds other files ({', '.join(foreign[:5])})" if fmt
               else "it holds no model (no config.json, model.safetensors or vae.json)")
        raise CheckpointError(f"{folder} does not look like a model folder: {why}; nothing was deleted, "
                              "remove it by hand if you are sure")
    shutil.rmtree(folder)


def zip_model(folder) -> bytes:
    """The folder as a zip (entries under "<name>/"), without cache/, optimizer state and snapshots/: for sharing the
    model. Snapshots are the training's by-product, up to 50 display decoders (~1 MB each for the shipped z16 model)
    that would outweigh the model itself, and the import door writes only the ONNX contract's files anyway (models/
    onnx/importing.py), so they could not arrive by zip; a hand-unpacked zip opens without a movie."""
    folder = Path(folder)
    fmt = format_of(folder) or OURS
    for required in fmt.required:
        if not (folder / required).is_file():
            raise CheckpointError(f"{folder / required} is missing; only complete model folders can be zipped")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if (not path.is_file() or relative.parts[0] in (CACHE, OPTIMIZER, SNAPSHOTS)
                    or any(part.startswith(".") for part in relative.parts)):
                continue
            archive.write(path, f"{folder.name}/{relative.as_posix()}")
    return buffer.getvalue()


def prune_stale_caches(folder) -> list[str]:
    """Delete cache/<hash>/ folders of weights the folder no longer holds (a resumed model's old maps and
    encodings); returns the names removed. Nothing is removed when the current weights cannot be read."""
    cache = Path(folder) / CACHE
    try:
        current = weights_hash(folder)
        stale = [p for p in cache.iterdir() if p.is_dir() and not p.is_symlink() and p.name != current]
    except (CheckpointError, OSError):
        return []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in stale]
