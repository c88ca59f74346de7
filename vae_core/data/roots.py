"""Which folders the app may read pictures from, and where a dataset's path points: dataset folders, zips and array
files opened by the web app must lie inside a data root. Without this, a path typed on the Train page, or
`"dataset": "folder:<path>"` in any model's config.json, made the server show pictures from anywhere it can read.
The CLI takes any path: it is the user's own shell.

Data roots: the project's data/, $VAE_DATA_DIR, and every folder in $VAE_DATA_ROOTS (separated by os.pathsep).
"""
from __future__ import annotations

import os
from pathlib import Path

from .. import paths
from ..errors import DataError

ROOTS_VARIABLE = "VAE_DATA_ROOTS"


def data_roots() -> list[Path]:
    roots = [paths.data_dir()]
    if os.environ.get("VAE_DATA_DIR"):
        roots.append(Path(os.environ["VAE_DATA_DIR"]))
    roots += [Path(part) for part in os.environ.get(ROOTS_VARIABLE, "").split(os.pathsep) if part.strip()]
    return list(dict.fromkeys(root.resolve() for root in roots))


PREFIXES = ("folder:", "npz:")  # the user's own data: a folder (or zip) of pictures, or arrays in an .npz / .npy


def user_location(name: str) -> str | None:
    """The path inside a "folder:<path>", "npz:<path>" or "<file>.zip" dataset name; None for the named datasets."""
    text = str(name).strip()
    for prefix in PREFIXES:
        if text.startswith(prefix):
            return text[len(prefix):].strip()
    return text if text.lower().endswith(".zip") else None


def locate(location: str) -> Path:
    """Where a dataset's path points, exactly as the loader reads it and the app checks it (one function for both):
    "~" is the home folder; an absolute path is itself; a relative one is looked for under each data root, then the
    working folder, so a model folder's `"dataset": "folder:pics"` moves between machines. Not found anywhere: the
    first data root's, so the message names where it was expected."""
    path = Path(location).expanduser()
    if path.is_absolute():
        return path
    roots = data_roots()
    for candidate in [*(root / path for root in roots), Path.cwd() / path]:
        if candidate.exists():
            return candidate
    return roots[0] / path


def check_app_dataset(name: str) -> None:
    """Raise DataError unless `name` is a named dataset or a folder/zip/array file inside a data root. The path is
    located as the loader will (`locate`) and resolved, so a link inside a root that points out of it is refused too."""
    location = user_location(name)
    if location is None:
        return
    roots = data_roots()
    resolved = locate(location).resolve() if location else None
    if resolved is not None and any(resolved.is_relative_to(root) for root in roots):
        return
    raise DataError(f"{location or 'an empty path'} is outside the folders this app may read pictures from "
                    f"({', '.join(str(r) for r in roots)}). Put the pictures under one of them, or add their folder "
                    f"to ${ROOTS_VARIABLE} (several separated by '{os.pathsep}') and restart the app.")
