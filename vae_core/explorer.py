"""The data behind the map: one encoded split per (weights, split), cached on disk beside the model.

Encoding 10k images takes seconds and 70k tens of seconds on CPU; the app asks for the same arrays on every
page, so they are computed once per weights hash and reloaded from `<model>/cache/<hash>/` afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from . import metrics
from .checkpoint import LoadedModel
from .data import Dataset
from .errors import VAEError
from .files import atomic_write

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
    def spread(self) -> np.ndarray:
        """Std of the encoder means per dimension: the unit of the Generate sliders (±3σ)."""
        return self.mu.std(axis=0).astype(np.float32) + 1e-6

    @property
    def mean_kl_per_dim(self) -> np.ndarray:
        return self.kl_per_dim.mean(axis=0)


def split_images(dataset: Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of a split; "all" is train followed by test (row ids index into that order)."""
    if split == "test":
        return dataset.test_images, dataset.test_labels
    if split == "train":
        return dataset.train_images, dataset.train_labels
    if split == "all":
        return (np.concatenate([dataset.train_images, dataset.test_images]),
                np.concatenate([dataset.train_labels, dataset.test_labels]))
    raise VAEError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def encode_split(loaded: LoadedModel, dataset: Dataset, split: str = "test", progress=None) -> EncodedSplit:
    """Encode a split with the model, or reload it from the model's cache folder."""
    images, labels = split_images(dataset, split)
    file_name = f"encoded-{dataset.name.replace('/', '_').replace(':', '_')}-{split}-{len(images)}.npz"
    names = [f.name for f in fields(EncodedSplit)]
    for folder in loaded.cache_folders:  # a shipped model's own cache first, then $VAE_CACHE_DIR's
        if (folder / file_name).exists():
            try:
                with np.load(folder / file_name) as saved:
                    return EncodedSplit(**{name: saved[name] for name in names})
            except (OSError, ValueError, KeyError):
                pass  # a corrupt or stale cache file is recomputed, never fatal
    path = loaded.cache_folder / file_name
    if progress:
        progress(0.0, f"Encoding {len(images):,} {split} images…")
    stats = metrics.per_image_stats(loaded.model, images)
    encoded = EncodedSplit(
        mu=stats["mu"].astype(np.float32), logvar=stats["logvar"].astype(np.float32),
        recon=stats["recon"].astype(np.float32), kl=stats["kl"].astype(np.float32),
        kl_per_dim=stats["kl_per_dim"].astype(np.float32), elbo=stats["elbo"].astype(np.float32),
        labels=np.asarray(labels, dtype=np.int64))
    try:
        atomic_write(path, lambda handle: np.savez(handle, **{name: getattr(encoded, name) for name in names}))
    except OSError:
        pass  # a read-only install still works, just without the disk cache
    if progress:
        progress(1.0, "Encoded.")
    return encoded
