"""`bring(model)`: three VAEs written elsewhere (shaped like pytorch/examples' MLP, keras.io's channels-last VAE and
AntixK's colour VanillaVAE; tests/bring_models.py) become explorable folders with one call and no wrapper. Their
graphs compute what the torch modules do, `eval`'s ELBO is a direct torch computation's, and every refusal names
what was found and what to pass."""
from __future__ import annotations

import json
import math
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from bring_models import (ColourVAE, FlatMLP, FlattenFirst, KerasLikeVAE, NHWCView, OneOutput, TinyConv,
                          flat_onnx_pair, keras_style_onnx_pair)
from vae_core import bring, cli, data, models
from vae_core.errors import CheckpointError
from vae_core.models.from_torch import BringError, encoder_outputs, find_layout, guess_likelihood

TOL = 1e-5
SIGMA = 1.24  # VanillaVAE's MSE (mean) + 0.00025·KL on 3×64×64: σ² = w·C·H·W/2 (README)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def colour_pictures(root: Path, per_class: int = 8) -> Path:
    """Two classes of 64×64 colour pictures (random blobs), as a folder dataset."""
    rng = np.random.default_rng(0)
    for name in ("warm", "cool"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            picture = rng.integers(0, 60, (64, 64, 3), dtype=np.uint8)
            top, left = rng.integers(4, 30, size=2)
            picture[top:top + 24, left:left + 24, 0 if name == "warm" else 2] = 230
            Image.fromarray(picture).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    return colour_pictures(tmp_path_factory.mktemp("data") / "blobs")


def trained_batchnorm(model: ColourVAE) -> ColourVAE:
    """BatchNorm running statistics other than the initial 0/1, so exporting in train mode would show."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model.decode(model.encode(torch.rand(8, 3, 64, 64) * 2 - 1)[0])
    return model


# the three kinds: model, bring's arguments, the torch reference in NCHW (x -> (mu, logvar), z -> x_hat)
def mlp(pictures):
    m = FlatMLP(hidden=64, latent=8)
    return (m, dict(image_shape=(1, 28, 28), dataset="digits"),
            lambda x: m.encode(x.reshape(len(x), 784)), lambda z: m.decode(z).reshape(len(z), 1, 28, 28),
            ("flat", "bernoulli_probs"))


def keras(pictures):
    m = KerasLikeVAE()
    return (m, dict(image_shape=(1, 28, 28), dataset="digits", encode="encoder", decode="decoder"),
            lambda x: m.encoder(x.permute(0, 2, 3, 1))[:2], lambda z: m.decoder(z).permute(0, 3, 1, 2),
            ("NHWC", "bernoulli_probs"))


def colour(pictures):
    m = trained_batchnorm(ColourVAE(latent=16))
    return (m, dict(image_shape=(3, 64, 64), dataset=f"folder:{pictures}", likelihood="gaussian", sigma=SIGMA,
                    input_range=(-1, 1)), m.encode, m.decode, ("NCHW", "gaussian"))


KINDS = {"mlp": mlp, "keras": keras, "colour": colour}


def session(path: Path):
    return ort.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("kind", KINDS)
def test_brought_folder_computes_what_the_model_does(kind, pictures, tmp_path):
    model, kwargs, ref_encode, ref_decode, (layout, likelihood) = KINDS[kind](pictures)
    folder = bring(model, tmp_path / kind, **kwargs)
    manifest = json.loads((folder / "vae.json").read_text())
    assert manifest["likelihood"] == likelihood and f"encoder input {layout}" in manifest["description"]
    lo, hi = kwargs.get("input_range", (0, 1))
    x = (lo + (hi - lo) * torch.rand(5, *kwargs["image_shape"])).float()
    z = torch.randn(5, manifest["latent_dim"])
    model.eval()
    with torch.no_grad():
        want_mu, want_logvar = ref_encode(x)
        want_x_hat = ref_decode(z)
    mu, logvar = session(folder / "encoder.onnx").run(["mu", "logvar"], {"x": x.numpy()})
    (x_hat,) = session(folder / "decoder.onnx").run(["x_hat"], {"z": z.numpy()})
    for got, want in ((mu, want_mu), (logvar, want_logvar), (x_hat, want_x_hat)):
        np.testing.assert_allclose(got, want.numpy(), atol=TOL, rtol=1e-4)
    loaded = models.load_model(folder)  # every check an import gets
    assert loaded.config.image_shape == kwargs["image_shape"] and loaded.metrics["n_images"] > 0


def reference_elbo(kind: str, encode_fn, decode_fn, images: np.ndarray) -> float:
    """−(recon + KL) per image from the torch module, one sample z = mu + eps·σ with metrics.py's seeded eps."""
    x01 = data.to_tensor(images)
    x = 2 * x01 - 1 if kind == "colour" else x01
    with torch.no_grad():
        mu, logvar = encode_fn(x)
        eps = torch.from_numpy(np.random.default_rng(777).standard_normal(tuple(mu.shape), dtype=np.float32))
        x_hat = decode_fn(mu + eps * torch.exp(0.5 * logvar))
        if kind == "colour":
            log_px = (-0.5 * ((x - x_hat) / SIGMA) ** 2 - math.log(SIGMA) - 0.5 * math.log(2 * math.pi)).flatten(1)
        else:
            p = x_hat.clamp(0, 1)
            log_px = (torch.xlogy(x, p) + torch.xlogy(1 - x, 1 - p)).flatten(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
    return float((log_px.sum(1) - kl).double().mean())


@pytest.mark.parametrize("kind", KINDS)
def test_eval_gives_the_torch_elbo(kind, pictures, tmp_path, capsys):
    model, kwargs, ref_encode, ref_decode, _ = KINDS[kind](pictures)
    folder = bring(model, tmp_path / kind, **kwargs)
    capsys.readouterr()
    assert cli.main(["eval", str(folder)]) == 0
    reported = json.loads(capsys.readouterr().out)
    dataset = data.load_dataset(kwargs["dataset"], image_shape=kwargs["image_shape"])
    model.eval()
    expected = reference_elbo(kind, ref_encode, ref_decode, dataset.test_images)
    assert reported["elbo"] == pytest.approx(expected, rel=0.01)
    assert json.loads((folder / "metrics.json").read_text())["elbo"] == pytest.approx(reported["elbo"], rel=1e-6)


def test_bring_leaves_the_authors_model_as_it_was(pictures, tmp_path):
    model = trained_batchnorm(ColourVAE(latent=16))  # left in train mode, as after a training loop
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bring(model, tmp_path / "c", (3, 64, 64), f"folder:{pictures}", likelihood="gaussian", sigma=SIGMA,
          input_range=(-1, 1))
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_progress_is_reported_and_an_existing_folder_is_never_overwritten(tmp_path):
    steps = []
    folder = bring(FlatMLP(hidden=16, latent=4), tmp_path / "m", (1, 28, 28), "digits",
                   progress=lambda f, m: steps.append((f, m)))
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and any("measuring" in m for _, m in steps)
    with pytest.raises(BringError, match="already exists"):
        bring(FlatMLP(hidden=16, latent=4), folder, (1, 28, 28), "digits")
    assert sorted(p.name for p in folder.iterdir()) == ["decoder.onnx", "encoder.onnx", "metrics.json", "vae.json"]
    assert oct(folder.stat().st_mode & 0o777) != oct(0o700)  # the umask's, not mkdtemp's


# --- refusals, each with its message, and nothing left behind ------------------------------------------------------
def test_a_sigmoid_decoder_declared_logits_is_refused(tmp_path):
    with pytest.raises(BringError, match=r"declared bernoulli_logits, but .* all inside \[0, 1\]"):
        bring(FlatMLP(), tmp_path / "m", (1, 28, 28), "digits", likelihood="bernoulli_logits")
    assert not (tmp_path / "m").exists() and not list(tmp_path.iterdir())


def test_an_ambiguous_layout_is_refused_naming_the_shapes(tmp_path):
    with pytest.raises(BringError, match="ambiguous") as err:
        bring(FlattenFirst((3, 8, 8)), tmp_path / "a", (3, 8, 8), "folder:x")
    for shape in ("[2, 3, 8, 8]", "[2, 8, 8, 3]", "[2, 192]"):
        assert shape in str(err.value)
    assert "Pass layout=" in str(err.value) and not list(tmp_path.iterdir())
    with pytest.raises(BringError, match=r"ambiguous: the encoder runs on NCHW and NHWC"):
        find_layout(TinyConv(3).encode, (3, 3, 3))


def test_an_encoder_with_one_output_is_refused(tmp_path):
    with pytest.raises(BringError, match=r"returned one tensor of shape \[2, 4\]; the app needs two outputs"):
        bring(OneOutput(), tmp_path / "o", (1, 28, 28), "digits", decode=lambda z: z)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("declared, sigma, words", [
    ("bernoulli_probs", None, "outside [0, 1]: these are not probabilities"),
    ("gaussian", None, "needs sigma"),
    ("auto", 0.5, "sigma belongs to a Gaussian"),
])
def test_likelihood_refusals(declared, sigma, words):
    with pytest.raises(BringError) as err:
        guess_likelihood(FlatMLP(logits=True).decode, 20, declared, sigma=sigma)
    assert words in str(err.value)


def test_a_tanh_decoder_is_not_guessed(pictures, tmp_path):
    with pytest.raises(BringError, match=r"images on \[-1, 1\] have no Bernoulli likelihood.*sigma"):
        bring(ColourVAE(latent=16), tmp_path / "c", (3, 64, 64), f"folder:{pictures}", input_range=(-1, 1))


def test_encoder_outputs_by_position_and_by_name():
    mu, lv, z = torch.zeros(2, 3), torch.ones(2, 3), torch.full((2, 3), 7.0)
    for out in ((mu, lv), [mu, lv], (mu, lv, z), {"z": z, "z_log_var": lv, "z_mean": mu},
                {"embedding": mu, "log_covariance": lv}, {"mean": mu, "log_var": lv},
                SimpleNamespace(mu=mu, logvar=lv, z=z), namedtuple("Out", "z mu logvar")(z, mu, lv)):
        got = encoder_outputs(out)
        assert got[0] is mu and got[1] is lv
    with pytest.raises(BringError, match="found no mean"):
        encoder_outputs({"h": mu, "logvar": lv})


def test_layouts_found_by_trial():
    assert find_layout(NHWCView().encode, (3, 8, 8))[0] == "NHWC"  # a .view() on a permuted batch must not hide it
    found, tried = find_layout(FlattenFirst((1, 28, 28)).encode, (1, 28, 28))
    assert found == "NCHW" and all(t[2].startswith("ran") for t in tried)  # grey: one memory order, not ambiguous
    with pytest.raises(BringError, match="runs on none of the layouts tried"):
        find_layout(FlatMLP().encode, (1, 32, 32))


# --- the ONNX side: graphs as exporters write them ------------------------------------------------------------------
def write_folder(folder: Path, encoder: bytes, decoder: bytes, **manifest) -> Path:
    folder.mkdir(parents=True)
    (folder / "encoder.onnx").write_bytes(encoder)
    (folder / "decoder.onnx").write_bytes(decoder)
    (folder / "vae.json").write_text(json.dumps({"format": "onnx-vae", "image_shape": [1, 28, 28], "latent_dim": 2,
                                                 "likelihood": "bernoulli_probs", "dataset": "digits", **manifest}))
    return folder


@pytest.mark.parametrize("variant", [{}, {"with_z": True}, {"fixed_batch": 1}])
def test_an_nhwc_pair_with_numeric_names_loads_with_layout_alone(variant, tmp_path):
    vae = KerasLikeVAE().eval()
    folder = write_folder(tmp_path / "keras", *keras_style_onnx_pair(vae, **variant), layout="NHWC")
    loaded = models.load_model(folder)
    x, z = torch.rand(4, 1, 28, 28), torch.randn(4, 2)
    with torch.no_grad():
        want_mu, _, _ = vae.encoder(x.permute(0, 2, 3, 1))
        want = vae.decoder(z).permute(0, 3, 1, 2)
    np.testing.assert_allclose(loaded.model.encode(x)[0].numpy(), want_mu.numpy(), atol=TOL)
    np.testing.assert_allclose(loaded.model.decode(z).numpy(), want.numpy(), atol=TOL)
    assert any("taken by position" in note for note in loaded.notes)
    # the browser's graph is the adapted one: one output of pixel means, (N, C, H, W)
    display = ort.InferenceSession(loaded.model.display_decoder_onnx(), providers=["CPUExecutionProvider"])
    n = variant.get("fixed_batch", 4)
    assert display.run(None, {display.get_inputs()[0].name: z[:n].numpy()})[0].shape == (n, 1, 28, 28)


def test_without_layout_a_channels_last_graph_is_named(tmp_path):
    folder = write_folder(tmp_path / "keras", *keras_style_onnx_pair(KerasLikeVAE().eval(), fixed_batch=1))
    with pytest.raises(CheckpointError, match=r"channels-last.*add \"layout\": \"NHWC\""):
        models.load_model(folder)


def test_a_channels_last_image_shape_is_named(tmp_path):
    folder = write_folder(tmp_path / "keras", *keras_style_onnx_pair(KerasLikeVAE().eval()), image_shape=[28, 28, 1])
    with pytest.raises(CheckpointError, match=r"looks channels-last \(H, W, C\): write it as \[1, 28, 28\]"):
        models.load_model(folder)


def test_a_flat_pair_loads_with_layout_flat(tmp_path):
    mlp_model = FlatMLP().eval()
    folder = write_folder(tmp_path / "flat", *flat_onnx_pair(mlp_model), layout="flat", latent_dim=20)
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        want_mu, _ = mlp_model.encode(x.reshape(3, 784))
    np.testing.assert_allclose(models.load_model(folder).model.encode(x)[0].numpy(), want_mu.numpy(), atol=TOL)


def test_a_sigmoid_decoder_declared_logits_is_refused_at_load(tmp_path):
    folder = write_folder(tmp_path / "flat", *flat_onnx_pair(FlatMLP().eval()), layout="flat", latent_dim=20,
                          likelihood="bernoulli_logits")
    refusal = r"all inside \[0, 1\].*Did you mean \"likelihood\": \"bernoulli_probs\"\?$"
    with pytest.raises(CheckpointError, match=refusal):
        models.load_model(folder)


# --- from the shell -------------------------------------------------------------------------------------------------
def test_the_cli_brings_a_model_built_by_a_users_module(tmp_path, monkeypatch, capsys):
    package = tmp_path / "my_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "vaes.py").write_text(
        f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\nfrom bring_models import FlatMLP\n\n\n"
        "def build_vae():\n    return FlatMLP(hidden=32, latent=6)\n")
    import torch as torch_

    weights = tmp_path / "w.pt"
    torch_.manual_seed(3)
    reference = FlatMLP(hidden=32, latent=6)
    torch_.save(reference.state_dict(), weights)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["bring", "my_pkg.vaes:build_vae", "--weights", str(weights), "--out", str(tmp_path / "x"),
                     "--image-shape", "1", "28", "28", "--dataset", "digits"])
    assert code == 0, capsys.readouterr().err
    loaded = models.load_model(tmp_path / "x")
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        want, _ = reference.encode(x.reshape(2, 784))
    np.testing.assert_allclose(loaded.model.encode(x)[0].numpy(), want.numpy(), atol=TOL)  # its weights, loaded


@pytest.mark.parametrize("name, content", [("missing.pt", None), ("damaged.safetensors", b"\xff" * 64),
                                           ("whole-model.pt", "pickled")])
def test_the_cli_says_in_one_line_when_the_weights_cannot_be_read(tmp_path, monkeypatch, capsys, name, content):
    (tmp_path / "my_vae.py").write_text(f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                                        "from bring_models import FlatMLP\n\n\ndef build():\n    return FlatMLP()\n")
    weights = tmp_path / name
    if content == "pickled":  # torch.save(model): code to run, which weights_only refuses
        monkeypatch.syspath_prepend(str(tmp_path))
        import my_vae
        torch.save(my_vae.build(), weights)
    elif content is not None:
        weights.write_bytes(content)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["bring", "my_vae:build", "--weights", str(weights), "--out", str(tmp_path / "x"),
                     "--image-shape", "1", "28", "28", "--dataset", "digits"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert f"{weights} cannot be read as a state_dict" in err and "torch.save(model.state_dict()" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("dataset, image_shape, message", [
    ("fashoin-mnist", (1, 28, 28), "Unknown dataset 'fashoin-mnist'"),
    ("folder:", (1, 28, 28), "names no path"),
    ("digits", (28, 28), r"image_shape must be \(C, H, W\)"),
    ("digits", (2, 28, 28), "1 \\(grey\\) or 3 \\(colour\\) channels"),
])
def test_bad_arguments_are_refused_before_any_export_and_nothing_is_written(tmp_path, dataset, image_shape, message):
    with pytest.raises(BringError, match=message):
        bring(FlatMLP(), tmp_path / "x", image_shape, dataset)
    assert list(tmp_path.iterdir()) == []
