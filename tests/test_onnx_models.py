"""VAEs from elsewhere, exported with the README's snippet, explored like ours; and ours exported and reloaded."""
import json
import math

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from onnx_vaes import MLPVAE, export, train_one_epoch
from vae_core import cli, data, encode, metrics, models
from vae_core.models.torch_vae import checkpoint
from vae_core.map import encodings
from vae_core.models.onnx.runtime import OnnxVAE
from vae_core.map.projection import ProjectionSpec, cached_projection
from vae_core.map.placement import Placer
from vae_core.map.cache import Cache

LATENT = 6  # not 16: nothing may assume our default


@pytest.fixture(scope="module")
def digits():
    return data.load_dataset("digits")


@pytest.fixture(scope="module")
def mlp(digits, tmp_path_factory):
    """An MLP VAE 784-256-6 trained one epoch on digits, exported with the README snippet, loaded back."""
    vae = train_one_epoch(MLPVAE(latent_dim=LATENT), data.to_tensor(digits.train_images))
    folder = export(vae, tmp_path_factory.mktemp("models") / "mlp-elsewhere", "bernoulli_logits", "digits",
                    class_names=digits.class_names, description="an MLP from another codebase")
    return vae, models.load_model(folder)


def test_mlp_vae_map_builds_and_matches_torch(mlp, digits):
    vae, loaded = mlp
    assert isinstance(loaded.model, OnnxVAE) and loaded.config.latent_dim == LATENT
    encoded = encodings.encode_split(loaded, digits, "test")
    x = data.to_tensor(digits.test_images)
    with torch.no_grad():
        mu, logvar = vae.encode(x)
    np.testing.assert_allclose(encoded.mu, mu.numpy(), atol=1e-5)
    np.testing.assert_allclose(encoded.logvar, logvar.numpy(), atol=1e-5)
    assert (loaded.cache_folder / f"encoded-digits-test-{len(x)}.npz").is_file()  # cached per file hash
    coords = cached_projection(Cache.of(loaded), "digits-test", encoded.mu, ProjectionSpec("pca"))
    assert coords.shape == (len(x), 2) and np.isfinite(coords).all() and coords.std(axis=0).min() > 0


def test_mlp_vae_metrics_are_the_torch_numbers(mlp, digits):
    vae, loaded = mlp
    images = digits.test_images[:200]
    x = data.to_tensor(images)
    stats = metrics.per_image_stats(loaded.model, images)
    with torch.no_grad():  # the same quantities written out in plain torch, apart from our metrics code
        mu, logvar = vae.encode(x)
        recon = F.binary_cross_entropy_with_logits(vae.decode(mu), x, reduction="none").flatten(1).sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
    np.testing.assert_allclose(stats["recon"], recon.numpy(), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(stats["kl"], kl.numpy(), rtol=1e-5, atol=1e-4)
    ours = metrics.evaluate(loaded.model, images, iw_samples=8)
    reference = metrics.evaluate(vae, images, iw_samples=8)  # the torch module, same seeds
    for key in ("elbo", "recon", "kl", "iwae_bound"):
        assert math.isfinite(ours[key]) and abs(ours[key] - reference[key]) < 1e-3, key
    assert ours["iwae_bound"] >= ours["elbo"] - 1.0  # L_k tightens the ELBO (up to sampling noise)


def test_mlp_vae_generates_and_places_an_upload(mlp, digits):
    vae, loaded = mlp
    z = np.random.default_rng(0).standard_normal((5, LATENT)).astype(np.float32)
    images = loaded.model.decode_images(z)
    with torch.no_grad():
        expected = torch.sigmoid(vae.decode(torch.from_numpy(z)))[:, 0].numpy() * 255
    assert images.shape == (5, 28, 28) and images.dtype == np.uint8
    assert np.abs(images.astype(float) - expected).max() <= 0.51
    encoded = encodings.encode_split(loaded, digits, "test")
    coords = cached_projection(Cache.of(loaded), "digits-test", encoded.mu, ProjectionSpec("pca"))
    placer = Placer(encoded.mu, coords)
    (up,) = encode.encode_uploads(loaded, [digits.test_images[3]], encoded, placer)
    np.testing.assert_allclose(up.mu, encoded.mu[3], atol=1e-5)
    np.testing.assert_allclose(up.xy, coords[3], atol=1e-3)  # an image of the map lands on its own point
    assert up.neighbours[0] == 3 and up.reconstruction.shape == (28, 28)


def test_gaussian_decoder_on_images_in_minus_one_one(digits, tmp_path):
    sigma = 0.1
    vae = train_one_epoch(MLPVAE(latent_dim=3, hidden=64, out="tanh"), data.to_tensor(digits.train_images),
                          sigma=sigma, scale=(-1.0, 1.0))
    folder = export(vae, tmp_path / "gauss", "gaussian", "digits", sigma=sigma, input_range=[-1, 1])
    loaded = models.load_model(folder)
    images = digits.test_images[:64]
    x = data.to_tensor(images) * 2 - 1  # the scale this model was trained on
    stats = metrics.per_image_stats(loaded.model, images)
    with torch.no_grad():
        mu, _ = vae.encode(x)
        means = vae.decode(mu)
    pixels = x[0].numel()
    recon = ((0.5 * ((x - means) / sigma) ** 2).flatten(1).sum(1)
             + pixels * (math.log(sigma) + 0.5 * math.log(2 * math.pi)))
    np.testing.assert_allclose(stats["mu"], mu.numpy(), atol=1e-5)
    np.testing.assert_allclose(stats["recon"], recon.numpy(), rtol=1e-4)
    shown = loaded.model.decode_images(mu.numpy())
    np.testing.assert_allclose(shown, np.round((means[:, 0].numpy() + 1) / 2 * 255), atol=1)  # [-1, 1] -> [0, 255]

    # the same model without sigma: no reconstruction likelihood, and it says so instead of a number
    manifest = json.loads((folder / "vae.json").read_text())
    del manifest["sigma"]
    (folder / "vae.json").write_text(json.dumps(manifest))
    stats = metrics.per_image_stats(models.load_model(folder).model, images)
    assert np.isnan(stats["recon"]).all() and np.isnan(stats["elbo"]).all() and np.isfinite(stats["kl"]).all()


def test_gaussian_without_sigma_eval_says_cannot_be_computed(digits, tmp_path, capsys):
    vae = MLPVAE(latent_dim=2, hidden=16, out="tanh").eval()
    folder = export(vae, tmp_path / "nosigma", "gaussian", "digits", input_range=[-1, 1])
    assert cli.main(["eval", str(folder), "--limit", "20"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["elbo"] is None and result["recon"] is None and result["kl"] > 0
    assert "can't be computed" in result["note"]


def _colour_folder(root, per_class=12):
    """Three classes of 32x32 colour pictures: red squares, green bars, blue discs, with random placement."""
    rng = np.random.default_rng(0)
    for name, channel in (("red", 0), ("green", 1), ("blue", 2)):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            picture = np.zeros((32, 32, 3), np.uint8)
            top, left = rng.integers(2, 14, size=2)
            picture[top:top + 14, left:left + 14, channel] = 200 + rng.integers(0, 55)
            Image.fromarray(picture).save(root / name / f"{i}.png")
    return root


def test_colour_model_on_a_folder_dataset(tmp_path):
    root = _colour_folder(tmp_path / "shapes")
    dataset = data.load_dataset(f"folder:{root}", image_shape=(3, 32, 32))
    vae = train_one_epoch(MLPVAE(image_shape=(3, 32, 32), latent_dim=4, hidden=64),
                          data.to_tensor(dataset.train_images), batch=8)
    folder = export(vae, tmp_path / "models" / "colour", "bernoulli_logits", f"folder:{root}",
                    class_names=dataset.class_names)
    loaded = models.load_model(folder)
    assert loaded.config.image_shape == (3, 32, 32) and loaded.config.class_names == ["blue", "green", "red"]
    encoded = encodings.encode_split(loaded, dataset, "test")
    with torch.no_grad():
        mu, _ = vae.encode(data.to_tensor(dataset.test_images))
    np.testing.assert_allclose(encoded.mu, mu.numpy(), atol=1e-5)
    decoded = loaded.model.decode_images(encoded.mu)
    assert decoded.shape == (len(encoded), 32, 32, 3) and decoded.dtype == np.uint8
    with torch.no_grad():
        expected = torch.sigmoid(vae.decode(mu)).permute(0, 2, 3, 1).numpy() * 255
    assert np.abs(decoded - expected).max() <= 0.51


def test_round_trip_ours_export_load(tiny_models_dir, tmp_path, digits, capsys):
    ours = checkpoint.load_checkpoint(tiny_models_dir / "digits-tiny")
    out = tmp_path / "exported"
    assert cli.main(["export", str(ours.path), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    onnx = models.load_model(out)
    x = data.to_tensor(digits.test_images)
    with torch.no_grad():
        mu_ours, logvar_ours = ours.model.encode(x)
        mu_onnx, logvar_onnx = onnx.model.encode(x)
        decoded_ours = torch.sigmoid(ours.model.decode(mu_ours))
        decoded_onnx = torch.sigmoid(onnx.model.decode(mu_ours))
    assert (mu_ours - mu_onnx).abs().max() < 1e-5 and (logvar_ours - logvar_onnx).abs().max() < 1e-5
    assert (decoded_ours - decoded_onnx).abs().max() < 1e-5
    assert np.abs(ours.model.decode_images(mu_ours).astype(int) - onnx.model.decode_images(mu_ours)).max() <= 1
    a = metrics.evaluate(ours.model, digits.test_images, iw_samples=10)
    b = metrics.evaluate(onnx.model, digits.test_images, iw_samples=10)
    assert abs(a["elbo"] - b["elbo"]) < 1e-3 and abs(a["iwae_bound"] - b["iwae_bound"]) < 1e-3

    # eval prints the same JSON object for both kinds
    assert cli.main(["eval", str(ours.path), "--limit", "50"]) == 0
    assert cli.main(["eval", str(out), "--limit", "50"]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.strip().splitlines())
    assert set(first) == set(second) and abs(first["elbo"] - second["elbo"]) < 1e-3


def test_display_decoder_gives_pixel_means_for_both_kinds(tiny_models_dir, mlp, tmp_path):
    ours = checkpoint.load_checkpoint(tiny_models_dir / "digits-tiny")
    vae = MLPVAE(latent_dim=3, hidden=16, out="tanh").eval()
    gauss = models.load_model(export(vae, tmp_path / "g", "gaussian", "digits", sigma=0.2, input_range=[-1, 1]))
    for loaded in (ours, mlp[1], gauss):
        session = ort.InferenceSession(loaded.model.display_decoder_onnx(), providers=["CPUExecutionProvider"])
        z = np.random.default_rng(1).standard_normal((4, loaded.config.latent_dim)).astype(np.float32)
        (means,) = session.run(None, {session.get_inputs()[0].name: z})
        assert means.shape == (4, *loaded.config.image_shape) and means.min() >= 0 and means.max() <= 1
        assert np.abs(means[:, 0] * 255 - loaded.model.decode_images(z)).max() <= 0.51


def test_training_an_onnx_model_is_refused_with_an_offer(mlp, digits, capsys):
    folder = mlp[1].path
    from vae_core.models.torch_vae.model import VAEConfig
    from vae_core.training.trainer import TrainConfig
    from vae_core.training import train_model

    with pytest.raises(checkpoint.CheckpointError, match="cannot be trained or resumed") as caught:
        train_model(VAEConfig(), TrainConfig(epochs=1), digits, folder, resume=True)
    assert "python -m vae_core train --dataset digits" in str(caught.value)
    with pytest.raises(checkpoint.CheckpointError, match="already holds a model"):
        train_model(VAEConfig(), TrainConfig(epochs=1), digits, folder)  # never written over
    assert cli.main(["train", "--resume", "--out", str(folder), "--epochs", "2"]) == 1
    assert "ONNX model" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir() if p.name != "cache") == ["decoder.onnx", "encoder.onnx",
                                                                              "vae.json"]


def test_bernoulli_probs_decoder(digits, tmp_path):
    vae = train_one_epoch(MLPVAE(latent_dim=3, hidden=32, out="probs"), data.to_tensor(digits.train_images[:256]))
    loaded = models.load_model(export(vae, tmp_path / "probs", "bernoulli_probs", "digits"))
    images = digits.test_images[:50]
    x = data.to_tensor(images)
    with torch.no_grad():
        mu, _ = vae.encode(x)
        p = vae.decode(mu)
    recon = -(x * torch.log(p) + (1 - x) * torch.log1p(-p)).flatten(1).sum(1)
    np.testing.assert_allclose(metrics.per_image_stats(loaded.model, images)["recon"], recon.numpy(), rtol=1e-4)
    assert np.abs(loaded.model.decode_images(mu.numpy()) - p[:, 0].numpy() * 255).max() <= 0.51


def test_fixed_batch_size_and_renamed_tensors(digits, tmp_path):
    """A graph exported without a dynamic batch (N fixed to 1) and with its own tensor names still works: by position
    when vae.json names nothing (and the model list says so), by tensor_names when it does."""
    vae = MLPVAE(latent_dim=4, hidden=32).eval()
    out = tmp_path / "fixed"
    out.mkdir()
    from onnx_vaes import Half

    torch.onnx.export(Half(vae, "encode"), (torch.zeros(1, 1, 28, 28),), out / "encoder.onnx", input_names=["image"],
                      output_names=["mean", "log_var"], opset_version=17, dynamo=False)
    torch.onnx.export(Half(vae, "decode"), (torch.zeros(1, 4),), out / "decoder.onnx", input_names=["code"],
                      output_names=["logits"], opset_version=17, dynamo=False)
    manifest = {"format": "onnx-vae", "image_shape": [1, 28, 28], "latent_dim": 4, "likelihood": "bernoulli_logits",
                "dataset": "digits"}
    (out / "vae.json").write_text(json.dumps(manifest))
    by_position = models.load_model(out)
    assert any("encoder.onnx's tensors taken by position: x = image, mu = mean, logvar = log_var" in note
               for note in by_position.notes), by_position.notes
    assert models.describe(out).notes == by_position.notes  # the model list says so too
    manifest["tensor_names"] = {"x": "image", "mu": "mean", "logvar": "log_var", "z": "code", "x_hat": "logits"}
    (out / "vae.json").write_text(json.dumps(manifest))
    loaded = models.load_model(out)
    assert loaded.model.encoder_batch == 1 and loaded.model.decoder_batch == 1
    encoded = encodings.encode_split(loaded, digits, "test")  # 300 images through a batch-of-1 graph
    with torch.no_grad():
        mu, _ = vae.encode(data.to_tensor(digits.test_images))
    np.testing.assert_allclose(encoded.mu, mu.numpy(), atol=1e-5)
    assert loaded.model.decode_images(encoded.mu[:3]).shape == (3, 28, 28)
