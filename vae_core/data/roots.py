"""Which folders the app may read pictures from: dataset folders and zips opened by the web app must lie inside a
data root. Without this, a path typed on the Train page, or `"dataset": "folder:<path>"` in any model's
config.json, made the server show pictures from anywhere it can read. The CLI takes any path: it is the user's
own shell.

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


def user_location(name: str) -> str | None:
    """The path inside a "folder:<path>" or "<file>.zip" dataset name; None for the named datasets."""
    text = str(name).strip()
    if text.startswith("folder:"):
        return text[len("folder:"):]
    return text if text.lower().endswith(".zip") else None


def check_app_dataset(name: str) -> None:
    """Raise DataError unless `name` is a named dataset or a folder/zip inside a data root. Paths are taken as
    written ("~" is not expanded) and resolved, so a link inside a root that points out of it is refused too."""
    location = user_location(name)
    if location is None:
        return
    roots = data_roots()
    resolved = Path(location).resolve() if location.strip() else None
    if resolved is not None and any(resolved.is_relative_to(root) for root in roots):
        return
    raise DataError(f"{location or 'an empty path'} is outside the folders this app may read pictures from "
                    f"({', '.join(str(r) for r in roots)}). Put the pictures under one of them, or add their folder "
                    f"to ${ROOTS_VARIABLE} (several separated by '{os.pathsep}') and restart the app.")
