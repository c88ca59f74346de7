"""The user's own pictures: a folder (one subfolder per class, pictures in the root are "unlabelled") or a .zip,
read as they are (images.fit_picture): the same size gives the same pixels; another size is resized whole."""
from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np

from .. import images, zips
from ..errors import DataError, ImageError
from .dataset import Dataset, split_rows

# User datasets may be far bigger than one upload; the per-member and bomb checks still apply.
DATASET_LIMITS = zips.UploadLimits(max_files=10**7, max_zip_members=10**6, max_zip_total_bytes=4 * 10**9)


def _folder_entries(root: Path, progress):
    """Yield (relative parts, bytes or None, error) for every file under a folder, hidden files skipped."""
    files = [p for p in sorted(root.rglob("*")) if p.is_file()
             and not any(part.startswith(".") or part == "__MACOSX" for part in p.relative_to(root).parts)]
    for index, path in enumerate(files):
        parts = path.relative_to(root).parts
        if progress and index % 200 == 0:
            progress(index / len(files), f"Reading {root.name}: {index:,} of {len(files):,} files")
        if path.suffix.lower() not in zips.EXTENSION_FORMATS:
            yield parts, None, f"not an image file ({path.suffix or 'no extension'})"
            continue
        try:
            if path.stat().st_size > DATASET_LIMITS.max_file_bytes:
                yield parts, None, f"over the {DATASET_LIMITS.max_file_bytes / 1e6:.0f} MB per-file limit"
            else:
                yield parts, path.read_bytes(), None
        except OSError as err:  # unreadable, or gone meanwhile: that file is skipped, the rest is read
            yield parts, None, f"cannot be read ({err.strerror or err})"


def _zip_entries(path: Path):
    for entry in zips.iter_zip(path.name, path.read_bytes(), DATASET_LIMITS):
        inner = entry.name[len(path.name) + 1:] if entry.name.startswith(path.name + "/") else entry.name
        yield PurePosixPath(inner).parts or (entry.name,), entry.data, entry.error


def load_pictures(name: str, root: Path, image_shape, progress) -> Dataset:
    """A folder or zip of pictures at `root` (the dataset called `name`); one subfolder per class, pictures in the
    root are "unlabelled"."""
    if root.is_dir():
        entries = _folder_entries(root, progress)
    elif root.is_file():
        entries = _zip_entries(root)
    else:
        raise DataError(f"{root} does not exist. Give a folder of pictures (one subfolder per class) or a .zip.")
    records, skipped, resized = [], [], 0
    for parts, content, error in entries:
        label = "/".join(parts)
        if content is None:
            skipped.append(f"{label}: {error}")
            continue
        try:
            picture, _ = images.decode_image(content, label)
            array, was_resized = images.fit_picture(picture, image_shape)
            records.append((parts, array))
            resized += was_resized
        except ImageError as err:
            skipped.append(f"{label}: {err}")
    if not records:
        examples = "; ".join(skipped[:3]) or "it holds no files"
        raise DataError(f"No readable pictures in {root} ({len(skipped)} skipped: {examples}). "
                        "Use PNG/JPEG/GIF/BMP/WebP/TIFF files, one subfolder per class.")
    # A zip often wraps everything in one top folder: the classes are one level further down.
    if all(len(parts) > 2 for parts, _ in records) and len({parts[0] for parts, _ in records}) == 1:
        records = [(parts[1:], array) for parts, array in records]
    classes = [parts[0] if len(parts) > 1 else "unlabelled" for parts, _ in records]
    class_names = sorted(set(classes))
    labels = np.array([class_names.index(c) for c in classes], np.int64)
    stack = np.stack([array for _, array in records])
    train, test = split_rows(len(stack))
    if progress:
        progress(1.0, f"Read {len(stack):,} pictures, skipped {len(skipped):,}")
    _, height, width = image_shape
    rule = (f"; {resized:,} of another size resized whole to {height}×{width} (no cropping)" if resized
            else "; every picture as it is")
    return Dataset(name, stack[train], labels[train], stack[test], labels[test], class_names,
                   f"{len(stack):,} pictures from {root} ({len(skipped):,} skipped{rule})", skipped)
