"""The one model interface (vae_core/models/base.py): every likelihood goes through the model's own pixel_means, so
the map's inverse, its fidelity and the learned lens are right for ONNX models declared bernoulli_probs or gaussian
(they used to apply a sigmoid to every decoder); and model folders written before the package move still open,
their caches still read."""
import re
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from onnx_vaes import MLPVAE, export, train_one_epoch
from vae_core import data, metrics, models
from vae_core.errors import NumericError
from vae_core.map import encodings, inverse, projection
from vae_core.map.cache import Cache
from vae_core.map.projection import ProjectionSpec, cached_projection

ROOT = Path(__file__).resolve().parents[1]
LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy-digits-z3"  # written by the code at 7882383


@pytest.fixture(scope="module")
def digits():
    return data.load_dataset("digits")


def _torch_means(vae: MLPVAE, z) -> np.ndarray:
    """Pixel means in [0, 1] straight from the torch module, as its author would compute them."""
    with torch.no_grad():
        x_hat = vae.decode(torch.as_tensor(np.asarray(z, dtype=np.float32)))
    if vae.out == "tanh":  # a Gaussian on [-1, 1] images
        return ((x_hat + 1) / 2).clamp(0, 1).numpy()
    return x_hat.numpy()  # probabilities


@pytest.fixture(scope="module", params=["bernoulli_probs", "gaussian"])
def onnx_model(request, digits, tmp_path_factory):
    """A trained MLP VAE exported to ONNX with the README's snippet, declared with this likelihood."""
    x = data.to_tensor(digits.train_images)
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "bernoulli_probs":
        vae = train_one_epoch(MLPVAE(latent_dim=3, hidden=64, out="probs"), x)
        export(vae, folder, "bernoulli_probs", "digits")
    else:
        vae = train_one_epoch(MLPVAE(latent_dim=3, hidden=64, out="tanh"), x, sigma=0.3, scale=(-1.0, 1.0))
        export(vae, folder, "gaussian", "digits", sigma=0.3, input_range=[-1, 1])
    return vae, models.load_model(folder)


def test_decode_means_is_the_likelihoods_own_pixel_means(onnx_model, digits):
    vae, loaded = onnx_model
    z = np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.model.decode_means(z), _torch_means(vae, z), atol=1e-5)
    np.testing.assert_allclose(loaded.model.decode_images(z).astype(float),
                               np.round(_torch_means(vae, z)[:, 0] * 255), atol=1)


def test_inverse_fidelity_is_measured_on_the_models_own_pixels(onnx_model, digits):
    vae, loaded = onnx_model
    encoded = encodings.encode_split(loaded, digits, "test")
    coords = projection.fit_projection(encoded.mu, ProjectionSpec("pca"))
    fit = inverse.fit_inverse(coords, encoded.mu, steps=200)
    through_interface = inverse.measure(fit, coords, encoded.mu, loaded.model.decode_means)
    direct = inverse.measure(fit, coords, encoded.mu, lambda z: _torch_means(vae, z))
    assert through_interface.learned == pytest.approx(direct.learned, rel=1e-3)
    assert through_interface.knn == pytest.approx(direct.knn, rel=1e-3)
    with torch.no_grad():  # what the old code measured: a sigmoid over outputs that are not logits
        wrong = inverse.measure(fit, coords, encoded.mu,
                                lambda z: torch.sigmoid(loaded.model.decode(torch.as_tensor(z))).numpy())
    assert abs(wrong.knn - direct.knn) > 0.2 * direct.knn, "the test must be able to tell the sigmoid bug apart"


def test_the_learned_lens_decodes_xy_like_torch(onnx_model, digits):
    vae, loaded = onnx_model
    encoded = encodings.encode_split(loaded, digits, "test")
    coords = projection.fit_projection(encoded.mu, ProjectionSpec("pca"))
    learned = inverse.fit_inverse(coords, encoded.mu, steps=200).inverse
    graph = inverse.lens_graph(learned, loaded.model.display_decoder_onnx())
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    xy = coords[:25].astype(np.float32)
    (got,) = session.run(None, {"xy": xy})
    expected = _torch_means(vae, learned.latent_at(xy))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_non_finite_decoder_outputs_are_refused_by_the_shared_code():
    vae = MLPVAE(latent_dim=2, hidden=8, out="probs")
    with torch.no_grad():
        vae.dec[-1].weight.fill_(float("nan"))
    with pytest.raises(NumericError, match="non-finite"):
        vae.decode_images(np.zeros(2))


def test_an_incomplete_model_cannot_be_built():
    class NoDecoder(models.VAEModel):
        def encode(self, x):
            return x, x

        def display_decoder_onnx(self):
            return b""
    with pytest.raises(TypeError, match="decode"):
        NoDecoder()


# --- a model folder written before the move ------------------------------------------------------------------------
@pytest.fixture
def legacy(tmp_path, monkeypatch):
    folder = tmp_path / "models" / LEGACY.name
    shutil.copytree(LEGACY, folder)
    monkeypatch.setenv("VAE_MODELS_DIR", str(folder.parent))
    return folder


def test_a_folder_written_before_the_move_is_listed_and_loads(legacy):
    (info,) = models.list_models([legacy.parent])
    assert info.error is None and info.latent_dim == 3 and info.epochs == 1 and info.metrics["elbo"] < 0
    loaded = models.load_model(legacy)
    (cache,) = (legacy / "cache").iterdir()
    assert loaded.weights_hash == models.weights_hash(legacy) == cache.name  # its cache is still its own


def test_its_caches_are_read_not_recomputed(legacy, digits, monkeypatch):
    loaded = models.load_model(legacy)
    cache = Cache.of(loaded)

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed instead of read from the cache written before the move")
    monkeypatch.setattr(metrics, "per_image_stats", refuse)
    encoded = encodings.encode_split(loaded, digits, "test")
    monkeypatch.setattr(projection, "fit_projection", refuse)
    coords = cached_projection(cache, "digits-test", encoded.mu, ProjectionSpec("pca"))
    monkeypatch.setattr(inverse, "fit_inverse", refuse)
    name = f"digits-test-pca-2d-{projection.latents_hash(coords)}"
    learned, fidelity = inverse.cached(cache, name, coords, encoded.mu, loaded.model.decode_means)
    assert encoded.mu.shape == (300, 3) and coords.shape == (300, 2)
    assert learned.latent_at(coords[0]).shape == (3,) and 0 <= fidelity.learned < 255


# --- only models/ knows which kind a model is ----------------------------------------------------------------------
KIND_CHECKS = re.compile(r"OnnxVAE|isinstance\([^,]*,\s*\(?(VAE|VAEModel|TorchFormat|OnnxFormat)\b|sigmoid|_Decoder"
                         r"|onnx_vae|\.source == \"(ours|onnx)\"")


def test_no_model_kind_check_outside_models():
    found = []
    sources = [ROOT / "app.py", *ROOT.glob("pages/*.py"), *ROOT.glob("ui/**/*.py"), *ROOT.glob("vae_core/**/*.py")]
    for path in sources:
        if path.is_relative_to(ROOT / "vae_core" / "models"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if KIND_CHECKS.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
