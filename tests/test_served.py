"""The page's decoder is served by URL: exported once per weights hash into static/models/ and the model's cache
folder, and onnxruntime runs it to the same pixels as the server's decoder."""
import numpy as np
import onnxruntime as ort

from ui.components import served
from vae_core.models.torch_vae import checkpoint


def test_decoder_url_serves_the_display_decoder_once(tiny_models_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(served, "STATIC_MODELS", tmp_path / "static" / "models")
    loaded = checkpoint.load_checkpoint(tiny_models_dir / "digits-tiny")
    url = served.decoder_url(loaded)
    assert url == f"app/static/models/{loaded.weights_hash}.onnx"
    served_file = tmp_path / "static" / "models" / f"{loaded.weights_hash}.onnx"
    cached = loaded.cache_folder / served.DECODER_CACHE_NAME
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


def test_a_map_file_is_named_by_its_content_not_by_the_dataset_name(tmp_path, monkeypatch):
    """A dataset replaced under its name (another $VAE_DATA_DIR, a folder that gained pictures) and a restarted
    server: same model, dataset name, split and projection, but the new map must not get the old placement table
    (the page would blend latents that are not the map's: a million-point map got a 70,000-row table)."""
    from types import SimpleNamespace

    from ui import loaders
    from vae_core.map.placement import Placer

    monkeypatch.setattr(served, "STATIC_MODELS", tmp_path / "static" / "models")
    rng = np.random.default_rng(0)
    urls = []
    for n in (50, 80):
        loaders._results.clear()  # a new server process
        placer = Placer(rng.normal(size=(n, 4)).astype(np.float32), rng.normal(size=(n, 2)).astype(np.float32))
        cur = SimpleNamespace(key=("model", "hash", "digits", "all"), spec="umap", placer=lambda p=placer: p)
        urls.append(served.placement_url(cur))
        assert served.placement_url(cur) == urls[-1]  # once per map in a server
    loaders._results.clear()
    assert urls[0] != urls[1]
    tables = [(tmp_path / "static" / "models" / url.rsplit("/", 1)[1]).read_bytes() for url in urls]
    assert [int.from_bytes(t[:4], "little") for t in tables] == [50, 80]  # each table holds its own map's rows
