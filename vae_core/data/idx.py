"""Fashion-MNIST and MNIST from their IDX files (gzipped or not), searched in the data folders and Debian's."""
from __future__ import annotations

import dataclasses
import functools
import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import DataError
from .dataset import CLASS_NAMES, Dataset, SourceStatus
from .download import download_dataset, how_to_get

IDX_FILES = {  # role -> file name; the .gz and the un-gzipped name are both accepted
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
SYSTEM_DIRS = {"fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")]}  # Debian: dataset-fashion-mnist
# Both datasets use the same file names; their first training labels tell a misplaced copy apart.
FIRST_TRAIN_LABELS = {"fashion-mnist": (9, 0, 0, 3, 0, 2, 7, 2, 5, 5), "mnist": (5, 0, 4, 1, 9, 2, 1, 3, 1, 4)}


def _search_dirs(name: str, data_dir) -> list[Path]:
    roots = [Path(data_dir)] if data_dir else []
    if os.environ.get("VAE_DATA_DIR"):
        roots.append(Path(os.environ["VAE_DATA_DIR"]))
    roots.append(paths.data_dir())
    folders = [folder for root in roots for folder in (root / name, root)] + SYSTEM_DIRS.get(name, [])
    return list(dict.fromkeys(folder.expanduser() for folder in folders))


def _files_in(folder: Path) -> dict[str, Path]:
    found = {}
    for role, base in IDX_FILES.items():
        for candidate in (folder / f"{base}.gz", folder / base):
            if candidate.is_file():
                found[role] = candidate
                break
    return found


def locate(name: str, data_dir=None) -> tuple[dict[str, Path] | None, list[Path], list[str]]:
    """(the four files of the first complete folder or None, folders searched, notes on incomplete folders)."""
    searched, partial = _search_dirs(name, data_dir), []
    for folder in searched:
        found = _files_in(folder)
        if len(found) == len(IDX_FILES):
            return found, searched, partial
        if found:
            missing = [IDX_FILES[role] for role in IDX_FILES if role not in found]
            partial.append(f"{folder} lacks {', '.join(missing)}")
    return None, searched, partial


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse one IDX file of unsigned bytes (gzipped or not), checking its header against its length. An
    uncompressed file is memory-mapped, not read: a million images stay on disk until they are looked at."""
    header = 4 + 4 * ndim
    with open(path, "rb") as handle:
        raw = handle.read(header)  # enough to tell gzip (1f 8b) from a plain IDX header
    gzipped = raw[:2] == b"\x1f\x8b"
    if gzipped:
        try:
            raw = gzip.decompress(path.read_bytes())
        except (OSError, EOFError, zlib.error) as err:
            raise DataError(f"{path} is a damaged gzip file ({err}). Delete it and get it again.") from err
    size = len(raw) if gzipped else path.stat().st_size
    if len(raw) < header or raw[:3] != b"\x00\x00\x08" or raw[3] != ndim:
        raise DataError(f"{path} is not an IDX file of unsigned bytes with {ndim} dimension(s) "
                        f"(header {raw[:4].hex() or 'empty'}). Replace it with the original file.")
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if size != header + int(np.prod(dims)):
        raise DataError(f"{path} is truncated or damaged: its header promises {dims} "
                        f"({header + int(np.prod(dims)):,} bytes) but it holds {size:,}. Get the file again.")
    if gzipped:
        return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)  # read-only view: shared by the cache
    if not int(np.prod(dims)):
        return np.zeros(dims, np.uint8)  # mmap cannot map zero bytes
    return np.memmap(path, np.uint8, mode="r", offset=header, shape=dims)  # read-only, shared by the cache


@functools.lru_cache(maxsize=4)
def _load_idx_cached(name: str, files: tuple[tuple[str, str, int, int], ...]) -> Dataset:
    """Keyed on (role, path, mtime, size), so a replaced file is read again."""
    arrays = {role: _read_idx(Path(path), 3 if role.endswith("images") else 1) for role, path, _, _ in files}
    where = {role: path for role, path, _, _ in files}
    n_classes = len(CLASS_NAMES[name])
    for split in ("train", "test"):
        pictures, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(pictures) != len(labels) or len(pictures) == 0:
            raise DataError(f"{where[f'{split}_images']} holds {len(pictures):,} images but "
                            f"{where[f'{split}_labels']} holds {len(labels):,} labels. Get both files again.")
        if labels.max() >= n_classes:
            raise DataError(f"{where[f'{split}_labels']} has label {labels.max()}; {name} has {n_classes} classes.")
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise DataError(f"Train and test images in {Path(where['train_images']).parent} differ in size.")
    other = "mnist" if name == "fashion-mnist" else "fashion-mnist"
    if tuple(arrays["train_labels"][:10]) == FIRST_TRAIN_LABELS[other]:
        raise DataError(f"The files in {Path(where['train_labels']).parent} are {other}, not {name}. "
                        f"Put {name}'s files in {paths.data_dir() / name}.")
    return Dataset(name, arrays["train_images"], arrays["train_labels"].astype(np.int64),
                   arrays["test_images"], arrays["test_labels"].astype(np.int64),
                   list(CLASS_NAMES[name]), f"IDX files in {Path(where['train_images']).parent}")


def load_idx_dataset(name: str, data_dir, download: bool, progress) -> Dataset:
    found, searched, partial = locate(name, data_dir)
    if found is None and download:
        download_dataset(name, progress)
        found, searched, partial = locate(name, data_dir)
    if found is None:
        wanted = ", ".join(f"{base}.gz" for base in IDX_FILES.values())
        incomplete = f" Incomplete: {'; '.join(partial)}." if partial else ""
        raise DataError(f"{name} was not found. Looked for {wanted} (or the names without .gz) in: "
                        f"{', '.join(map(str, searched))}.{incomplete} To get it: {how_to_get(name)}")
    key = tuple((role, str(path.resolve()), path.stat().st_mtime_ns, path.stat().st_size)
                for role, path in sorted(found.items()))
    return dataclasses.replace(_load_idx_cached(name, key))  # a fresh record; the arrays are shared, read-only


def idx_sources(data_dir=None) -> list[SourceStatus]:
    statuses = []
    for name in ("fashion-mnist", "mnist"):
        found, searched, _ = locate(name, data_dir)
        where = str(found["train_images"].parent) if found else f"not found in {', '.join(map(str, searched))}"
        statuses.append(SourceStatus(name, found is not None, where, how_to_get(name)))
    return statuses
