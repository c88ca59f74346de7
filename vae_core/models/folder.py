"""A model folder, whatever its format: its files read defensively, and the layout every format shares
(metrics.json, train.json, cache/<weights hash>/, where new folders go, which ones are read-only).

A model folder is data anyone could have dropped in place.

Only regular files are read (a FIFO named config.json must not block the server, a device must not stream
forever), and each kind has a size cap checked on the open file before reading. metrics.json fields of the wrong
type are dropped with a note instead of breaking a table later.
"""
from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

from .. import paths
from ..errors import CheckpointError

MB = 1 << 20
CONFIG_CAP = 1 * MB          # a config.json is ~1 kB, even with a thousand class names it stays far below this
JSON_CAP = 16 * MB           # train.json grows by ~300 bytes an epoch
WEIGHTS_CAP = 1024 * MB      # VAEConfig caps the parameter count well below this (float32)


def _open_regular(path: Path, cap: int) -> int:
    """An fd on `path`, checked to be a regular file of at most `cap` bytes. O_NONBLOCK: opening a FIFO for
    reading would otherwise wait for a writer forever; with it, fstat then tells us what we opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise CheckpointError(f"{path} cannot be opened ({err.strerror or err})") from None
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = f"{path} is not a regular file; delete it or replace it with the real file"
    elif info.st_size > cap:
        problem = (f"{path} is {info.st_size / MB:,.1f} MB, more than the {cap / MB:,.0f} MB a model folder's "
                   f"{path.name} may hold")
    if problem:
        os.close(fd)
        raise CheckpointError(problem)
    return fd


def check_regular(path: Path, cap: int) -> None:
    """Raise CheckpointError unless `path` is a regular file within `cap` (FileNotFoundError when missing)."""
    os.close(_open_regular(Path(path), cap))


def read_bytes(path: Path, cap: int) -> bytes:
    """The bytes of a regular file within `cap`; FileNotFoundError when missing, CheckpointError otherwise."""
    path = Path(path)
    fd = _open_regular(path, cap)
    try:
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(cap + 1)  # a file that grew after fstat still stops at the cap
    except OSError as err:
        raise CheckpointError(f"{path} cannot be read ({err.strerror or err})") from None
    if len(data) > cap:
        raise CheckpointError(f"{path} is larger than the {cap / MB:,.0f} MB a model folder's {path.name} may hold")
    return data


def read_text(path: Path, cap: int) -> str:
    try:
        return read_bytes(path, cap).decode("utf-8")
    except UnicodeDecodeError as err:
        raise CheckpointError(f"{path} is not UTF-8 text ({err})") from None


def read_json_object(path: Path, cap: int = JSON_CAP) -> dict:
    """metrics.json / train.json: a missing file is {}, anything else unreadable is an error naming it."""
    try:
        text = read_text(path, cap)
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise CheckpointError(f"{path} is not readable JSON ({err}); delete or fix that file") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} must hold a JSON object, not {type(data).__name__}; delete or fix it")
    return data


# --- metrics.json: each field has one type; others are dropped with a note --------------------------------------
def _number(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _numbers(v) -> bool:
    return isinstance(v, list) and all(_number(x) for x in v)


METRIC_TYPES = {
    **dict.fromkeys(("elbo", "recon", "kl", "iwae_bound", "nll", "images_per_s", "seconds"), _number),
    **dict.fromkeys(("n_images", "active_units", "iwae_k", "iwae_n", "epochs", "seed"), _count),
    "kl_per_dim": _numbers,
    "binarized": lambda v: isinstance(v, bool),
    "dataset": lambda v: isinstance(v, str),
}


def clean_metrics(raw: dict) -> tuple[dict, list[str]]:
    """(metrics with every known field of its expected type, notes naming the fields dropped). Unknown fields
    are kept as they are (nothing shows them); NaN/inf become None, which every reader already treats as absent."""
    clean, dropped = {}, []
    for key, value in raw.items():
        check = METRIC_TYPES.get(key)
        if check is not None and not check(value):
            dropped.append(f"{key} ({type(value).__name__})")
            continue
        clean[key] = None if isinstance(value, float) and not math.isfinite(value) else value
    notes = [f"metrics.json: ignored field(s) of the wrong type: {', '.join(dropped)}"] if dropped else []
    return clean, notes


def epochs_trained(train_info: dict) -> tuple[int, list[str]]:
    """Finished epochs from train.json (its history, else an "epochs" count), and a note when neither is usable."""
    history = train_info.get("history")
    if isinstance(history, list):
        return len(history), []
    epochs = train_info.get("epochs", 0)
    if _count(epochs):
        return epochs, []
    return 0, [f"train.json: ignored \"epochs\" of type {type(epochs).__name__}"]


# --- what every model folder shares, whatever its format ---------------------------------------------------------
METRICS, TRAIN, CACHE = "metrics.json", "train.json", "cache"  # measured numbers, the run, derived data per weights
SNAPSHOTS = "snapshots"  # a training's kept epochs, the movie's frames (models/snapshots.py): a folder trained here
IMPORT_STAGING, BRING_STAGING = ".import-", ".bring-"  # hidden folders filled before a rename into the list


def read_metrics(folder: Path) -> tuple[dict, list[str]]:
    """metrics.json of a folder, cleaned (clean_metrics): (metrics, notes on fields dropped)."""
    return clean_metrics(read_json_object(Path(folder) / METRICS))


def is_read_only(folder) -> bool:
    """Pretrained models ship with the app: never overwritten or deleted from it."""
    return Path(folder).resolve().is_relative_to(Path(paths.PRETRAINED_DIR).resolve())


def cache_folder(folder, weights_hash: str) -> Path:
    """Where derived data for exactly these weights is written (created by its first writer). A shipped (read-only)
    model's new caches go to $VAE_CACHE_DIR, never into pretrained/."""
    folder = Path(folder)
    if is_read_only(folder):
        return paths.cache_dir() / "shipped" / folder.name / weights_hash
    return folder / CACHE / weights_hash


def cache_folders(folder, weights_hash: str) -> list[Path]:
    """Where cached data is looked for, first hit wins: a shipped model's own cache (read, never written), then
    `cache_folder`."""
    shipped = [Path(folder) / CACHE / weights_hash] if is_read_only(folder) else []
    return shipped + [cache_folder(folder, weights_hash)]


MAX_NAME = 80  # characters of a new folder's name: a 300-character upload name must not fail with ENAMETOOLONG


def _safe_name(base_name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in base_name.strip()).strip(".-")
    return cleaned[:MAX_NAME].strip(".-") or "model"


def next_model_name(base_name: str, parent=None) -> str:
    """The folder name unique_model_dir(base_name) would create now (`<base>-<n>`, the smallest free n): what a form
    shows before a run starts, so the name proposed is the name saved (another run may still take it first)."""
    parent = Path(parent) if parent is not None else paths.models_dir()
    base = _safe_name(base_name)
    return next(f"{base}-{n}" for n in range(1, 100_000) if not (parent / f"{base}-{n}").exists())


def unique_model_dir(base_name: str, parent=None) -> Path:
    """A new, empty folder `<parent>/<base>-<n>` with the smallest free n ≥ 1, created now.

    Creating it reserves the name, so two trainings started at once never share (and overwrite) a folder.
    """
    parent = Path(parent) if parent is not None else paths.models_dir()
    parent.mkdir(parents=True, exist_ok=True)
    base = _safe_name(base_name)
    for n in range(1, 100_000):
        candidate = parent / f"{base}-{n}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise CheckpointError(f"no free folder name for {base!r} in {parent}; delete some old models")
