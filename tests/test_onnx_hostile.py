"""Hostile or broken ONNX model folders: each refused at load with a message naming the problem, nothing of the
sender's run or read outside the folder, and the rest of the model list still usable."""
import io
import json
import pickle
import shutil
import zipfile

import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_vaes import MLPVAE, endless_loop, export
from vae_core import data, metrics, models
from vae_core.errors import CheckpointError
from vae_core.measure import record_metrics
from vae_core.models.onnx import loader

D = 3


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return export(MLPVAE(latent_dim=D, hidden=16).eval(), tmp_path_factory.mktemp("src") / "good",
                  "bernoulli_logits", "digits")


@pytest.fixture
def copy(good, tmp_path):
    def make(name):
        return shutil.copytree(good, tmp_path / name)
    return make


def refused(folder, *phrases):
    with pytest.raises(CheckpointError) as caught:
        models.load_model(folder)
    message = str(caught.value)
    for phrase in phrases:
        assert phrase in message, message
    return message


def edit_graph(path, change):
    model = onnx.load(path)
    change(model)
    path.write_bytes(model.SerializeToString())


def into_the_output(model, extra: str) -> None:
    """x_hat = x_hat + 0 * extra: the hostile part on the output's path (an output nothing needs is dropped at load,
    its nodes with it, so a hostile extra output alone never runs)."""
    out = model.graph.output[0].name
    for node in model.graph.node:
        node.output[:] = [f"{out}_raw" if name == out else name for name in node.output]
    model.graph.initializer.append(helper.make_tensor("zero_weight", TensorProto.FLOAT, [], [0.0]))
    model.graph.node.extend([helper.make_node("Mul", [extra, "zero_weight"], ["extra_zeroed"]),
                             helper.make_node("Add", [f"{out}_raw", "extra_zeroed"], [out])])


def test_good_folder_loads(good):
    assert models.load_model(good).config.latent_dim == D


def test_wrong_image_shape(copy):
    folder = copy("shape")
    manifest = json.loads((folder / "vae.json").read_text())
    manifest["image_shape"] = [1, 32, 32]
    (folder / "vae.json").write_text(json.dumps(manifest))
    refused(folder, "encoder.onnx fails on a batch of 2 images of shape [1, 32, 32]")


def test_decoder_output_of_another_shape(copy, tmp_path):
    folder = copy("decoder-shape")
    other = export(MLPVAE(image_shape=(1, 16, 16), latent_dim=D, hidden=16).eval(), tmp_path / "o",
                   "bernoulli_logits", "digits")
    shutil.copy(other / "decoder.onnx", folder / "decoder.onnx")
    refused(folder, "decoder.onnx's 'x_hat' came out [2, 1, 16, 16]", "must be [2, 1, 28, 28]")


def test_mismatched_latent_dim(copy, tmp_path):
    folder = copy("mismatched-d")
    other = export(MLPVAE(latent_dim=D + 2, hidden=16).eval(), tmp_path / "o", "bernoulli_logits", "digits")
    shutil.copy(other / "decoder.onnx", folder / "decoder.onnx")  # decoder expects z of 5, encoder gives 3
    refused(folder, "decoder.onnx fails on z of shape [2, 3]")
    manifest = json.loads((folder / "vae.json").read_text())
    manifest["latent_dim"] = D + 2  # now the encoder disagrees with the manifest
    (folder / "vae.json").write_text(json.dumps(manifest))
    refused(folder, "encoder.onnx's 'mu' came out [2, 3]", "latent_dim 5")


def test_custom_operator_domain(copy):
    folder = copy("custom-op")

    def add_custom(model):
        model.graph.node.append(helper.make_node("Backdoor", ["x_hat"], ["pwned"], domain="com.evil"))
        model.opset_import.append(helper.make_opsetid("com.evil", 1))
    edit_graph(folder / "decoder.onnx", add_custom)
    refused(folder, "custom operator domain 'com.evil'", "Backdoor")


@pytest.mark.parametrize("location", ["../../etc/passwd", "/etc/passwd", "sub/../../../etc/passwd",
                                      "C:\\Windows\\win.ini", "link-out"])
def test_external_data_outside_the_folder_is_never_read(copy, location, monkeypatch):
    folder = copy("external")
    (folder / "link-out").symlink_to("/etc/passwd")

    def external(model):
        tensor = model.graph.initializer[0]
        tensor.ClearField("raw_data")
        tensor.ClearField("float_data")
        tensor.data_location = TensorProto.EXTERNAL
        tensor.external_data.add(key="location", value=location)
    edit_graph(folder / "encoder.onnx", external)
    opened = []
    real_open = open

    def watching_open(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr("builtins.open", watching_open)
    refused(folder, "points at external data", "not opened")
    assert not any("passwd" in p or "win.ini" in p for p in opened)


def test_external_data_inside_the_folder_is_fine(copy):
    folder = copy("external-ok")
    model = onnx.load(folder / "encoder.onnx")
    onnx.save_model(model, folder / "encoder.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
                    location="encoder.onnx.data", size_threshold=0)
    assert (folder / "encoder.onnx.data").stat().st_size > 1000
    assert models.load_model(folder).config.latent_dim == D


def test_truncated_file(copy):
    folder = copy("truncated")
    data = (folder / "encoder.onnx").read_bytes()
    (folder / "encoder.onnx").write_bytes(data[: len(data) // 2])
    refused(folder, "encoder.onnx", "Copy or export it again")


def test_manifest_with_unknown_fields(copy):
    folder = copy("unknown-fields")
    manifest = json.loads((folder / "vae.json").read_text())
    manifest.update(temperature=0.7, decoder_kind="pixelcnn")
    (folder / "vae.json").write_text(json.dumps(manifest))
    refused(folder, "unknown field(s) decoder_kind, temperature")


@pytest.mark.parametrize("change, phrase", [
    ({"latent_dim": 1}, "latent_dim must be 2–512"), ({"latent_dim": 513}, "latent_dim must be 2–512"),
    ({"image_shape": [2, 28, 28]}, "channels must be 1 (grey) or 3"),
    ({"image_shape": [1, 300, 300]}, "sides must be 8–256"), ({"likelihood": "poisson"}, "likelihood must be one of"),
    ({"format": "keras"}, "format must be 'onnx-vae'"), ({"sigma": -1}, "sigma must be a positive number"),
    ({"input_range": [0, 255]}, "input_range must be [0, 1] or [-1, 1]"), ({"dataset": ""}, "dataset must name")])
def test_manifest_schema(copy, change, phrase):
    folder = copy("schema")
    manifest = {**json.loads((folder / "vae.json").read_text()), **change}
    (folder / "vae.json").write_text(json.dumps(manifest))
    refused(folder, "vae.json", phrase)


def test_manifest_not_json(copy):
    folder = copy("not-json")
    (folder / "vae.json").write_text("{format: onnx-vae")
    refused(folder, "vae.json: not valid JSON")


def test_zero_byte_file(copy):
    folder = copy("empty")
    (folder / "decoder.onnx").write_bytes(b"")
    refused(folder, "decoder.onnx", "empty (0 bytes)")


class Trap:
    """Unpickling this would create a file: proof that nothing is unpickled."""
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_renamed_encoder_onnx(copy, tmp_path):
    folder = copy("pickle")
    marker = tmp_path / "unpickled"
    (folder / "encoder.onnx").write_bytes(pickle.dumps({"state_dict": Trap(str(marker))}))
    refused(folder, "encoder.onnx", "Python pickle", "never loaded")
    assert not marker.exists()


def test_a_graph_eating_memory_is_stopped(copy):
    folder = copy("memory")

    def huge(model):  # a 64 GB tensor out of a 10-number input: the dummy run must not take the machine down
        shape = numpy_helper.from_array(__import__("numpy").array([1 << 34], dtype="int64"), "huge_shape")
        model.graph.initializer.append(shape)
        model.graph.node.append(helper.make_node("ConstantOfShape", ["huge_shape"], ["huge"]))
        model.graph.node.append(helper.make_node("ReduceSum", ["huge"], ["huge_sum"], keepdims=0))
        into_the_output(model, "huge_sum")
    edit_graph(folder / "decoder.onnx", huge)
    refused(folder, "needed more than", "GB of memory and was stopped")


def test_a_graph_running_forever_is_stopped(copy, monkeypatch):
    folder = copy("forever")

    def endless(model):  # a Loop of 2^62 iterations
        into_the_output(model, endless_loop(model))
    edit_graph(folder / "decoder.onnx", endless)
    monkeypatch.setattr(loader, "PROBE_TIMEOUT_S", 5.0)
    refused(folder, "took longer than 5 s and was stopped")


def test_model_list_keeps_working_beside_broken_folders(copy, tmp_path):
    good = copy("fine")
    for name in ("zero", "pickled"):
        broken = copy(name)
        (broken / "encoder.onnx").write_bytes(b"" if name == "zero" else pickle.dumps([1, 2]))
    listed = {m.name: m for m in models.list_models([tmp_path])}
    assert listed["fine"].error is None and listed["fine"].source == "onnx" and listed["fine"].latent_dim == D
    assert "empty (0 bytes)" in listed["zero"].error and "pickle" in listed["pickled"].error
    assert models.load_model(good).config.latent_dim == D


def zipped(folder, prefix="") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, prefix + path.name)
    return buffer.getvalue()


def measure_on_digits(loaded):
    """What the Train page starts after an import (ui/measuring.py): the test metrics, measured once."""
    record_metrics(loaded, data.load_dataset("digits"))


def test_zip_upload_is_checked_then_listed(good, tmp_path):
    models_dir = tmp_path / "models_dir"
    installed = models.import_zip("my-vae.zip", zipped(good, "my-vae/"), models_dir)
    assert sorted(p.name for p in installed.iterdir()) == ["decoder.onnx", "encoder.onnx", "vae.json"]
    assert oct(installed.stat().st_mode & 0o777) != oct(0o700)  # the umask's mode, not mkdtemp's
    measure_on_digits(models.load_model(installed))  # what the page starts right after (ui/measuring.py)
    assert installed.parent == models_dir and installed.name.startswith("my-vae")
    assert sorted(p.name for p in installed.iterdir()) == ["decoder.onnx", "encoder.onnx", "metrics.json", "vae.json"]
    (info,) = models.list_models([models_dir])
    assert info.name == installed.name and info.error is None
    # measured once at import, as after our trainings: the list and the sidebar show them
    expected = metrics.evaluate(models.load_model(installed).model, data.load_dataset("digits").test_images)
    assert abs(info.metrics["elbo"] - expected["elbo"]) < 1e-3 and info.metrics["iwae_bound"] > info.metrics["elbo"] - 1
    shared = models.zip_model(installed)  # and it can be downloaded again, and deleted
    assert sorted(zipfile.ZipFile(io.BytesIO(shared)).namelist())[0].endswith("decoder.onnx")
    models.delete_model(installed)
    assert not installed.exists()


def test_zip_upload_refusals_leave_nothing_behind(copy, tmp_path):
    models_dir = tmp_path / "models_dir"
    broken = copy("unknown")
    (broken / "vae.json").write_text(json.dumps({**json.loads((broken / "vae.json").read_text()), "extra": 1}))
    with pytest.raises(CheckpointError, match="unknown field"):
        models.import_zip("broken.zip", zipped(broken), models_dir)
    traversal = io.BytesIO()
    with zipfile.ZipFile(traversal, "w") as archive:
        archive.writestr("../../evil.onnx", b"x")
        archive.writestr("vae.json", "{}")
    with pytest.raises(CheckpointError, match="outside the archive"):
        models.import_zip("evil.zip", traversal.getvalue(), models_dir)
    with pytest.raises(CheckpointError, match="not a readable zip"):
        models.import_zip("junk.zip", b"not a zip at all", models_dir)
    assert not models_dir.exists() and not (tmp_path / "evil.onnx").exists()  # refused before anything is written


def test_custom_operator_hidden_in_a_subgraph(copy):
    folder = copy("custom-op-inside-if")

    def hide(model):
        inner = helper.make_graph([helper.make_node("Backdoor", [], ["y"], domain="com.evil")], "then",
                                  [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        plain = helper.make_graph([helper.make_node("Constant", [], ["y2"], value=helper.make_tensor(
            "c", TensorProto.FLOAT, [1], [0.0]))], "else", [],
            [helper.make_tensor_value_info("y2", TensorProto.FLOAT, [1])])
        model.graph.initializer.append(helper.make_tensor("flag", TensorProto.BOOL, [], [False]))
        model.graph.node.append(helper.make_node("If", ["flag"], ["branch"], then_branch=inner, else_branch=plain))
        model.graph.output.append(helper.make_tensor_value_info("branch", TensorProto.FLOAT, [1]))
    edit_graph(folder / "decoder.onnx", hide)
    refused(folder, "custom operator domain 'com.evil'")


def test_a_graph_linked_from_outside_the_folder_is_not_opened(copy, tmp_path):
    folder = copy("linked")
    outside = tmp_path / "elsewhere.onnx"
    shutil.move(folder / "encoder.onnx", outside)
    (folder / "encoder.onnx").symlink_to(outside)
    refused(folder, "encoder.onnx", "link to a file outside the model folder")


# --- what an import may do (models/onnx/importing.py) ------------------------------------------------------------
def zip_with(folder, extra: dict | None = None, manifest: dict | None = None, compress=zipfile.ZIP_DEFLATED) -> bytes:
    """A model folder's zip with extra members {name: bytes} and vae.json fields changed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compress) as archive:
        for path in sorted(folder.iterdir()):
            content = path.read_bytes()
            if path.name == "vae.json" and manifest:
                content = json.dumps({**json.loads(content), **manifest}).encode()
            archive.writestr(f"m/{path.name}", content)
        for name, content in (extra or {}).items():
            archive.writestr(f"m/{name}", content)
    return buffer.getvalue()


def refused_import(data: bytes, parent, *phrases, name="up.zip"):
    with pytest.raises(CheckpointError) as caught:
        models.import_zip(name, data, parent)
    for phrase in phrases:
        assert phrase in str(caught.value), str(caught.value)
    assert "Nothing was imported" in str(caught.value)
    assert not parent.exists() or not any(parent.iterdir()), list(parent.iterdir())  # nothing left, hidden or not
    return str(caught.value)


@pytest.mark.parametrize("dataset", ["folder:/usr/share/icons", "folder:~/pics", "folder:/", "npz:/etc/data.npz"])
def test_an_import_may_not_name_pictures_outside_the_data_roots(good, tmp_path, monkeypatch, dataset):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    refused_import(zip_with(good, manifest={"dataset": dataset}), tmp_path / "models",
                   "names the dataset", "outside the folders this app may read")


@pytest.mark.parametrize("extra, phrase", [
    ({"notes.txt": b"hello"}, "notes.txt"),
    ({"cache/0123456789abcdef/display-decoder.onnx": b"junk"}, "cache/0123456789abcdef/display-decoder.onnx"),
    ({"train.json": b"{}"}, "train.json"),
])
def test_an_import_writes_only_the_contract_files(good, tmp_path, extra, phrase):
    refused_import(zip_with(good, extra), tmp_path / "models", phrase, "not part of an ONNX model folder")


def test_a_zips_metrics_are_left_out_and_measured_here(good, tmp_path):
    invented = json.dumps({"elbo": -1.0, "active_units": "![x](https://evil.example/p.png)"}).encode()
    installed = models.import_zip("up.zip", zip_with(good, {"metrics.json": invented}), tmp_path / "models")
    assert not (installed / "metrics.json").exists() and models.describe(installed).metrics == {}


def test_padding_that_deflates_a_thousandfold_is_refused(good, tmp_path):
    refused_import(zip_with(good, {"encoder.onnx.data": bytes(30_000_000)}), tmp_path / "models",
                   "encoder.onnx.data unpacks to 30.0 MB", "mostly padding")


def test_external_data_bigger_than_its_graphs_read_is_refused(copy, tmp_path):
    folder = copy("external")
    graph = onnx.load(folder / "decoder.onnx")
    onnx.save_model(graph, folder / "decoder.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
                    location="decoder.weights", size_threshold=0)
    with open(folder / "decoder.weights", "ab") as handle:
        handle.write(__import__("os").urandom(2_000_000))  # random: it does not deflate, it is just more than read
    refused_import(zipped(folder, "m/"), tmp_path / "models", "decoder.weights is", "its graphs read only")
    shutil.copy(folder / "decoder.weights", tmp_path / "w")
    with open(folder / "decoder.weights", "r+b") as handle:
        handle.truncate((tmp_path / "w").stat().st_size - 2_000_000)
    installed = models.import_zip("ok.zip", zipped(folder, "m/"), tmp_path / "models")  # exactly what is read: fine
    assert sorted(p.name for p in installed.iterdir()) == ["decoder.onnx", "decoder.weights", "encoder.onnx",
                                                           "vae.json"]


def test_a_full_disk_is_said_before_anything_is_written(good, tmp_path, monkeypatch):
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    refused_import(zip_with(good), tmp_path / "models", "on disk", "free")


def test_an_error_while_writing_is_a_message_and_leaves_nothing(good, tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    def no_space(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Path, "write_bytes", no_space)
    refused_import(zip_with(good), tmp_path / "models", "could not be written", "No space left on device")


def test_a_very_long_upload_name_still_gets_a_folder(good, tmp_path):
    installed = models.import_zip("x" * 300 + ".zip", zip_with(good), tmp_path / "models")
    assert installed.is_dir() and len(installed.name) <= 90


def test_what_a_kill_leaves_is_removed_at_the_next_start(good, tmp_path):
    import os
    import time

    parent = tmp_path / "models"
    installed = models.import_zip("kept.zip", zip_with(good), parent)
    stale = parent / ".import-abc123"
    stale.mkdir()
    (stale / "encoder.onnx").write_bytes(b"half")
    fresh = parent / ".bring-live"  # another server's import in progress: young, kept
    fresh.mkdir()
    empty = parent / "digits-z16-3"  # a training killed before its first epoch was saved
    empty.mkdir()
    young = parent / "digits-z16-4"  # a training that just reserved its folder
    young.mkdir()
    old = time.time() - 3600
    for folder in (stale, empty):
        os.utime(folder, (old, old))
    removed = models.remove_leftovers(parent, now=time.time())
    assert sorted(removed) == [".import-abc123", "digits-z16-3"]
    assert sorted(p.name for p in parent.iterdir()) == sorted([".bring-live", "digits-z16-4", installed.name])
