"""Two CPU processes under torchrun (gloo): DistributedDataParallel training writes one loadable model."""
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TORCHRUN = Path(sys.executable).with_name("torchrun")


@pytest.mark.slow
@pytest.mark.skipif(not TORCHRUN.exists() and not shutil.which("torchrun"), reason="torchrun is not installed")
def test_torchrun_two_processes_trains_a_loadable_model(tmp_path):
    out = tmp_path / "ddp"
    command = [str(TORCHRUN if TORCHRUN.exists() else shutil.which("torchrun")), "--standalone",
               "--nproc_per_node", "2", "-m", "vae_core", "train", "--dataset", "digits", "--epochs", "2",
               "--latent-dim", "3", "--channels", "8", "16", "--hidden", "32", "--lr", "3e-3", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VAE_MODELS_DIR": str(tmp_path / "models")}
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("saved ") == 1  # rank 0 alone reports

    from vae_core import data, metrics
    from vae_core.models.torch_vae import checkpoint

    loaded = checkpoint.load_checkpoint(out)
    info = json.loads((out / "train.json").read_text())
    assert [h["epoch"] for h in info["history"]] == [1, 2]
    for epoch in info["history"]:  # counts are all-reduced: both ranks' shards (1497 images, padded to 1498)
        assert round(epoch["images_per_s"] * epoch["seconds"]) == 1498
    assert info["history"][1]["train_elbo"] > info["history"][0]["train_elbo"]
    result = metrics.evaluate(loaded.model, data.load_dataset("digits").test_images)
    assert math.isfinite(result["elbo"]) and result["elbo"] > -540  # better than the untrained 784 * log 2
    # float32 sums over a test set: the order of the additions (threads, batch split) moves the last digits
    assert result["elbo"] == pytest.approx(json.loads((out / "metrics.json").read_text())["elbo"], rel=1e-6)
