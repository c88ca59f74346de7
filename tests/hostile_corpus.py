"""A corpus of malformed model folders, built from a real model by breaking one thing each.

Used by the unit tests (tests/test_hostile_models.py), the page tests and the browser test
(tests/e2e/test_hostile.py): every page must still open, and Train must name each broken folder.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "pretrained" / "digits-z8"
HOSTILE_NAMES = ["[click](javascript:alert(1))", "<img src=x onerror=alert(1)>", "# heading"]


def _copy(models: Path, name: str) -> Path:
    folder = models / name
    shutil.copytree(SOURCE, folder, ignore=shutil.ignore_patterns("cache"))
    return folder


def _config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def _fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def build(models: Path) -> dict[str, bool]:
    """Write the corpus into `models`; returns {folder name: True when it must be listed as broken, False when it
    must load (with a note about the ignored fields)}."""
    models.mkdir(parents=True, exist_ok=True)
    broken: dict[str, bool] = {}

    def make(name: str, is_broken: bool = True, **config_changes) -> Path:
        folder = _copy(models, name)
        if config_changes:
            _config(folder, **config_changes)
        broken[name] = is_broken
        return folder

    (make("train-epochs-text", is_broken=False) / "train.json").write_text('{"epochs": "x"}')
    make("latent-text", latent_dim="8")
    make("latent-fraction", latent_dim=8.5)
    make("hidden-fraction", hidden=1.5)
    make("hidden-bool", hidden=True)
    make("channels-huge-float", channels=[1e9, 1e9])
    make("channels-huge", channels=[1_000_000_000, 1_000_000_000])
    make("params-huge", channels=[1024, 1024], hidden=8192)
    make("dataset-number", dataset=5)
    make("class-names-numbers", class_names=[1, 2, 3])
    make("image-shape-short", image_shape=[1, 28])
    make("beta-text", beta="1")
    make("unknown-field", surprise=1)
    _fifo(make("fifo-weights") / "model.safetensors")
    _fifo(make("fifo-config") / "config.json")
    _fifo(make("fifo-manifest") / "vae.json")  # an ONNX marker that would block a plain read
    config_dir = make("config-is-a-folder") / "config.json"
    config_dir.unlink()
    config_dir.mkdir()
    (make("config-device") / "config.json").unlink()
    (models / "config-device" / "config.json").symlink_to("/dev/zero")
    (make("config-not-json") / "config.json").write_text("{not json")
    (make("config-a-list") / "config.json").write_text("[1, 2]")
    (make("config-deep") / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    (make("config-huge") / "config.json").write_text(" " * (2 << 20) + "{}")
    with open(make("weights-sparse-huge") / "model.safetensors", "r+b") as handle:
        handle.truncate(2 << 30)  # sparse: 2 GB on paper, nothing on disk
    (make("weights-pickle") / "model.safetensors").write_bytes(pickle.dumps({"x": [1, 2, 3]}))
    weights = make("weights-truncated") / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    (make("metrics-a-list") / "metrics.json").write_text("[]")
    (make("metrics-wrong-types", is_broken=False) / "metrics.json").write_text(json.dumps(
        {"elbo": "high", "active_units": "many", "kl_per_dim": "none", "recon": [1], "iwae_bound": True,
         "kl": 8.5, "epochs": 30}))
    (make("train-a-string") / "train.json").write_text('"x"')
    for name in HOSTILE_NAMES:  # names with markdown and HTML in them: shown escaped, and they still work
        make(name, is_broken=False)
    return broken
