"""Datasets behind one loader: Fashion-MNIST and MNIST (IDX files), scikit-learn digits, the user's own images.

Every source ends as uint8 arrays, (N,H,W) grey or (N,H,W,C) colour, plus int64 labels; `to_tensor` is the
single place that turns them into the float (N,C,H,W) batches the model takes.
"""
import dataclasses
import functools
import gzip
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from . import images, paths, zips
from .download import download_dataset, how_to_get
from .errors import DataError, ImageError

DATASET_NAMES = ("fashion-mnist", "mnist", "digits")
IDX_FILES = {  # role -> file name; the .gz and the un-gzipped name are both accepted
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
CLASS_NAMES = {
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "mnist": [str(digit) for digit in range(10)],
    "digits": [str(digit) for digit in range(10)],
}
SYSTEM_DIRS = {"fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")]}  # Debian: dataset-fashion-mnist
# Both datasets use the same file names; their first training labels tell a misplaced copy apart.
FIRST_TRAIN_LABELS = {"fashion-mnist": (9, 0, 0, 3, 0, 2, 7, 2, 5, 5), "mnist": (5, 0, 4, 1, 9, 2, 1, 3, 1, 4)}
DIGITS_TEST_SIZE = 300
SPLIT_SEED = 0
# User datasets may be far bigger than one upload; the per-member and bomb checks still apply.
DATASET_LIMITS = zips.UploadLimits(max_files=10**7, max_zip_members=10**6, max_zip_total_bytes=4 * 10**9)


@dataclass
class Dataset:
    name: str                 # "fashion-mnist", "mnist", "digits", "folder:<path>"
    train_images: np.ndarray  # uint8 (N,H,W) grey or (N,H,W,C) colour
    train_labels: np.ndarray  # int64 (N,)
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: list[str]
    source: str               # human-readable: where it was loaded from
    skipped: list[str] = field(default_factory=list)  # "file: reason" for user images that could not be read

    @property
    def image_shape(self) -> tuple[int, int, int]:
        shape = self.train_images.shape
        return (1, shape[1], shape[2]) if len(shape) == 3 else (shape[3], shape[1], shape[2])

    def label_name(self, label) -> str:
        """A label's class name; a label outside the class list (a stray id) shows as its number."""
        label = int(label)
        return self.class_names[label] if 0 <= label < len(self.class_names) else str(label)


@dataclass
class SourceStatus:
    name: str
    available: bool
    where: str
    how_to_get: str


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


def _locate(name: str, data_dir=None) -> tuple[dict[str, Path] | None, list[Path], list[str]]:
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


def _load_idx_dataset(name: str, data_dir, download: bool, progress) -> Dataset:
    found, searched, partial = _locate(name, data_dir)
    if found is None and download:
        download_dataset(name, progress)
        found, searched, partial = _locate(name, data_dir)
    if found is None:
        wanted = ", ".join(f"{base}.gz" for base in IDX_FILES.values())
        incomplete = f" Incomplete: {'; '.join(partial)}." if partial else ""
        raise DataError(f"{name} was not found. Looked for {wanted} (or the names without .gz) in: "
                        f"{', '.join(map(str, searched))}.{incomplete} To get it: {how_to_get(name)}")
    key = tuple((role, str(path.resolve()), path.stat().st_mtime_ns, path.stat().st_size)
                for role, path in sorted(found.items()))
    return dataclasses.replace(_load_idx_cached(name, key))  # a fresh record; the arrays are shared, read-only


def _split(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed seeded 90/10 split (train, test); a single image is both, so neither split is empty."""
    order = np.random.default_rng(SPLIT_SEED).permutation(count)
    n_test = max(1, count // 10) if count >= 2 else 0
    return (order[n_test:], order[:n_test]) if n_test else (order, order)


@functools.lru_cache(maxsize=1)
def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()  # 8x8, values 0..16, light digit on dark like MNIST
    small = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    # Framed like MNIST: the digit fills the central 20x20 box of a 28x28 image.
    large = np.zeros((len(small), 28, 28), np.uint8)
    for index, picture in enumerate(small):
        large[index, 4:24, 4:24] = np.asarray(Image.fromarray(picture).resize((20, 20), Image.Resampling.BILINEAR))
    large.flags.writeable = False
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(large))
    test, train = order[:DIGITS_TEST_SIZE], order[DIGITS_TEST_SIZE:]
    return Dataset("digits", large[train], labels[train], large[test], labels[test], list(CLASS_NAMES["digits"]),
                   "scikit-learn load_digits (8x8, upsampled to 28x28)")


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
        elif path.stat().st_size > DATASET_LIMITS.max_file_bytes:
            yield parts, None, f"over the {DATASET_LIMITS.max_file_bytes / 1e6:.0f} MB per-file limit"
        else:
            yield parts, path.read_bytes(), None


def _zip_entries(path: Path):
    for entry in zips.iter_zip(path.name, path.read_bytes(), DATASET_LIMITS):
        inner = entry.name[len(path.name) + 1:] if entry.name.startswith(path.name + "/") else entry.name
        yield PurePosixPath(inner).parts or (entry.name,), entry.data, entry.error


def _load_user_images(location: str, image_shape, progress) -> Dataset:
    """A folder or zip of pictures; one subfolder per class, pictures in the root are "unlabelled"."""
    root = Path(location).expanduser()
    if root.is_dir():
        entries = _folder_entries(root, progress)
    elif root.is_file():
        entries = _zip_entries(root)
    else:
        raise DataError(f"{root} does not exist. Give a folder of pictures (one subfolder per class) or a .zip.")
    records, skipped = [], []
    for parts, content, error in entries:
        name = "/".join(parts)
        if content is None:
            skipped.append(f"{name}: {error}")
            continue
        try:
            picture, _ = images.decode_image(content, name)
            records.append((parts, images.preprocess(picture, image_shape).array))
        except ImageError as err:
            skipped.append(f"{name}: {err}")
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
    train, test = _split(len(stack))
    if progress:
        progress(1.0, f"Read {len(stack):,} pictures, skipped {len(skipped):,}")
    return Dataset(f"folder:{root}", stack[train], labels[train], stack[test], labels[test], class_names,
                   f"{len(stack):,} pictures from {root} ({len(skipped):,} skipped)", skipped)


def load_dataset(name: str, data_dir: str | Path | None = None, download: bool = False, progress=None,
                 image_shape=(1, 28, 28)) -> Dataset:
    """Load a named dataset, "folder:<path>", or a path to a .zip. progress(fraction, message) is optional;
    image_shape applies to user pictures only (the built-in datasets are 1x28x28)."""
    text = str(name).strip()
    if text.startswith("folder:"):
        return _load_user_images(text[len("folder:"):], tuple(image_shape), progress)
    if text.lower().endswith(".zip"):
        return _load_user_images(text, tuple(image_shape), progress)
    key = text.lower().replace("_", "-")
    if key == "digits":
        return dataclasses.replace(_load_digits())
    if key in ("fashion-mnist", "mnist"):
        return _load_idx_dataset(key, data_dir, download, progress)
    raise DataError(f"Unknown dataset {name!r}. Choose one of {', '.join(DATASET_NAMES)}, "
                    "'folder:<path>' for your own pictures, or a path to a .zip.")


def list_sources(data_dir=None) -> list[SourceStatus]:
    statuses = []
    for name in ("fashion-mnist", "mnist"):
        found, searched, _ = _locate(name, data_dir)
        where = str(found["train_images"].parent) if found else f"not found in {', '.join(map(str, searched))}"
        statuses.append(SourceStatus(name, found is not None, where, how_to_get(name)))
    statuses.append(SourceStatus("digits", True, "scikit-learn (bundled)", how_to_get("digits")))
    return statuses


def default_dataset_name() -> str:
    return "fashion-mnist" if _locate("fashion-mnist")[0] else "digits"


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N,H,W) or (N,H,W,C) -> float32 (N,C,H,W) in [0, 1]."""
    array = np.asarray(images)
    if array.ndim not in (3, 4):
        raise ValueError(f"to_tensor needs a batch (N,H,W) or (N,H,W,C), got shape {array.shape}")
    scale = 255.0 if array.dtype == np.uint8 else 1.0  # floats are taken as already in [0, 1]
    tensor = torch.from_numpy(array.astype(np.float32) / scale)
    return tensor.unsqueeze(1) if array.ndim == 3 else tensor.permute(0, 3, 1, 2).contiguous()
