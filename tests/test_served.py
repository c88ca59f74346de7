"""The page's decoder is served by URL: exported once per weights hash into static/models/ and the model's cache
folder, and onnxruntime runs it to the same pixels as the server's decoder."""
import numpy as np
import onnxruntime as ort

from ui.components import served
from vae_core import checkpoint


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
    assert 0.0 <= means.min() and means.max() <= 1.0
    pixels = np.round(means[:, 0] * 255).astype(np.uint8)
    assert np.abs(pixels.astype(int) - loaded.model.decode_images(z).astype(int)).max() <= 1
    # a second call reuses the file (same bytes, no re-export)
    mtime = served_file.stat().st_mtime_ns
    assert served.decoder_url(loaded) == url and served_file.stat().st_mtime_ns == mtime
