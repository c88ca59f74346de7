"""Arrays a researcher already has: "npz:<path>", an .npz or .npy file of images (N, H, W) or (N, H, W, C), uint8 or
float in [0, 1], with optional labels and class names. Read-only and memory-mapped where possible (an .npy file;
an .npz member is read when it is first used); never pickles (allow_pickle=False).

An .npz names its arrays: `images` (or the only 3-D/4-D array), `labels`, `class_names`; or `train_images`,
`test_images` (+ `train_labels`, `test_labels`) for a split of its own. Without one, the fixed 90/10 split of
folder datasets applies.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Dataset, ImageRows, split_rows

MAX_CLASSES = 10_000
CHECK_ROWS = 4096  # rows read at a time to check a float array's range: memory stays small whatever N


def _open(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(f"{path} does not exist. Give an .npz or .npy file of images (N, H, W) or (N, H, W, C).")
    try:
        if path.suffix.lower() == ".npy":
            return {"images": np.load(path, mmap_mode="r", allow_pickle=False)}
        archive = np.load(path, allow_pickle=False)
        return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{path} is not a readable .npz/.npy file of plain arrays ({err}). Save it with "
                        "numpy.savez(path, images=..., labels=...), without object arrays.") from None


def _images(path: Path, arrays: dict, key: str | None = None) -> np.ndarray:
    if key is None:
        key = "images" if "images" in arrays else next(
            iter([k for k, v in arrays.items() if v.ndim in (3, 4)] or [None]), None)
        if key is None or (key != "images" and sum(v.ndim in (3, 4) for v in arrays.values()) > 1):
            raise DataError(f"{path} holds {', '.join(arrays) or 'no arrays'}; name the images 'images' (N, H, W) "
                            "or (N, H, W, C)")
    images = arrays[key]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3)) or len(images) == 0:
        raise DataError(f"{path}: '{key}' has shape {images.shape}; images must be (N, H, W) or (N, H, W, C) with "
                        "C 1 or 3, and N > 0")
    if images.ndim == 4 and images.shape[3] == 1:
        images = images[..., 0]
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.floating):
            raise DataError(f"{path}: '{key}' is {images.dtype}; images must be uint8 or floats in [0, 1]")
        for start in range(0, len(images), CHECK_ROWS):
            block = images[start:start + CHECK_ROWS]
            if not np.isfinite(block).all() or block.min() < 0 or block.max() > 1:
                raise DataError(f"{path}: '{key}' holds floats outside [0, 1] (or NaN): scale them to [0, 1], or "
                                "save uint8 pixels")
    return images


def _labels(path: Path, arrays: dict, key: str, n: int) -> np.ndarray:
    if key not in arrays:
        return np.zeros(n, np.int64)
    labels = np.asarray(arrays[key])
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer) or (n and labels.min() < 0):
        raise DataError(f"{path}: '{key}' has shape {labels.shape} and type {labels.dtype}; it must hold one "
                        f"whole number ≥ 0 per image ({n:,})")
    return labels.astype(np.int64)


def _class_names(path: Path, arrays: dict, labels: list[np.ndarray]) -> list[str]:
    top = max((int(part.max()) for part in labels if len(part)), default=0)
    if "class_names" not in arrays:
        return [str(i) for i in range(top + 1)] if any("labels" in k for k in arrays) else ["unlabelled"]
    names = [str(name) for name in np.asarray(arrays["class_names"]).ravel()]
    if len(names) > MAX_CLASSES or len(names) <= top:
        raise DataError(f"{path}: class_names has {len(names)} names but the labels go up to {top}")
    return names


def load_arrays(name: str, path: Path, progress=None) -> Dataset:
    """The dataset called `name` ("npz:<path>") from the file at `path`."""
    arrays = _open(path)
    if "train_images" in arrays and "test_images" in arrays:
        train, test = _images(path, arrays, "train_images"), _images(path, arrays, "test_images")
        if train.shape[1:] != test.shape[1:]:
            raise DataError(f"{path}: train_images {train.shape} and test_images {test.shape} differ in image size")
        train_labels = _labels(path, arrays, "train_labels", len(train))
        test_labels = _labels(path, arrays, "test_labels", len(test))
        parts = (ImageRows(train, np.arange(len(train))), train_labels, ImageRows(test, np.arange(len(test))),
                 test_labels)
    else:
        images = _images(path, arrays)
        labels = _labels(path, arrays, "labels", len(images))
        train_rows, test_rows = split_rows(len(images))
        parts = (ImageRows(images, np.sort(train_rows)), labels[np.sort(train_rows)],
                 ImageRows(images, np.sort(test_rows)), labels[np.sort(test_rows)])
    class_names = _class_names(path, arrays, [parts[1], parts[3]])
    if progress:
        progress(1.0, f"Read {len(parts[0]) + len(parts[2]):,} images from {path.name}")
    return Dataset(name, *parts, class_names, f"{len(parts[0]) + len(parts[2]):,} images from {path}")
