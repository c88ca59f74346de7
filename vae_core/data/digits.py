"""scikit-learn's bundled 8x8 digits, upsampled to 28x28: the dataset that is always there."""
from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from .dataset import CLASS_NAMES, SPLIT_SEED, Dataset

DIGITS_TEST_SIZE = 300


@functools.lru_cache(maxsize=1)
def load_digits() -> Dataset:
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
