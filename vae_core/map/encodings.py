"""The data behind the map: one encoded split per (weights, split), cached beside the model (map/cache.py).

Encoding 10k images takes seconds and 70k tens of seconds on CPU; the app asks for the same arrays on every
page, so they are computed once per weights hash and reloaded from the model's cache afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .. import metrics
from ..data import Dataset
from ..errors import VAEError
from ..models import LoadedModel
from .cache import Cache

SPLITS = ("test", "train", "all")


@dataclass
class EncodedSplit:
    """Per-image encoder outputs and losses for one split; row i is image i of `split_images(dataset, split)`."""
    mu: np.ndarray          # (N, D) float32 encoder means: what the map projects
    logvar: np.ndarray      # (N, D)
    recon: np.ndarray       # (N,) reconstruction error, −log p(x|z) in nats
    kl: np.ndarray          # (N,) KL(q(z|x) || p(z)) in nats
    kl_per_dim: np.ndarray  # (N, D)
    elbo: np.ndarray        # (N,) per-image ELBO (negative is "loss")
    labels: np.ndarray      # (N,) int

    def __len__(self) -> int:
        return len(self.mu)

    @property
    def recon_sampled(self) -> np.ndarray:
        """The ELBO's reconstruction term, −log p(x|z) at the sampled z: −(elbo + kl) (metrics.per_image_stats).
        `recon` is the reconstruction at z = μ: what the map colours by, not a part of this ELBO."""
        return -(self.elbo + self.kl)

    @property
    def spread(self) -> np.ndarray:
        """Std of the encoder means per dimension: the unit of the Generate sliders (±3σ)."""
        return self.mu.std(axis=0).astype(np.float32) + 1e-6

    @property
    def mean_kl_per_dim(self) -> np.ndarray:
        return self.kl_per_dim.mean(axis=0)


def split_images(dataset: Dataset, split: str) -> tuple[np.ndarray | StackedImages, np.ndarray]:
    """Images and labels of a split; "all" is train followed by test (row ids index into that order), stacked
    without a copy."""
    if split == "test":
        return dataset.test_images, dataset.test_labels
    if split == "train":
        return dataset.train_images, dataset.train_labels
    if split == "all":
        return (StackedImages(dataset.train_images, dataset.test_images),
                np.concatenate([dataset.train_labels, dataset.test_labels]))
    raise VAEError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


class StackedImages:
    """Image arrays read as one, row after row, without copying them: a million 28 × 28 images are 784 MB, and a
    copy of train + test would hold them twice. Indexing by a row, a slice or an array of rows returns numpy."""

    def __init__(self, *parts: np.ndarray):
        if not parts or any(p.shape[1:] != parts[0].shape[1:] or p.dtype != parts[0].dtype for p in parts):
            raise VAEError("stacked image arrays must share their image shape and type")
        self.parts = parts
        self.starts = np.cumsum([0] + [len(p) for p in parts])
        self.shape = (int(self.starts[-1]), *parts[0].shape[1:])
        self.dtype, self.ndim = parts[0].dtype, len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            row = int(key) + (len(self) if int(key) < 0 else 0)
            if not 0 <= row < len(self):
                raise IndexError(f"row {int(key)} is out of range for {len(self):,} images")
            part = int(np.searchsorted(self.starts, row, side="right")) - 1
            return self.parts[part][row - self.starts[part]]
        rows = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(key)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        rows = rows.astype(np.int64).ravel()
        rows = np.where(rows < 0, rows + len(self), rows)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"rows out of range for {len(self):,} images")
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        part_of = np.searchsorted(self.starts, rows, side="right") - 1
        for k, part in enumerate(self.parts):
            mask = part_of == k
            if mask.any():
                out[mask] = part[rows[mask] - self.starts[k]]
        return out

    def __array__(self, dtype=None, copy=None):
        stacked = np.concatenate(self.parts)
        return stacked if dtype is None else stacked.astype(dtype)


def encode_split(loaded: LoadedModel, dataset: Dataset, split: str = "test", progress=None) -> EncodedSplit:
    """Encode a split with the model, or reload it from the model's cache (map/cache.py)."""
    images, labels = split_images(dataset, split)
    file_name = f"encoded-{dataset.name.replace('/', '_').replace(':', '_')}-{split}-{len(images)}.npz"
    names = [f.name for f in fields(EncodedSplit)]

    def read(path):
        with np.load(path) as saved:
            return EncodedSplit(**{name: saved[name] for name in names})

    def compute() -> EncodedSplit:
        if progress:
            progress(0.0, f"Encoding {len(images):,} {split} images…")
        stats = metrics.per_image_stats(loaded.model, images, progress=progress)
        encoded = EncodedSplit(
            mu=stats["mu"].astype(np.float32), logvar=stats["logvar"].astype(np.float32),
            recon=stats["recon"].astype(np.float32), kl=stats["kl"].astype(np.float32),
            kl_per_dim=stats["kl_per_dim"].astype(np.float32), elbo=stats["elbo"].astype(np.float32),
            labels=np.asarray(labels, dtype=np.int64))
        if progress:
            progress(1.0, "Encoded.")
        return encoded

    def write(encoded: EncodedSplit):
        return lambda handle: np.savez(handle, **{name: getattr(encoded, name) for name in names})

    return Cache.of(loaded).get(file_name, read, compute, write)
