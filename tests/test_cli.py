"""`python -m vae_core` as a user runs it: real processes, exit codes, stdout/stderr."""
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training_helpers import TINY, kill_9_mid_training

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def scratch_models_dir(tmp_path_factory):
    """A run without --out must not touch the project's models/."""
    os.environ["VAE_TEST_SCRATCH_MODELS"] = str(tmp_path_factory.mktemp("scratch-models"))
    yield
    del os.environ["VAE_TEST_SCRATCH_MODELS"]


def run_cli(*args, cwd=ROOT):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VAE_MODELS_DIR": os.environ["VAE_TEST_SCRATCH_MODELS"]}
    return subprocess.run([sys.executable, "-m", "vae_core", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(proc, *needles):
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "digits-tiny"
    proc = run_cli("train", "--dataset", "digits", "--epochs", "1", "--out", folder, *TINY)
    assert proc.returncode == 0, proc.stderr
    return folder, proc


def test_train_writes_a_model_folder_and_prints_its_path(trained):
    folder, proc = trained
    assert {"config.json", "model.safetensors", "metrics.json"} <= {p.name for p in folder.iterdir()}
    assert f"saved {folder} (1 epochs)" in proc.stdout
    headline = json.loads(proc.stdout.strip().splitlines()[-1])
    assert math.isfinite(headline["elbo"]) and headline["iwae_k"] == 50
    assert "epoch 1/1" in proc.stderr  # the tqdm bar
    # 1 epoch of digits at the automatic batch (16) is 94 steps: said before the bar (issue 22)
    assert "warning: 94 optimiser steps (1 × 94): too few to learn" in proc.stderr and "try 2 epochs" in proc.stderr


def test_eval_prints_exactly_one_json_object(trained):
    folder, _ = trained
    proc = run_cli("eval", folder, "--iw-samples", "5", "--limit", "50")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # the whole of stdout is the object
    assert result["n_images"] == 50 and result["dataset"] == "digits" and result["iwae_k"] == 5
    assert math.isfinite(result["elbo"]) and math.isfinite(result["iwae_bound"])
    assert result["elbo"] < 0 and len(result["kl_per_dim"]) == 3


def test_train_refuses_to_overwrite_then_resumes(trained, tmp_path):
    folder, _ = trained
    proc = run_cli("train", "--dataset", "digits", "--epochs", "1", "--out", folder, *TINY)
    assert_one_line_error(proc, "already holds a model")
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.iterdir():
        if path.is_file():
            (copy / path.name).write_bytes(path.read_bytes())
    proc = run_cli("train", "--resume", "--epochs", "2", "--out", copy)  # dataset and settings from the folder
    assert proc.returncode == 0, proc.stderr
    history = json.loads((copy / "train.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert json.loads((copy / "config.json").read_text())["latent_dim"] == 3


def test_kill_9_mid_training_leaves_a_loadable_model_that_resumes(tmp_path):
    from vae_core.models.torch_vae import checkpoint

    out = tmp_path / "m"
    kill_9_mid_training(out, os.environ["VAE_TEST_SCRATCH_MODELS"], (out / "metrics.json").exists,
                        "epoch finished", settle=0.7)
    # Each file is whole; a kill between two files' renames may leave train.json one epoch behind the weights.
    loaded = checkpoint.load_checkpoint(out)
    done = len(loaded.train_info["history"])
    assert done >= 1 and loaded.metrics["epochs"] in (done - 1, done)
    proc = run_cli("train", "--resume", "--epochs", done + 2, "--out", out)
    assert proc.returncode == 0, proc.stderr
    history = json.loads((out / "train.json").read_text())["history"]
    assert [h["epoch"] for h in history] == list(range(1, done + 3))
    assert json.loads((out / "metrics.json").read_text())["epochs"] == done + 2


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_disguised_as_safetensors_is_refused_without_running(trained, tmp_path):
    folder, _ = trained
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "config.json").write_text((folder / "config.json").read_text())
    marker = tmp_path / "payload-ran"
    (evil / "model.safetensors").write_bytes(pickle.dumps({"state": _Payload(marker)}))
    proc = run_cli("eval", evil)
    assert_one_line_error(proc, "safetensors")
    assert not marker.exists()


@pytest.mark.parametrize("args, needle", [
    (["train", "--dataset", "no-such-set", "--epochs", "1"], "Unknown dataset"),
    (["train", "--bogus-flag"], "unrecognized arguments"),
])
def test_bad_input_is_one_line_and_nonzero(args, needle):
    assert_one_line_error(run_cli(*args), needle)


@pytest.mark.parametrize("args, needle, code", [
    (["train", "--dataset", "digits", "--latent-dim", "1", "--out", "unused"], "latent_dim", 2),
    (["train", "--dataset", "digits", "--epochs", "0", "--out", "unused"], "--epochs", 2),
    (["eval", "/no/such/model"], "does not exist", 1),
    (["fly"], "invalid choice", 2),
    (["train", "--dataset", "digits", "--device", "gpu", "--epochs", "1"], "device 'gpu' is unknown", 1),
])
def test_more_bad_input_in_process(args, needle, code, capsys, monkeypatch, tmp_path):
    """The same main() as above without a process start each (torch imports cost seconds on 2 cores)."""
    from vae_core.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VAE_MODELS_DIR", str(tmp_path / "models"))
    assert main(args) == code
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: ") and needle in err
    assert not (tmp_path / "unused").exists()
    assert not any((tmp_path / "models").glob("*"))  # no empty model folder left behind


def test_missing_dataset_files_say_how_to_get_them(tmp_path, capsys, monkeypatch):
    from vae_core import data
    from vae_core.cli import main

    monkeypatch.setattr(data.idx, "SYSTEM_DIRS", {})
    monkeypatch.delenv("VAE_DATA_DIR", raising=False)
    monkeypatch.setattr(data.idx.paths, "data_dir", lambda: tmp_path / "nothing-here")
    code = main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "mnist was not found" in err and "To get it" in err
    assert not (tmp_path / "m").exists()


def test_datasets_lists_every_source():
    proc = run_cli("datasets")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line and not line.startswith(" ")}
    assert set(lines) >= {"fashion-mnist", "mnist", "digits"}
    assert "available" in lines["digits"].split()


@pytest.mark.parametrize("command", ["eval", "datasets"])
def test_a_closed_pipe_ends_quietly(trained, command):
    """`python -m vae_core eval … | head -c 0`: the reader is gone before the JSON is written."""
    folder, _ = trained
    args = ["eval", folder, "--limit", "20", "--iw-samples", "0"] if command == "eval" else ["datasets"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VAE_MODELS_DIR": os.environ["VAE_TEST_SCRATCH_MODELS"]}
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `head` that has already exited
    try:
        proc = subprocess.run([sys.executable, "-m", "vae_core", *map(str, args)], cwd=ROOT, env=env,
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    assert proc.returncode == 141, proc.stderr  # as a shell reports a process killed by SIGPIPE


def test_a_resumed_runs_bar_counts_its_speed_from_its_first_new_epoch():
    """Resuming at epoch 4 of 5 (10 steps an epoch): the bar starts at 30 done, and its rate counts only the steps
    this run made (it counted the 30 saved ones as made in the first second: a huge speed, no time left)."""
    from types import SimpleNamespace

    from vae_core import cli

    bar = cli._ProgressBar()
    step = SimpleNamespace(steps=10, epochs=5, epoch=4, first_epoch=4, step=2, epoch_end=False, losses={"loss": 1.0},
                           message="")
    bar(step)
    meter = bar.bar.format_dict
    bar.close()
    assert meter["initial"] == 30 and meter["n"] == 32 and meter["total"] == 50
