"""What every dataset source gives: uint8 image arrays, (N, H, W) grey or (N, H, W, C) colour, plus int64 labels;
and `to_tensor`, the single place that turns them into the float (N, C, H, W) batches a model takes."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

SPLIT_SEED = 0  # the fixed 90/10 train/test split of datasets that come without one
CLASS_NAMES = {
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "mnist": [str(digit) for digit in range(10)],
    "digits": [str(digit) for digit in range(10)],
}


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


def split_rows(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed seeded 90/10 split (train, test); a single image is both, so neither split is empty."""
    order = np.random.default_rng(SPLIT_SEED).permutation(count)
    n_test = max(1, count // 10) if count >= 2 else 0
    return (order[n_test:], order[:n_test]) if n_test else (order, order)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N,H,W) or (N,H,W,C) -> float32 (N,C,H,W) in [0, 1]."""
    array = np.asarray(images)
    if array.ndim not in (3, 4):
        raise ValueError(f"to_tensor needs a batch (N,H,W) or (N,H,W,C), got shape {array.shape}")
    scale = 255.0 if array.dtype == np.uint8 else 1.0  # floats are taken as already in [0, 1]
    tensor = torch.from_numpy(array.astype(np.float32) / scale)
    return tensor.unsqueeze(1) if array.ndim == 3 else tensor.permute(0, 3, 1, 2).contiguous()


class ImageRows:
    """Some rows of an image array, read as one array without copying it: a memory-mapped .npy stays on disk until
    rows are looked at. Float pixels in [0, 1] become uint8 on access (every source gives uint8). Indexing by a row,
    a slice or an array of rows returns numpy, like the array itself."""

    def __init__(self, source: np.ndarray, rows: np.ndarray):
        self.source, self.rows = source, np.asarray(rows, dtype=np.int64)
        self.shape = (len(self.rows), *source.shape[1:])
        self.dtype, self.ndim = np.dtype(np.uint8), len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def _pixels(self, values: np.ndarray) -> np.ndarray:
        if values.dtype == np.uint8:
            return np.asarray(values)
        return np.round(np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)

    def __getitem__(self, key):
        picked = self.rows[key]
        if np.ndim(picked) == 0:
            return self._pixels(self.source[int(picked)])
        order = np.argsort(picked, kind="stable")  # memory maps read fastest in file order
        out = np.empty((len(picked), *self.shape[1:]), np.uint8)
        out[order] = self._pixels(self.source[picked[order]])
        return out

    def __array__(self, dtype=None, copy=None):
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)
