"""data.py: IDX parsing and search order, digits, user folders/zips, tensors, and the (offline) download path."""
import gzip
import hashlib
import io
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from vae_core import data, paths
from vae_core.data import download
from vae_core.errors import DataError

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, np.uint8)
    return bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()


def fake_split(n_train: int, n_test: int, seed: int = 0, shape=(4, 3)):
    rng = np.random.default_rng(seed)
    return {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
            "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
            "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
            "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8)}


def write_idx(folder: Path, arrays: dict, gz: bool = True) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    for base, array in arrays.items():
        raw = idx_bytes(array)
        (folder / (base + ".gz" if gz else base)).write_bytes(gzip.compress(raw) if gz else raw)
    return arrays


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real search folder leaks into a test unless the test puts it back."""
    monkeypatch.setattr(paths, "data_dir", lambda: tmp_path / "project-data")
    monkeypatch.delenv("VAE_DATA_DIR", raising=False)
    monkeypatch.setattr(data.idx, "SYSTEM_DIRS", {})
    data.idx._load_idx_cached.cache_clear()
    yield
    data.idx._load_idx_cached.cache_clear()


# ---------------------------------------------------------------- IDX parsing and search
@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_parse_exactly(tmp_path, gz):
    arrays = write_idx(tmp_path / "mine", fake_split(7, 3), gz=gz)
    dataset = data.load_dataset("mnist", data_dir=tmp_path / "mine")
    assert np.array_equal(dataset.train_images, arrays["train-images-idx3-ubyte"])
    assert np.array_equal(dataset.test_images, arrays["t10k-images-idx3-ubyte"])
    assert dataset.train_labels.dtype == np.int64
    assert dataset.train_labels.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert dataset.image_shape == (1, 4, 3)
    assert dataset.class_names == [str(d) for d in range(10)]
    assert str(tmp_path / "mine") in dataset.source
    # uncompressed files are mapped, not read: a million images stay out of memory until looked at; never writable
    assert isinstance(dataset.train_images, np.memmap) != gz
    assert not dataset.train_images.flags.writeable


def test_search_order_argument_then_env_then_project(tmp_path, monkeypatch):
    write_idx(tmp_path / "arg", fake_split(5, 2))
    write_idx(tmp_path / "env", fake_split(6, 2))
    write_idx(tmp_path / "env" / "mnist", fake_split(8, 2))        # <env>/<name> beats <env> itself
    write_idx(tmp_path / "project-data" / "mnist", fake_split(9, 2))
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "env"))
    assert len(data.load_dataset("mnist", data_dir=tmp_path / "arg").train_images) == 5
    assert len(data.load_dataset("mnist").train_images) == 8
    monkeypatch.delenv("VAE_DATA_DIR")
    assert len(data.load_dataset("mnist").train_images) == 9


def test_system_folder_is_searched_last_for_fashion(tmp_path, monkeypatch):
    write_idx(tmp_path / "debian", fake_split(4, 2))
    monkeypatch.setattr(data.idx, "SYSTEM_DIRS", {"fashion-mnist": [tmp_path / "debian"]})
    assert data.default_dataset_name() == "fashion-mnist"
    dataset = data.load_dataset("Fashion-MNIST")
    assert len(dataset.train_images) == 4 and dataset.class_names[0] == "T-shirt/top"
    write_idx(tmp_path / "project-data", fake_split(6, 2))
    assert len(data.load_dataset("fashion-mnist").train_images) == 6


def test_missing_files_error_names_files_folders_and_fixes(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "env"))
    partial = tmp_path / "env" / "mnist"
    partial.mkdir(parents=True)
    (partial / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((1, 2, 2)))))
    with pytest.raises(DataError) as caught:
        data.load_dataset("mnist", data_dir=tmp_path / "arg")
    message = str(caught.value)
    for name in data.idx.IDX_FILES.values():
        assert f"{name}.gz" in message
    for folder in (tmp_path / "arg", tmp_path / "env" / "mnist", tmp_path / "env", tmp_path / "project-data"):
        assert str(folder) in message
    assert f"{partial} lacks train-labels-idx1-ubyte" in message
    assert "python -m vae_core datasets --download mnist" in message and "ossci-datasets" in message
    assert "download=True" not in message  # the app shows this text: no Python call in it
    assert data.default_dataset_name() == "digits"
    assert [s.available for s in data.list_sources()] == [False, False, True]


@pytest.mark.parametrize("damage,expected", [
    (lambda raw: b"\x00\x00\x09\x03" + raw[4:], "not an IDX file"),           # wrong type code
    (lambda raw: raw[:-5], "truncated or damaged"),                            # short payload
    (lambda raw: raw + b"\x00", "truncated or damaged"),                       # trailing bytes
    (lambda raw: raw[:6], "not an IDX file"),                                  # header cut short
])
def test_damaged_idx_raises_naming_the_file(tmp_path, damage, expected):
    arrays = write_idx(tmp_path / "bad", fake_split(5, 2), gz=False)
    target = tmp_path / "bad" / "train-images-idx3-ubyte"
    target.write_bytes(damage(idx_bytes(arrays["train-images-idx3-ubyte"])))
    with pytest.raises(DataError, match=expected) as caught:
        data.load_dataset("mnist", data_dir=tmp_path / "bad")
    assert str(target) in str(caught.value)


def test_truncated_gzip_raises_naming_the_file(tmp_path):
    write_idx(tmp_path / "bad", fake_split(5, 2))
    target = tmp_path / "bad" / "t10k-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:20])
    with pytest.raises(DataError, match="damaged gzip") as caught:
        data.load_dataset("mnist", data_dir=tmp_path / "bad")
    assert str(target) in str(caught.value)


def test_label_count_mismatch_and_bad_labels(tmp_path):
    arrays = fake_split(5, 2)
    arrays["train-labels-idx1-ubyte"] = arrays["train-labels-idx1-ubyte"][:4]
    write_idx(tmp_path / "a", arrays)
    with pytest.raises(DataError, match="holds 5 images but .* holds 4 labels"):
        data.load_dataset("mnist", data_dir=tmp_path / "a")
    arrays = fake_split(5, 2)
    arrays["t10k-labels-idx1-ubyte"][0] = 12
    write_idx(tmp_path / "b", arrays)
    with pytest.raises(DataError, match="label 12"):
        data.load_dataset("mnist", data_dir=tmp_path / "b")


def test_fashion_files_are_not_loaded_as_mnist(tmp_path):
    arrays = fake_split(12, 2)
    arrays["train-labels-idx1-ubyte"][:10] = data.idx.FIRST_TRAIN_LABELS["fashion-mnist"]
    write_idx(tmp_path / "project-data", arrays)
    with pytest.raises(DataError, match="are fashion-mnist, not mnist"):
        data.load_dataset("mnist")


def test_replaced_file_is_read_again(tmp_path):
    write_idx(tmp_path / "d", fake_split(5, 2))
    assert len(data.load_dataset("mnist", data_dir=tmp_path / "d").train_images) == 5
    write_idx(tmp_path / "d", fake_split(7, 2))
    assert len(data.load_dataset("mnist", data_dir=tmp_path / "d").train_images) == 7


@pytest.mark.skipif(not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian package dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)")
def test_real_fashion_mnist_from_debian(monkeypatch):
    monkeypatch.setattr(data.idx, "SYSTEM_DIRS", {"fashion-mnist": [DEBIAN_FASHION]})
    start = time.perf_counter()
    dataset = data.load_dataset("fashion-mnist")
    assert time.perf_counter() - start < 3.0  # measured ~0.3 s; generous for a loaded machine
    assert dataset.train_images.shape == (60000, 28, 28) and dataset.test_images.shape == (10000, 28, 28)
    assert dataset.train_images.dtype == np.uint8 and dataset.image_shape == (1, 28, 28)
    assert dataset.class_names[0] == "T-shirt/top" and dataset.class_names[9] == "Ankle boot"
    assert tuple(dataset.train_labels[:10]) == data.idx.FIRST_TRAIN_LABELS["fashion-mnist"]
    assert np.bincount(dataset.train_labels).tolist() == [6000] * 10
    assert np.bincount(dataset.test_labels).tolist() == [1000] * 10
    assert 70 < dataset.train_images.mean() < 75  # Fashion-MNIST's mean pixel is ~72.9
    assert str(DEBIAN_FASHION) in dataset.source


# ---------------------------------------------------------------- digits
def test_digits_are_framed_like_mnist_and_keep_their_labels():
    from sklearn.datasets import load_digits

    dataset = data.load_dataset("digits")
    assert dataset.train_images.shape == (1497, 28, 28) and dataset.test_images.shape == (300, 28, 28)
    assert dataset.train_images.dtype == np.uint8 and dataset.train_labels.dtype == np.int64
    assert dataset.train_images.max() == 255 and dataset.train_images[:, :4].max() == 0
    assert set(dataset.test_labels.tolist()) == set(range(10))
    assert np.array_equal(dataset.test_images, data.load_dataset("digits").test_images)  # fixed split
    # Shrunk back to 8x8, every test image is nearest to an original digit with the same label.
    bunch = load_digits()
    originals = bunch.images.reshape(len(bunch.images), -1) * (255 / 16)
    for picture, label in zip(dataset.test_images[:30], dataset.test_labels[:30]):
        small = np.asarray(Image.fromarray(picture[4:24, 4:24]).resize((8, 8), Image.Resampling.BOX), float)
        nearest = np.argmin(((originals - small.ravel()) ** 2).sum(axis=1))
        assert bunch.target[nearest] == label


# ---------------------------------------------------------------- user folders and zips
def picture_bytes(ink_box=(8, 10, 40, 50), fmt="PNG") -> bytes:
    picture = Image.new("L", (48, 60), 255)
    ImageDraw.Draw(picture).rectangle(ink_box, fill=0)  # dark on light: an upload would be inverted, a dataset not
    buffer = io.BytesIO()
    picture.save(buffer, fmt)
    return buffer.getvalue()


def test_folder_dataset_labels_split_and_skips(tmp_path):
    root = tmp_path / "mine"
    for cls, count in (("cat", 12), ("dog", 7)):
        (root / cls).mkdir(parents=True)
        for i in range(count):
            (root / cls / f"{i}.png").write_bytes(picture_bytes())
    (root / "loose.jpg").write_bytes(picture_bytes(fmt="JPEG"))
    (root / "README.txt").write_text("hello")
    (root / "dog" / "broken.png").write_bytes(b"")
    (root / ".hidden.png").write_bytes(b"")
    dataset = data.load_dataset(f"folder:{root}")
    assert dataset.name == f"folder:{root}"
    assert dataset.class_names == ["cat", "dog", "unlabelled"]
    assert len(dataset.train_images) + len(dataset.test_images) == 20 and len(dataset.test_images) == 2
    labels = np.concatenate([dataset.train_labels, dataset.test_labels])
    assert np.bincount(labels).tolist() == [12, 7, 1]
    assert dataset.train_images.shape[1:] == (28, 28) and dataset.train_images.dtype == np.uint8
    # as it is, resized whole: light background, dark ink (an upload's inversion and cropping never apply)
    assert dataset.train_images[0, 0, 0] == 255 and dataset.train_images[0, 14, 14] == 0
    assert len(dataset.skipped) == 2
    assert any(s.startswith("README.txt: not an image") for s in dataset.skipped)
    assert any(s.startswith("dog/broken.png") and "empty" in s for s in dataset.skipped)
    colour = data.load_dataset(f"folder:{root}", image_shape=(3, 32, 32))
    assert colour.train_images.shape[1:] == (32, 32, 3) and colour.image_shape == (3, 32, 32)


def test_zip_dataset_read_in_memory_with_a_wrapping_folder(tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.chdir(scratch)
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for cls in ("a", "b"):
            for i in range(5):
                bundle.writestr(f"set/{cls}/{i}.png", picture_bytes())
        bundle.writestr(zipfile.ZipInfo("set/../../evil.png"), picture_bytes())
    dataset = data.load_dataset(str(archive))
    assert dataset.class_names == ["a", "b"]
    assert len(dataset.train_images) == 9 and len(dataset.test_images) == 1
    assert len(dataset.skipped) == 1 and "outside the archive" in dataset.skipped[0]
    assert list(scratch.iterdir()) == [] and not (tmp_path / "evil.png").exists()


def test_folder_without_pictures_and_unknown_names_raise(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"No readable pictures .*\(1 skipped: notes.txt"):
        data.load_dataset(f"folder:{tmp_path / 'empty'}")
    with pytest.raises(DataError, match="does not exist"):
        data.load_dataset(f"folder:{tmp_path / 'nope'}")
    with pytest.raises(DataError, match="Unknown dataset 'cifar'.*fashion-mnist, mnist, digits"):
        data.load_dataset("cifar")


# ---------------------------------------------------------------- tensors
def test_tensor_round_trip_grey_and_colour():
    grey = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10
    tensor = data.to_tensor(grey)
    assert tensor.shape == (2, 1, 3, 4) and tensor.dtype == torch.float32
    assert tensor[1, 0, 2, 3].item() == pytest.approx(230 / 255)
    colour = np.random.default_rng(0).integers(0, 256, (2, 5, 6, 3), dtype=np.uint8)
    tensor = data.to_tensor(colour)
    assert tensor.shape == (2, 3, 5, 6) and tensor[1, 2, 4, 5].item() == pytest.approx(colour[1, 4, 5, 2] / 255)


# ---------------------------------------------------------------- download (offline: a fake fetch)
@pytest.fixture
def fake_mirror(monkeypatch):
    """Official-looking .gz files served from memory, with their MD5s registered as the published ones."""
    served = {f"{base}.gz": gzip.compress(idx_bytes(array)) for base, array in fake_split(6, 3).items()}
    monkeypatch.setitem(download.MD5, "mnist", {name: hashlib.md5(blob).hexdigest() for name, blob in served.items()})
    monkeypatch.setitem(download.MIRRORS, "mnist", ["https://one.invalid/", "https://two.invalid/"])
    calls = []

    def serve(url):
        calls.append(url)
        return io.BytesIO(served[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(download, "_fetch", serve)
    return served, calls


def test_download_verifies_and_writes_atomically(tmp_path, fake_mirror):
    served, calls = fake_mirror
    reports = []
    dataset = data.load_dataset("mnist", download=True, progress=lambda f, m: reports.append((f, m)))
    folder = tmp_path / "project-data" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(served)
    assert all((folder / name).read_bytes() == blob for name, blob in served.items())
    assert len(dataset.train_images) == 6 and str(folder) in dataset.source
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0) and "Downloading" in reports[0][1]
    assert len(calls) == 4
    data.load_dataset("mnist", download=True)  # already there and verified: nothing fetched again
    assert len(calls) == 4


def test_download_with_wrong_checksum_leaves_nothing(tmp_path, fake_mirror, monkeypatch):
    monkeypatch.setattr(download, "_fetch", lambda url: io.BytesIO(b"\x1f\x8b corrupted"))
    with pytest.raises(DataError, match="MD5 .* expected") as caught:
        data.load_dataset("mnist", download=True, progress=lambda f, m: None)
    assert "one.invalid" in str(caught.value) and "two.invalid" in str(caught.value)
    assert list((tmp_path / "project-data" / "mnist").iterdir()) == []


def test_download_interrupted_midway_leaves_no_partial_file(tmp_path, fake_mirror, monkeypatch):
    served, _ = fake_mirror

    class Dropped(io.BytesIO):
        def read(self, size=-1):
            if self.tell() > 0:
                raise ConnectionResetError("connection dropped")
            return super().read(10)

    def flaky(url):  # the first mirror drops mid-file, the second works
        blob = served[url.rsplit("/", 1)[1]]
        return Dropped(blob) if "one.invalid" in url else io.BytesIO(blob)

    monkeypatch.setattr(download, "_fetch", flaky)
    dataset = data.load_dataset("mnist", download=True, progress=lambda f, m: None)
    assert len(dataset.test_images) == 3
    assert sorted(p.name for p in (tmp_path / "project-data" / "mnist").iterdir()) == sorted(served)


def test_the_cli_fetches_a_missing_dataset_the_way_the_app_says(tmp_path, fake_mirror, capsys):
    """The Train page and the sidebar tell you to run `python -m vae_core datasets --download mnist`: it works."""
    from vae_core.cli import main

    served, _ = fake_mirror
    assert main(["datasets", "--download", "mnist"]) == 0
    folder = tmp_path / "project-data" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(served)
    assert f"mnist: {folder}" in capsys.readouterr().out
