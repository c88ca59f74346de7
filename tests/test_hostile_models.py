"""Malformed model folders: each is described on its own (never breaking the list), FIFOs never block, sizes are
capped before reading, configs of the wrong type or an absurd size are refused with a message."""
import json
import threading

import pytest

from tests import hostile_corpus
from vae_core import models
from vae_core.models.torch_vae import checkpoint
from vae_core.models import folder as folder_files
from vae_core.errors import CheckpointError
from vae_core.models.torch_vae.model import VAEConfig


def list_with_timeout(models_dir, timeout: float = 60.0):
    """list_models on a thread: a FIFO read would block forever, and the test must fail, not hang."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(models=models.list_models([models_dir])), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "list_models blocked (a FIFO was opened for reading?)"
    return result["models"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    models_dir = tmp_path_factory.mktemp("hostile") / "models"
    return models_dir, hostile_corpus.build(models_dir)


def test_every_folder_is_listed_alone_with_its_problem(corpus):
    models_dir, expected = corpus
    listed = {m.name: m for m in list_with_timeout(models_dir)}
    assert sorted(listed) == sorted(expected)
    wrongly = {name: listed[name].error for name, broken in expected.items() if (listed[name].error is not None)
               != broken}
    assert not wrongly, wrongly
    for name, broken in expected.items():
        if broken:
            assert name in listed[name].error and len(listed[name].error) < 600, listed[name].error
    assert "not a regular file" in listed["fifo-weights"].error
    assert "not a regular file" in listed["fifo-config"].error and "not a regular file" in listed["config-device"].error
    assert "MB" in listed["weights-sparse-huge"].error and "MB" in listed["config-huge"].error
    assert "parameters" in listed["params-huge"].error
    assert "whole number" in listed["latent-text"].error and "whole number" in listed["hidden-bool"].error
    assert "must be text" in listed["dataset-number"].error


def test_wrong_typed_metrics_are_dropped_with_a_note(corpus):
    models_dir, _ = corpus
    listed = {m.name: m for m in list_with_timeout(models_dir)}
    info = listed["metrics-wrong-types"]
    assert info.metrics == {"kl": 8.5, "epochs": 30}
    assert len(info.notes) == 1 and all(k in info.notes[0] for k in ("elbo", "active_units", "kl_per_dim", "recon"))
    loaded = checkpoint.load_checkpoint(info.path)
    assert loaded.metrics == {"kl": 8.5, "epochs": 30}
    epochs = listed["train-epochs-text"]
    assert epochs.epochs == 0 and "epochs" in epochs.notes[0] and epochs.metrics["elbo"] < 0


def test_loading_a_fifo_refuses_at_once(corpus):
    models_dir, _ = corpus
    for name in ("fifo-weights", "fifo-config"):
        result = {}

        def load(folder=models_dir / name, result=result):
            try:
                checkpoint.load_checkpoint(folder)
            except CheckpointError as err:
                result["error"] = str(err)
        thread = threading.Thread(target=load, daemon=True)
        thread.start()
        thread.join(30)
        assert not thread.is_alive(), f"loading {name} blocked"
        assert "not a regular file" in result["error"]
    with pytest.raises(CheckpointError, match="not a regular file"):
        models.weights_hash(models_dir / "fifo-weights")


@pytest.mark.parametrize("changes, words", [
    ({"latent_dim": "8"}, "latent_dim"), ({"latent_dim": 8.5}, "latent_dim"), ({"hidden": 1.5}, "hidden"),
    ({"hidden": True}, "hidden"), ({"channels": [1e9, 1e9]}, "channels"), ({"channels": [10**9, 10**9]}, "channels"),
    ({"dataset": 5}, "dataset"), ({"beta": float("nan")}, "beta"), ({"binarize": "yes"}, "binarize"),
    ({"class_names": "abc"}, "class_names"), ({"image_shape": [1, 1024, 1024]}, "image_shape"),
    ({"hidden": 10**6}, "hidden"), ({"channels": [1024, 1024], "hidden": 8192}, "parameters"),
])
def test_config_rejects_wrong_types_and_absurd_sizes(changes, words):
    data = {**json.loads((hostile_corpus.SOURCE / "config.json").read_text()), **changes}
    with pytest.raises(CheckpointError, match=words):
        VAEConfig.from_dict(data)


def test_the_shipped_configs_still_load():
    config = VAEConfig.from_json((hostile_corpus.SOURCE / "config.json").read_text())
    assert config.latent_dim == 8 and config.channels == (32, 64)


def test_clean_metrics_keeps_unknown_fields_and_turns_nan_into_none():
    clean, notes = folder_files.clean_metrics({"elbo": float("nan"), "custom": {"a": 1}, "active_units": -1})
    assert clean == {"elbo": None, "custom": {"a": 1}} and "active_units" in notes[0]
