"""Model folders: atomic saves, safetensors-only loads, listing, deleting, zipping, naming."""
import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from vae_core import paths
from vae_core.models.torch_vae import checkpoint
from vae_core.models.torch_vae.checkpoint import load_checkpoint, load_training_state, save_checkpoint
from vae_core.models import delete_model, list_models, unique_model_dir, weights_hash, zip_model
from vae_core.errors import CheckpointError
from vae_core.models.torch_vae.model import VAE, VAEConfig


def tiny_config(**overrides) -> VAEConfig:
    settings = dict(image_shape=(1, 8, 8), latent_dim=2, channels=(2, 4), hidden=8, dataset="digits",
                    class_names=[str(i) for i in range(10)])
    settings.update(overrides)
    return VAEConfig(**settings)


def tiny_model(seed: int = 0, **overrides) -> VAE:
    torch.manual_seed(seed)
    return VAE(tiny_config(**overrides))


@pytest.fixture
def saved(tmp_path) -> tuple[Path, VAE]:
    model = tiny_model()
    folder = save_checkpoint(tmp_path / "m-1", model, metrics={"elbo": -12.5},
                             train_info={"history": [{"epoch": 1}, {"epoch": 2}], "lr": 1e-3})
    return folder, model


class Marker:
    """Unpickling this would create a file: proof that a pickle was executed."""
    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def test_round_trip_gives_identical_outputs(saved):
    folder, model = saved
    loaded = load_checkpoint(folder)
    x = torch.rand(5, 1, 8, 8)
    model.eval()
    assert torch.equal(loaded.model.encode(x)[0], model.encode(x)[0])
    assert torch.equal(loaded.model.decode(torch.ones(3, 2)), model.decode(torch.ones(3, 2)))
    assert loaded.config == model.config
    assert loaded.metrics == {"elbo": -12.5}
    assert loaded.train_info["history"] == [{"epoch": 1}, {"epoch": 2}]
    assert loaded.weights_hash == weights_hash(folder) and len(loaded.weights_hash) == 16
    assert loaded.cache_folder == folder / "cache" / loaded.weights_hash
    assert not loaded.model.training and loaded.read_only is False
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "metrics.json", "model.safetensors",
                                                        "train.json"]


def test_weights_hash_changes_with_weights(saved, tmp_path):
    folder, _ = saved
    other = save_checkpoint(tmp_path / "other", tiny_model(seed=1))
    assert weights_hash(folder) != weights_hash(other)


def test_crash_during_replace_keeps_old_file_and_leaves_no_temp(saved, monkeypatch):
    folder, _ = saved
    before = {name: (folder / name).read_bytes() for name in ("model.safetensors", "metrics.json")}

    def crash(src, dst):
        raise OSError("simulated power cut")
    monkeypatch.setattr(checkpoint.os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        save_checkpoint(folder, tiny_model(seed=5), metrics={"elbo": -1.0})
    assert (folder / "model.safetensors").read_bytes() == before["model.safetensors"]
    assert (folder / "metrics.json").read_bytes() == before["metrics.json"]
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []
    monkeypatch.undo()
    assert load_checkpoint(folder).metrics == {"elbo": -12.5}


def test_temp_file_left_by_kill_is_ignored_and_cleaned(saved):
    folder, _ = saved
    stale = folder / ".model.safetensors.abc.tmp"
    stale.write_bytes(b"half a file")
    assert list_models([folder.parent])[0].error is None
    assert ".model.safetensors.abc.tmp" not in zipfile.ZipFile(io.BytesIO(zip_model(folder))).namelist()
    save_checkpoint(folder, tiny_model())
    assert not stale.exists()


def test_pickle_renamed_to_safetensors_is_refused_without_running_it(saved, tmp_path):
    folder, _ = saved
    marker = tmp_path / "pwned"
    (folder / "model.safetensors").write_bytes(pickle.dumps({"w": Marker(str(marker))}))
    with pytest.raises(CheckpointError, match="not a valid safetensors file") as err:
        load_checkpoint(folder)
    assert str(folder) in str(err.value)
    assert not marker.exists()
    listed = list_models([folder.parent])
    assert "not a valid safetensors file" in listed[0].error and not marker.exists()


def test_torch_save_zip_file_is_refused(saved, tmp_path):
    folder, model = saved
    marker = tmp_path / "pwned"
    torch.save({"w": Marker(str(marker))}, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_checkpoint(folder)
    assert not marker.exists()


def test_truncated_safetensors_is_refused(saved):
    folder, _ = saved
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors in .* is not a valid safetensors file"):
        load_checkpoint(folder)


def test_shape_mismatch_names_the_key(saved):
    folder, _ = saved
    save_file({k: v for k, v in tiny_model(latent_dim=3).state_dict().items()}, folder / "model.safetensors")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(folder)
    message = str(err.value)
    assert "does not match its config.json" in message
    assert "encoder.7.weight (6, 8) vs config (4, 8)" in message  # 2 * latent_dim output rows


def test_missing_and_unexpected_keys_are_named(saved):
    folder, model = saved
    state = dict(model.state_dict())
    state.pop("decoder_conv.2.bias")
    state["extra.weight"] = torch.zeros(2)
    save_file(state, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"missing: decoder_conv.2.bias; unexpected: extra.weight"):
        load_checkpoint(folder)


def test_nan_weights_are_refused(saved):
    folder, model = saved
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["encoder.0.weight"][0, 0, 0, 0] = float("nan")
    save_file(state, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match="NaN/inf values .*encoder.0.weight"):
        load_checkpoint(folder)


def test_missing_files_name_the_path(saved, tmp_path):
    folder, _ = saved
    (folder / "metrics.json").unlink()
    assert load_checkpoint(folder).metrics == {}
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=str(folder / "model.safetensors")):
        load_checkpoint(folder)
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match=str(folder / "config.json")):
        load_checkpoint(folder)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")


def test_bad_config_names_the_file(saved):
    folder, _ = saved
    (folder / "config.json").write_text(json.dumps({"latent_dim": 999}))
    with pytest.raises(CheckpointError, match=r"config.json: config.json is invalid: latent_dim 999"):
        load_checkpoint(folder)


def test_list_models_shows_good_and_broken(saved, tmp_path):
    folder, _ = saved
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    (tmp_path / "not-a-model").mkdir()  # no config/weights: not listed
    infos = {info.name: info for info in list_models([tmp_path, tmp_path / "absent"])}
    assert set(infos) == {"m-1", "broken"}
    good = infos["m-1"]
    assert (good.path, good.dataset, good.latent_dim, good.epochs) == (folder, "digits", 2, 2)
    assert good.metrics == {"elbo": -12.5} and good.error is None and good.read_only is False
    assert good.modified == pytest.approx((folder / "model.safetensors").stat().st_mtime)
    assert "config.json is not valid JSON" in infos["broken"].error
    assert str(broken / "config.json") in infos["broken"].error


def test_list_models_flags_shape_mismatch_without_loading(saved):
    folder, _ = saved
    config = json.loads((folder / "config.json").read_text())
    config["hidden"] = 16
    (folder / "config.json").write_text(json.dumps(config))
    [info] = list_models([folder.parent])
    assert "wrong shape" in info.error and "encoder.5.weight" in info.error


def test_delete_model(saved, tmp_path, monkeypatch):
    folder, _ = saved
    (folder / "cache" / "abc").mkdir(parents=True)
    (folder / "cache" / "abc" / "umap.npz").write_bytes(b"x")
    delete_model(folder)
    assert not folder.exists()

    pretrained = tmp_path / "pretrained"
    monkeypatch.setattr(paths, "PRETRAINED_DIR", pretrained)
    shipped = save_checkpoint(pretrained / "default", tiny_model())
    with pytest.raises(CheckpointError, match="pretrained model"):
        delete_model(shipped)
    assert (shipped / "model.safetensors").exists()
    assert load_checkpoint(shipped).read_only is True
    assert [i.read_only for i in list_models([pretrained])] == [True]


def test_delete_refuses_non_model_folders(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    with pytest.raises(CheckpointError, match="no config.json"):
        delete_model(home)
    (home / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="thesis.tex"):
        delete_model(home)
    assert (home / "thesis.tex").read_text() == "years of work"


def test_zip_has_model_files_and_no_cache_or_optimizer(saved):
    folder, model = saved
    optimizer = torch.optim.Adam(model.parameters())
    save_checkpoint(folder, model, {"elbo": -3.0}, {"history": []}, {"optimizer": optimizer.state_dict()})
    (folder / "cache" / "abc").mkdir(parents=True)
    (folder / "cache" / "abc" / "umap.npz").write_bytes(b"x" * 100)
    archive = zipfile.ZipFile(io.BytesIO(zip_model(folder)))
    assert sorted(archive.namelist()) == ["m-1/config.json", "m-1/metrics.json", "m-1/model.safetensors",
                                          "m-1/train.json"]
    assert archive.read("m-1/model.safetensors") == (folder / "model.safetensors").read_bytes()
    assert json.loads(archive.read("m-1/metrics.json")) == {"elbo": -3.0}


def test_optimizer_state_round_trip(saved):
    folder, model = saved
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.8, 0.99))
    x = torch.rand(16, 1, 8, 8)
    for _ in range(3):
        optimizer.zero_grad()
        model.loss(x)["loss"].backward()
        optimizer.step()
    rng = torch.get_rng_state()
    np_state = np.random.default_rng(3).bit_generator.state
    save_checkpoint(folder, model, training_state={"epoch": 3, "optimizer": optimizer.state_dict(), "rng": rng,
                                                    "numpy": np_state, "counts": np.arange(4)})
    state = load_training_state(folder)
    assert state["epoch"] == 3 and torch.equal(state["rng"], rng) and state["numpy"] == np_state
    assert np.array_equal(state["counts"], np.arange(4))

    restored_model = load_checkpoint(folder).model.train()
    restored = torch.optim.Adam(restored_model.parameters(), lr=0.5)
    restored.load_state_dict(state["optimizer"])
    assert restored.param_groups[0]["lr"] == 1e-2 and restored.param_groups[0]["betas"] == (0.8, 0.99)
    original_state = optimizer.state_dict()["state"]
    for pid, values in restored.state_dict()["state"].items():
        for name, tensor in values.items():
            assert torch.equal(tensor, original_state[pid][name]), (pid, name)
    for opt, net in ((optimizer, model), (restored, restored_model)):  # one more step: same weights
        torch.manual_seed(0)  # same reparameterisation noise for both
        opt.zero_grad()
        net.loss(x)["loss"].backward()
        opt.step()
    for a, b in zip(model.parameters(), restored_model.parameters()):
        assert torch.equal(a, b)


def test_training_state_absent_or_stale(saved):
    folder, model = saved
    assert load_training_state(folder) is None
    save_checkpoint(folder, model, training_state={"epoch": 1})
    assert load_training_state(folder) == {"epoch": 1}
    save_file(tiny_model(seed=9).state_dict(), folder / "model.safetensors")  # weights moved on, state did not
    with pytest.warns(UserWarning, match="other weights"):
        assert load_training_state(folder) is None


def test_training_state_refuses_unpicklable_objects(saved):
    folder, model = saved
    with pytest.raises(CheckpointError, match="object at 'epoch'"):
        save_checkpoint(folder, model, training_state={"epoch": object()})


def test_unique_model_dir_never_reuses_a_name(tmp_path):
    first = unique_model_dir("fashion-mnist-z16", tmp_path)
    second = unique_model_dir("fashion-mnist-z16", tmp_path)
    assert (first.name, second.name) == ("fashion-mnist-z16-1", "fashion-mnist-z16-2")
    assert first.is_dir() and second.is_dir()
    assert unique_model_dir("../../etc/passwd x", tmp_path).parent == tmp_path
    assert unique_model_dir("", tmp_path).name == "model-1"


def test_unique_model_dir_defaults_to_models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_MODELS_DIR", str(tmp_path / "mine"))
    assert unique_model_dir("digits-z2") == tmp_path / "mine" / "digits-z2-1"
