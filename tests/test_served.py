"""The page's files are published by URL: named by their own content's hash under static/<folder>/, the display
decoder exported once per weights hash (and kept in the model's cache folder), and onnxruntime runs it to the same
pixels as the server's decoder."""
import hashlib

import numpy as np
import onnxruntime as ort
import pytest

from ui import loaders
from ui.components import served
from vae_core.models.torch_vae import checkpoint


@pytest.fixture
def static(tmp_path, monkeypatch):
    """static/ in a temporary folder, with no memoised URL from another test (a new server process)."""
    monkeypatch.setattr(served, "STATIC", tmp_path / "static")
    loaders._results.clear()
    yield tmp_path / "static"
    loaders._results.clear()


def test_publish_names_a_file_by_its_content_and_writes_it_once(static):
    data = b"some bytes for the page"
    url = served.publish(data, "maps", "bin")
    name = f"{hashlib.sha256(data).hexdigest()[:16]}.bin"
    assert url == f"app/static/maps/{name}" and (static / "maps" / name).read_bytes() == data
    mtime = (static / "maps" / name).stat().st_mtime_ns
    assert served.publish(data, "maps", "bin") == url and (static / "maps" / name).stat().st_mtime_ns == mtime
    assert [p.name for p in (static / "maps").iterdir()] == [name]  # no temp file left behind


def test_decoder_url_serves_the_display_decoder_once(tiny_models_dir, static, monkeypatch):
    loaded = checkpoint.load_checkpoint(tiny_models_dir / "digits-tiny")
    url = served.decoder_url(loaded)
    cached = loaded.cache_folder / served.DECODER_CACHE_NAME
    assert url == f"app/static/models/{hashlib.sha256(cached.read_bytes()).hexdigest()[:16]}.onnx"
    served_file = static / "models" / url.rsplit("/", 1)[1]
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
    loaders._results.clear()  # a restarted server reads the copy in the model's cache folder: no second export

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
