"""Fetching the official Fashion-MNIST / MNIST .gz files: mirrors, published MD5s, atomic writes, progress.

A file is streamed to a hidden temp file beside its destination, checked against its published MD5 and only
then renamed into place, so an interrupted or corrupt download never leaves a file that looks complete.
"""
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from .. import paths
from ..errors import DataError

MIRRORS = {
    "fashion-mnist": ["https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
                      "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/"],
}
MD5 = {  # published checksums of the official .gz files (zalando README, torchvision's MNIST resources)
    "fashion-mnist": {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                      "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                      "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                      "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
    "mnist": {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
              "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
              "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
              "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
}


def how_to_get(name: str) -> str:
    if name == "digits":
        return "Bundled with scikit-learn: nothing to install."
    first = "apt-get install dataset-fashion-mnist (files land in /usr/share/datasets/fashion-mnist), or " \
        if name == "fashion-mnist" else ""
    return (f"{first}download the four .gz files from {MIRRORS[name][0]} into {paths.data_dir() / name}, "
            f"or set $VAE_DATA_DIR to their folder, or run `python -m vae_core datasets --download {name}` "
            "(it fetches and checks them)")


def _fetch(url: str):
    """Open a URL as a readable stream; tests replace this to stay offline."""
    return urllib.request.urlopen(url, timeout=60)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _download_file(url: str, destination: Path, md5: str, on_bytes) -> None:
    """Stream to a temp file beside `destination`, check the MD5, then rename: never a half-written file."""
    with _fetch(url) as response:
        total = int(getattr(response, "headers", {}).get("Content-Length") or 0)
        digest, done = hashlib.md5(), 0
        handle = tempfile.NamedTemporaryFile(dir=destination.parent, prefix=f".{destination.name}.",
                                             suffix=".part", delete=False)
        try:
            with handle:
                while chunk := response.read(1 << 16):
                    handle.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    on_bytes(done, total)
            if digest.hexdigest() != md5:
                raise DataError(f"{url} downloaded with MD5 {digest.hexdigest()}, expected {md5}: "
                                "the download is corrupt. Try again.")
            os.replace(handle.name, destination)
        finally:
            Path(handle.name).unlink(missing_ok=True)


def download_dataset(name: str, progress=None) -> Path:
    """Fetch (or keep, when already verified) the four .gz files into <data_dir>/<name>; returns that folder.

    progress(fraction, message) is optional; without it a tqdm bar shows each file.
    """
    folder = paths.data_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    for index, filename in enumerate(MD5[name]):
        destination = folder / filename
        if destination.is_file() and _md5(destination) == MD5[name][filename]:
            continue
        bar = None
        if progress is None:
            from tqdm import tqdm
            bar = tqdm(desc=filename, unit="B", unit_scale=True, leave=False)

        def on_bytes(done: int, total: int) -> None:
            if bar is not None:
                bar.total = total or None
                bar.update(done - bar.n)
            else:
                fraction = (index + (done / total if total else 0)) / len(MD5[name])
                progress(min(fraction, 1.0), f"Downloading {filename}: {done / 1e6:.1f} MB")

        failures = []
        try:
            for mirror in MIRRORS[name]:
                try:
                    _download_file(mirror + filename, destination, MD5[name][filename], on_bytes)
                    break
                except (OSError, DataError) as err:  # URLError is an OSError; try the next mirror
                    failures.append(f"{mirror + filename}: {err}")
            else:
                raise DataError(f"Could not download {name} ({'; '.join(failures)}). {how_to_get(name)}")
            if progress is not None:
                progress((index + 1) / len(MD5[name]), f"Downloaded {filename}")
        finally:
            if bar is not None:
                bar.close()
    return folder
