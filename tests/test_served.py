"""The page's files are published by URL: named by their own content's hash under this server's static folder, the
display decoder exported by the app once per model (and kept in the app's cache, never the model folder's), and
onnxruntime runs it to the same pixels as the server's decoder; a deleted model's files go with it, and a dead
server's files are removed when the next one starts."""
import hashlib

import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from ui import loaders
from ui.components import served
from vae_core import paths
from vae_core.models.torch_vae import checkpoint


@pytest.fixture
def static(tmp_path, monkeypatch):
    """static/ and the app's cache in a temporary folder, with no memoised URL from another test (a new server)."""
    monkeypatch.setattr(served, "STATIC", tmp_path / "static")
    monkeypatch.setenv("VAE_CACHE_DIR", str(tmp_path / "cache"))
    loaders._results.clear()
    yield served.run_folder()
    loaders._results.clear()


def test_publish_names_a_file_by_its_content_and_writes_it_once(static):
    data = b"some bytes for the page"
    url = served.publish(data, "maps", "bin")
    name = f"{hashlib.sha256(data).hexdigest()[:16]}.bin"
    assert url == f"app/static/run/{os.getpid()}/maps/{name}" and (static / "maps" / name).read_bytes() == data
    assert served.file_of(url) == static / "maps" / name and served.file_of("app/static/../x") is None
    mtime = (static / "maps" / name).stat().st_mtime_ns
    assert served.publish(data, "maps", "bin") == url and (static / "maps" / name).stat().st_mtime_ns == mtime
    assert [p.name for p in (static / "maps").iterdir()] == [name]  # no temp file left behind


def test_decoder_url_serves_the_display_decoder_once(tiny_models_dir, static, monkeypatch):
    loaded = checkpoint.load_checkpoint(tiny_models_dir / "digits-tiny")
    url = served.decoder_url(loaded)
    cached = served.decoder_cache(loaded.weights_hash)
    assert cached.is_relative_to(paths.cache_dir()) and not list(loaded.path.rglob("display-decoder*"))
    assert url.endswith(f"/models/{hashlib.sha256(cached.read_bytes()).hexdigest()[:16]}.onnx")
    served_file = served.file_of(url)
    assert served_file.read_bytes() == cached.read_bytes()
    z = np.random.default_rng(0).normal(size=(64, loaded.config.latent_dim)).astype(np.float32)
    session = ort.InferenceSession(str(served_file), providers=["CPUExecutionProvider"])
    means = session.run(None, {session.get_inputs()[0].name: z})[0]
    assert means.shape == (64, *loaded.config.image_shape)
    assert means.min() >= 0.0 and means.max() <= 1.0
    pixels = np.round(means[:, 0] * 255).astype(np.uint8)
    assert np.abs(pixels.astype(int) - loaded.model.decode_images(z).astype(int)).max() <= 1
    # a second call reuses the file (same bytes, no re-export)
    mtime = served_file.stat().st_mtime_ns
    assert served.decoder_url(loaded) == url and served_file.stat().st_mtime_ns == mtime
    loaders._results.clear()  # a restarted server reads the copy in the app's cache: no second export

    def export_again():
        raise AssertionError("the display decoder was exported again")
    monkeypatch.setattr(loaded.model, "display_decoder_onnx", export_again)
    assert served.decoder_url(loaded) == url


def test_a_map_file_is_named_by_its_content_not_by_the_dataset_name(static):
    """A dataset replaced under its name (another $VAE_DATA_DIR, a folder that gained pictures) and a restarted
    server: same model, dataset name, split and projection, but the new map must not get the old placement table
    (the page would blend latents that are not the map's: a million-point map got a 70,000-row table)."""
    from types import SimpleNamespace

    from vae_core.map.placement import Placer

    rng = np.random.default_rng(0)
    urls = []
    for n in (50, 80):
        loaders._results.clear()  # a new server process
        placer = Placer(rng.normal(size=(n, 4)).astype(np.float32), rng.normal(size=(n, 2)).astype(np.float32))
        cur = SimpleNamespace(key=("model", "hash", "digits", "all"), spec="umap", placer=lambda p=placer: p)
        urls.append(served.placement_url(cur))
        assert served.placement_url(cur) == urls[-1]  # once per map in a server
    assert urls[0] != urls[1]
    tables = [(static / "models" / url.rsplit("/", 1)[1]).read_bytes() for url in urls]
    assert [int.from_bytes(t[:4], "little") for t in tables] == [50, 80]  # each table holds its own map's rows


def test_a_file_planted_in_a_model_folder_is_never_served(tiny_models_dir, static, tmp_path):
    """A zip could once write cache/<hash>/display-decoder.onnx (its hash can be worked out offline) and the page
    fetched it as the model's decoder."""
    import shutil

    folder = shutil.copytree(tiny_models_dir / "digits-tiny", tmp_path / "planted")
    loaded = checkpoint.load_checkpoint(folder)
    (loaded.cache_folder).mkdir(parents=True, exist_ok=True)
    (loaded.cache_folder / "display-decoder.onnx").write_bytes(b"junk pretending to be a decoder")
    served_file = served.file_of(served.decoder_url(loaded))
    assert served_file.read_bytes() != b"junk pretending to be a decoder"
    ort.InferenceSession(str(served_file), providers=["CPUExecutionProvider"])  # a real graph, exported here


def test_a_deleted_models_files_go_with_it(tiny_models_dir, static, tmp_path):
    import shutil

    from vae_core import models

    folder = shutil.copytree(tiny_models_dir / "digits-tiny", tmp_path / "doomed")
    loaded = checkpoint.load_checkpoint(folder)
    shared = served.publish(b"a file another model uses too", "maps", "png")
    loaders.memo(("map-atlas", "other-model", "digits", "test"), lambda cb: {"url": shared})
    loaders.memo(("map-atlas", str(folder), "digits", "test"), lambda cb: {"url": shared})
    own = served.decoder_url(loaded)
    models.delete_model(folder)
    assert served.forget(loaders.forget_model(folder)) == 1
    assert served.file_of(own) is not None and not served.file_of(own).exists()
    assert served.file_of(shared).exists()  # still another model's
    assert ("served-decoder", str(folder), loaded.weights_hash) not in loaders._results().values


def test_a_dead_servers_files_are_pruned_when_a_server_starts(static, monkeypatch):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = served.STATIC / served.RUNS / dead.stdout.strip() / "maps"
    gone.mkdir(parents=True)
    (gone / "old.bin").write_bytes(b"x")
    (served.STATIC / "maps").mkdir()  # the layout before static/run/
    mine = served.publish(b"this server's", "maps", "bin")
    monkeypatch.setattr(served, "_pruned", __import__("threading").Event())
    removed = served.prune_orphans()
    assert f"run/{dead.stdout.strip()}" in removed and "maps" in removed and not gone.exists()
    assert served.file_of(mine).exists() and served.prune_orphans() == []  # once per process
