"""The researcher's own data, as it is: a folder of pictures loads pixel-identical (never cropped or inverted; another
size is resized whole, and the source says so), arrays load from an .npz or .npy with their labels, and a relative
`dataset` is found under the data roots, exactly where the app's check looks."""
import numpy as np
import pytest
from PIL import Image

from vae_core import data
from vae_core.data import roots
from vae_core.errors import DataError


def save_pictures(root, per_class=6, size=(64, 64), seed=0):
    """Two classes of colour PNGs with light backgrounds (which an upload's rules would invert and crop)."""
    rng = np.random.default_rng(seed)
    pictures = {}
    for name in ("red", "blue"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            picture = rng.integers(150, 256, (*size, 3), dtype=np.uint8)
            picture[10:30, 20:40, 0 if name == "red" else 2] = 20
            Image.fromarray(picture).save(root / name / f"{i}.png")
            pictures[(name, i)] = picture
    return pictures


def test_a_folder_of_colour_pictures_loads_pixel_identical(tmp_path):
    pictures = save_pictures(tmp_path / "pics")
    dataset = data.load_dataset(f"folder:{tmp_path / 'pics'}", image_shape=(3, 64, 64))
    assert dataset.image_shape == (3, 64, 64) and dataset.class_names == ["blue", "red"]
    loaded = np.concatenate([dataset.train_images, dataset.test_images])
    expected = sorted(p.tobytes() for p in pictures.values())
    assert sorted(p.tobytes() for p in loaded) == expected  # every picture, every pixel, unchanged
    assert "every picture as it is" in dataset.source


def test_another_size_is_resized_whole_and_said(tmp_path):
    save_pictures(tmp_path / "pics", per_class=2, size=(40, 80))
    dataset = data.load_dataset(f"folder:{tmp_path / 'pics'}", image_shape=(3, 32, 32))
    assert dataset.image_shape == (3, 32, 32) and "4 of another size resized whole to 32×32" in dataset.source
    picture = np.concatenate([dataset.train_images, dataset.test_images])[0]
    assert picture.mean() > 100  # the light background is kept: nothing was inverted


def test_grey_model_gets_luminance_not_inversion(tmp_path):
    save_pictures(tmp_path / "pics", per_class=1, size=(28, 28))
    dataset = data.load_dataset(f"folder:{tmp_path / 'pics'}", image_shape=(1, 28, 28))
    assert dataset.image_shape == (1, 28, 28) and np.concatenate([dataset.train_images]).mean() > 100


def test_an_npz_loads_with_its_labels_and_class_names(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (50, 12, 12), dtype=np.uint8)
    labels = rng.integers(0, 3, 50)
    np.savez(tmp_path / "mine.npz", images=images, labels=labels, class_names=np.array(["a", "b", "c"]))
    dataset = data.load_dataset(f"npz:{tmp_path / 'mine.npz'}")
    assert dataset.class_names == ["a", "b", "c"] and dataset.image_shape == (1, 12, 12)
    assert len(dataset.train_images) + len(dataset.test_images) == 50 and len(dataset.test_images) == 5
    rows = {images[i].tobytes(): labels[i] for i in range(50)}
    for split_images, split_labels in ((dataset.train_images, dataset.train_labels),
                                       (dataset.test_images, dataset.test_labels)):
        for picture, label in zip(split_images[:], split_labels):
            assert rows[picture.tobytes()] == label  # each image keeps its own label through the split


def test_a_float_npy_is_memory_mapped_and_read_as_pixels(tmp_path):
    images = np.random.default_rng(2).random((30, 8, 8, 3)).astype(np.float32)
    np.save(tmp_path / "floats.npy", images)
    dataset = data.load_dataset(f"npz:{tmp_path / 'floats.npy'}")
    assert isinstance(dataset.train_images.source, np.memmap) and dataset.image_shape == (3, 8, 8)
    assert dataset.class_names == ["unlabelled"]
    row = dataset.train_images.rows[0]
    np.testing.assert_array_equal(dataset.train_images[0], np.round(images[row] * 255).astype(np.uint8))


def test_an_npz_with_its_own_split(tmp_path):
    np.savez(tmp_path / "split.npz", train_images=np.zeros((7, 8, 8), np.uint8), test_images=np.ones((3, 8, 8),
             np.uint8), train_labels=np.arange(7) % 2, test_labels=np.array([1, 0, 1]))
    dataset = data.load_dataset(f"npz:{tmp_path / 'split.npz'}")
    assert len(dataset.train_images) == 7 and dataset.test_labels.tolist() == [1, 0, 1]
    assert dataset.class_names == ["0", "1"]


@pytest.mark.parametrize("arrays, words", [
    ({"images": np.full((4, 8, 8), 2.0, np.float32)}, "outside [0, 1]"),
    ({"images": np.zeros((4, 8, 8), np.uint8), "labels": np.zeros(3, np.int64)}, "one whole number"),
    ({"pictures": np.zeros((4, 8, 8), np.uint8), "more": np.zeros((4, 8, 8), np.uint8)}, "name the images"),
    ({"images": np.zeros((4, 8, 8, 5), np.uint8)}, "C 1 or 3"),
    ({"images": np.zeros((4, 8, 8), np.uint8), "labels": np.array([0, 1, 2, 3]),
      "class_names": np.array(["a", "b"])}, "class_names has 2 names but the labels go up to 3"),
])
def test_bad_arrays_are_named(tmp_path, arrays, words):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as err:
        data.load_dataset(f"npz:{tmp_path / 'bad.npz'}")
    assert words in str(err.value)


def test_object_arrays_are_never_unpickled(tmp_path):
    np.savez(tmp_path / "pickled.npz", images=np.array([object()], dtype=object))
    with pytest.raises(DataError, match="without object arrays"):
        data.load_dataset(f"npz:{tmp_path / 'pickled.npz'}")


def test_a_relative_dataset_is_found_under_the_data_roots(tmp_path, monkeypatch):
    root = tmp_path / "root"
    save_pictures(root / "pics", per_class=2, size=(16, 16))
    monkeypatch.setenv("VAE_DATA_ROOTS", str(root))
    monkeypatch.chdir(tmp_path)
    assert roots.locate("pics") == root / "pics"
    roots.check_app_dataset("folder:pics")  # the app's check looks where the loader reads
    dataset = data.load_dataset("folder:pics", image_shape=(3, 16, 16))
    assert dataset.name == "folder:pics" and len(dataset.train_images) + len(dataset.test_images) == 4


def test_home_folder_paths_are_checked_where_they_point(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    save_pictures(tmp_path / "home" / "pics", per_class=1, size=(16, 16))
    monkeypatch.setenv("VAE_DATA_ROOTS", str(tmp_path / "root"))
    with pytest.raises(DataError, match="outside the folders this app may read"):
        roots.check_app_dataset("folder:~/pics")  # "~" is the home folder for the check too, as for the loader
    assert roots.locate("~/pics") == tmp_path / "home" / "pics"
