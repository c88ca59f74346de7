"""ONNX export of our VAE: onnxruntime gives torch's numbers, and a failing export is one clear error."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from vae_core.models.torch_vae import export as onnx_export
from vae_core.models.onnx import display
from vae_core.models.torch_vae.model import VAE, VAEConfig

TOLERANCE = 1e-5


def model_of(shape, seed=0) -> VAE:
    torch.manual_seed(seed)
    return VAE(VAEConfig(image_shape=shape, latent_dim=6, channels=(4, 8), hidden=16)).eval()


def run(graph: bytes, name: str, value: np.ndarray) -> list[np.ndarray]:
    return ort.InferenceSession(graph, providers=["CPUExecutionProvider"]).run(None, {name: value})


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)], ids=["grey", "colour"])
@pytest.mark.parametrize("batch", [1, 64])
def test_onnxruntime_matches_torch(shape, batch):
    model = model_of(shape)
    rng = np.random.default_rng(batch)
    z = rng.normal(size=(batch, 6)).astype(np.float32)
    x = rng.random((batch, *shape), dtype=np.float32)
    with torch.no_grad():
        logits = model.decode(torch.from_numpy(z)).numpy()
        mu, logvar = (t.numpy() for t in model.encode(torch.from_numpy(x)))

    (got_logits,) = run(onnx_export.decoder_bytes(model), "z", z)
    (got_means,) = run(onnx_export.decoder_bytes(model, means=True), "z", z)
    got_mu, got_logvar = run(onnx_export.encoder_bytes(model), "x", x)

    assert got_logits.shape == (batch, *shape)
    assert np.abs(got_logits - logits).max() <= TOLERANCE
    assert np.abs(got_means - 1 / (1 + np.exp(-logits))).max() <= TOLERANCE
    assert np.abs(got_mu - mu).max() <= TOLERANCE and np.abs(got_logvar - logvar).max() <= TOLERANCE


def test_means_decoder_maps_each_likelihood_to_pixel_means():
    model = model_of((1, 8, 8))
    z = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    logits_graph = onnx_export.decoder_bytes(model)
    (logits,) = run(logits_graph, "z", z)
    (from_logits,) = run(display.means_decoder(logits_graph, "bernoulli_logits"), "z", z)
    assert np.abs(from_logits - 1 / (1 + np.exp(-logits))).max() <= TOLERANCE
    # a decoder of [-1, 1] images: (x + 1) / 2, clipped to [0, 1]
    (from_gaussian,) = run(display.means_decoder(logits_graph, "gaussian", (-1, 1)), "z", z)
    assert np.abs(from_gaussian - np.clip((logits + 1) / 2, 0, 1)).max() <= TOLERANCE
    (identity,) = run(display.means_decoder(logits_graph, "bernoulli_probs"), "z", z)
    assert np.array_equal(identity, logits)


def test_export_model_writes_the_contract(tmp_path):
    model = model_of((1, 8, 8))
    out = onnx_export.export_model(model, tmp_path / "onnx")
    assert sorted(p.name for p in out.iterdir()) == ["decoder.onnx", "encoder.onnx", "vae.json"]
    for name in ("encoder.onnx", "decoder.onnx"):
        onnx.checker.check_model(onnx.load(str(out / name)))
    import json
    manifest = json.loads((out / "vae.json").read_text())
    assert manifest["format"] == "onnx-vae" and manifest["latent_dim"] == 6
    assert manifest["image_shape"] == [1, 8, 8] and manifest["likelihood"] == "bernoulli_logits"


class Unexportable(torch.nn.Module):
    """A decoder using an op the TorchScript exporter cannot write at opset 17 (an FFT)."""

    def forward(self, z):
        return torch.fft.fft(z).real


def test_a_failed_export_is_a_clear_error(tmp_path):
    model = model_of((1, 8, 8))
    model.decode = lambda z: Unexportable()(z).reshape(-1, 1, 2, 3)  # not a graph ONNX opset 17 can hold
    with pytest.raises(onnx_export.ExportError, match="could not be exported to ONNX"):
        onnx_export.export_model(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written
