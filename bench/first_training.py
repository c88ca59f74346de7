"""A first, short training: the automatic batch (vae_core.training.trainer.batch_size_for) against the old fixed
batch of 128, on digits, Fashion-MNIST and a folder of 600 pictures, in the same run.

    python bench/first_training.py [--only digits|fashion|folder]

Each row trains our default VAE (VAEConfig(), seed 0) from scratch and prints its optimiser steps, the active units
on the test split, the test ELBO and the seconds it took. The folder is 600 Fashion-MNIST training images written
as PNG files (60 per class, 540 of them in its training split). What the rule must show: a 2-epoch run keeps its
latent space alive (active units) where 128 left it dead, and on Fashion-MNIST the rule is the old default.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: see vae_core/__main__.py
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from vae_core import data  # noqa: E402
from vae_core.models.torch_vae.model import VAEConfig  # noqa: E402
from vae_core.training import TrainConfig, train_model  # noqa: E402
from vae_core.training.trainer import batch_size_for, too_short  # noqa: E402

OLD_BATCH = 128


def picture_folder(root: Path, per_class: int = 60) -> data.Dataset:
    from PIL import Image

    fashion = data.load_dataset("fashion-mnist")
    for label, name in enumerate(fashion.class_names):
        folder = root / name.replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        for i in np.flatnonzero(fashion.train_labels == label)[:per_class]:
            Image.fromarray(fashion.train_images[i]).save(folder / f"{i}.png")
    os.environ["VAE_DATA_DIR"] = str(root.parent)  # a folder dataset must sit inside the data roots
    return data.load_dataset(f"folder:{root}")


def train(dataset: data.Dataset, epochs: int, batch: int) -> dict:
    model_config = VAEConfig(image_shape=dataset.image_shape, dataset=dataset.name,
                             class_names=list(dataset.class_names))
    start = time.perf_counter()
    result = train_model(model_config, TrainConfig(epochs=epochs, batch_size=batch), dataset, None)
    n = len(dataset.train_images)
    return {"steps": epochs * -(-n // batch), "active": result.metrics.get("active_units"),
            "elbo": result.metrics.get("elbo"), "seconds": time.perf_counter() - start,
            "warned": bool(too_short(n, batch, epochs))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("digits", "fashion", "folder"), default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plans = {"digits": (lambda: data.load_dataset("digits"), (2, 10)),
                 "fashion": (lambda: data.load_dataset("fashion-mnist"), (1,)),
                 "folder": (lambda: picture_folder(Path(tmp) / "pictures"), (2, 10))}
        print(f"{'dataset':<14}{'train':>7}{'epochs':>7}{'batch':>12}{'steps':>7}{'active':>8}{'ELBO':>9}{'s':>7}"
              "  form says")
        for name, (load, epoch_counts) in plans.items():
            if args.only and name != args.only:
                continue
            dataset = load()
            dims = VAEConfig().latent_dim
            auto = batch_size_for(len(dataset.train_images))
            for epochs in epoch_counts:
                for label, batch in ((f"{OLD_BATCH} (old)", OLD_BATCH), (f"{auto} (auto)", auto)):
                    row = train(dataset, epochs, batch)
                    print(f"{name:<14}{len(dataset.train_images):>7,}{epochs:>7}{label:>12}{row['steps']:>7,}"
                          f"{row['active']:>5}/{dims:<2}{row['elbo']:>9.1f}{row['seconds']:>7.1f}"
                          f"  {'too few steps' if row['warned'] else ''}", flush=True)
                    if batch == auto == OLD_BATCH:
                        break  # the rule is the old default here: one row


if __name__ == "__main__":
    main()
