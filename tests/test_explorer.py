"""The "all" split: train then test, read as one without a copy, and encoded batch by batch."""
import numpy as np
import pytest

from vae_core import data, metrics
from vae_core.models.torch_vae import checkpoint
from vae_core.map import encodings


def test_stacked_images_index_like_the_concatenation():
    rng = np.random.default_rng(0)
    train, test = rng.integers(0, 256, (7, 3, 2), np.uint8), rng.integers(0, 256, (4, 3, 2), np.uint8)
    stacked, whole = encodings.StackedImages(train, test), np.concatenate([train, test])
    assert len(stacked) == 11 and stacked.shape == whole.shape and stacked.dtype == np.uint8
    for row in (0, 6, 7, 10, -1, -11):
        assert np.array_equal(stacked[row], whole[row])
    for key in (slice(None), slice(5, 9), slice(None, None, 3), [10, 0, 7, 6, 7], np.array([3, 8]), [],
                whole[:, 0, 0] > 128):
        assert np.array_equal(stacked[key], whole[key])
    assert np.array_equal(np.asarray(stacked), whole)
    with pytest.raises(IndexError):
        stacked[11]
    with pytest.raises(IndexError):
        stacked[[0, 11]]


def test_the_all_split_shares_the_dataset_arrays():
    dataset = data.load_dataset("digits")
    images, labels = encodings.split_images(dataset, "all")
    assert isinstance(images, encodings.StackedImages) and images.parts[0] is dataset.train_images
    assert len(images) == len(labels) == len(dataset.train_labels) + len(dataset.test_labels)
    assert np.array_equal(images[len(dataset.train_labels)], dataset.test_images[0])


def test_encoding_in_batches_matches_one_batch_and_reports_progress(tiny_models_dir):
    loaded = checkpoint.load_checkpoint(tiny_models_dir / "digits-tiny")
    dataset = data.load_dataset("digits")
    images, _ = encodings.split_images(dataset, "all")
    reported = []
    small = metrics.per_image_stats(loaded.model, images, batch_size=64,
                                    progress=lambda f, m: reported.append((f, m)))
    whole = metrics.per_image_stats(loaded.model, np.asarray(images), batch_size=len(images))
    for name in ("mu", "recon", "kl", "elbo"):
        np.testing.assert_allclose(small[name], whole[name], rtol=1e-4, atol=1e-4)
    fractions = [f for f, _ in reported]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 3
    assert reported[-1][1] == f"encoded {len(images):,} of {len(images):,} images"
