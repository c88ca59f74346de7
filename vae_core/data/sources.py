"""Every dataset behind one loader: Fashion-MNIST and MNIST (IDX files), scikit-learn digits, the user's own
pictures (a folder or a zip). Each ends as a `Dataset` of uint8 arrays (dataset.py)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import DataError
from . import roots
from .arrays import load_arrays
from .dataset import Dataset, SourceStatus
from .digits import load_digits
from .download import how_to_get
from .folder import load_pictures
from .idx import idx_sources, load_idx_dataset, locate

DATASET_NAMES = ("fashion-mnist", "mnist", "digits")


def load_dataset(name: str, data_dir: str | Path | None = None, download: bool = False, progress=None,
                 image_shape=(1, 28, 28)) -> Dataset:
    """Load a named dataset, "folder:<path>" (or a path to a .zip) of pictures, or "npz:<path>" of arrays; a
    relative path is looked for under the data roots (roots.locate). progress(fraction, message) is optional;
    image_shape applies to pictures only (the built-in datasets are 1x28x28; arrays are what they are)."""
    text = check_dataset_name(name)
    location = roots.user_location(text)
    if location is not None:
        path = roots.locate(location)
        if text.startswith("npz:"):
            return load_arrays(text, path, progress)
        return load_pictures(text, path, tuple(image_shape), progress)
    key = text.lower().replace("_", "-")
    if key == "digits":
        return dataclasses.replace(load_digits())
    return load_idx_dataset(key, data_dir, download, progress)  # fashion-mnist or mnist (check_dataset_name)


def check_dataset_name(name: str) -> str:
    """`name` stripped when it names a dataset load_dataset knows how to read (whether or not it is on this machine):
    a built-in name, folder:<path> or npz:<path>. Otherwise a DataError saying what a name may be."""
    text = str(name).strip()
    location = roots.user_location(text)
    if location is not None:
        if not location.strip():  # "folder:" alone would scan the current folder, or the whole data root
            raise DataError(f"{text!r} names no path: write folder:<path> or npz:<path>")
        return text
    if text.lower().replace("_", "-") not in DATASET_NAMES:
        raise DataError(f"Unknown dataset {text!r}. Choose one of {', '.join(DATASET_NAMES)}, "
                        "'folder:<path>' for your own pictures (or a path to a .zip), or 'npz:<path>' for arrays.")
    return text


def list_sources(data_dir=None) -> list[SourceStatus]:
    return idx_sources(data_dir) + [SourceStatus("digits", True, "scikit-learn (bundled)", how_to_get("digits"))]


def default_dataset_name() -> str:
    return "fashion-mnist" if locate("fashion-mnist")[0] else "digits"
