"""Every page with an ONNX model (AppTest): the sidebar marks it, the Map, Generate, Encode and Interpolate work,
broken ONNX folders beside it are listed with their problem on the Train page while the app stays usable, a zip
upload is checked then listed, and training it is refused with an offer to train one of ours."""
import io
import json
import math
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from onnx_vaes import MLPVAE, export
from pages_helpers import run_page
from ui.session import keys
from ui.widgets import split_texts
from vae_core import data, models
from vae_core.map import encodings
from vae_core.map.projection import ProjectionSpec

PCA = ProjectionSpec("pca")


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory):
    """A models folder: one ONNX MLP (z=5), a Gaussian one without sigma, and two broken folders."""
    import torch

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("onnx-models")
    export(MLPVAE(latent_dim=5, hidden=32).eval(), folder / "mlp-onnx", "bernoulli_logits", "digits",
           class_names=[str(i) for i in range(10)])
    export(MLPVAE(latent_dim=2, hidden=16, out="tanh").eval(), folder / "gauss-nosigma", "gaussian", "digits",
           input_range=[-1, 1])
    for name, content in (("empty-onnx", b""), ("pickled-onnx", pickle.dumps({"weights": [1.0]}))):
        broken = export(MLPVAE(latent_dim=3, hidden=8).eval(), folder / name, "bernoulli_logits", "digits")
        (broken / "encoder.onnx").write_bytes(content)
    return folder


@pytest.fixture
def app(onnx_models, tmp_path, monkeypatch, navigation_like_the_server):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VAE_MODELS_DIR", str(onnx_models))
    monkeypatch.setenv("VAE_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=180)
    at.session_state[keys.DATASET] = "digits"
    at.session_state[keys.MODEL] = str(onnx_models / "mlp-onnx")
    at.session_state[keys.SPEC] = PCA
    at.session_state["map_method"] = "PCA"
    return at


def run(at, page=None, **session):
    return run_page(at, page, errors_allowed=True, **session)


def test_every_page_works_with_an_onnx_model(app, onnx_models):
    run(app, "pages/map.py", map={"event": {"kind": "point", "row": 4, "seq": "1", "color": "label"}})  # a click
    assert not app.error, [e.value for e in app.error]
    box = app.sidebar.selectbox(key=keys.MODEL)
    labels = [box.format_func(option) for option in box.options]
    assert any("mlp-onnx" in label and "ONNX" in label for label in labels)
    assert not any("empty-onnx" in label or "pickled-onnx" in label for label in labels)  # broken: not offered
    assert any("ONNX" in c.value for c in app.sidebar.caption)
    loaded = models.load_model(onnx_models / "mlp-onnx")
    expected = encodings.encode_split(loaded, data.load_dataset("digits"), "test")
    shown = {m.label: m.value for m in app.main.metric}
    assert shown["ELBO"] == split_texts(expected.elbo[4], expected.kl[4], compact=True)[0]
    assert float(shown["ELBO"]) == pytest.approx(-(float(shown["Recon"]) + float(shown["KL"])), abs=1e-9)

    run(app, "pages/generate.py", **{keys.MODEL: str(onnx_models / "mlp-onnx")})
    assert not app.error, [e.value for e in app.error]
    pads = [json.loads(e.proto.json) for e in app.main if getattr(e, "type", None) == "bidi_component"]
    assert len(pads) == 1 and len(pads[0]["dims"]) == 5  # the latent pad: one slider per latent dimension
    assert pads[0]["decoder"].endswith(".onnx")  # decoded in the page from the model's own graph

    run(app, "pages/interpolate.py", **{keys.MODEL: str(onnx_models / "mlp-onnx")})
    assert not app.error, [e.value for e in app.error]

    run(app, "pages/encode.py", **{keys.MODEL: str(onnx_models / "mlp-onnx")})
    picture = Image.fromarray(data.load_dataset("digits").test_images[4])
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    app.file_uploader(key="encode_files").set_value([("four.png", buffer.getvalue(), "image/png")])
    run(app, **{keys.MODEL: str(onnx_models / "mlp-onnx"), keys.SPEC: PCA})
    assert not app.error, [e.value for e in app.error]
    (kept,) = app.session_state[keys.UPLOADS]
    mu, _ = loaded.model.encode(data.to_tensor(kept["input"][None]))  # the ONNX encoder on the shown model input
    np.testing.assert_allclose(kept["mu"], mu[0].numpy(), atol=1e-5)
    assert any(m.label == "ELBO" and m.value != "n/a" for m in app.main.metric)


def test_gaussian_without_sigma_says_what_cannot_be_computed(app, onnx_models):
    run(app, "pages/map.py", **{keys.MODEL: str(onnx_models / "gauss-nosigma")},
        map={"event": {"kind": "point", "row": 2, "seq": "1", "color": "label"}})
    assert not app.error, [e.value for e in app.error]
    shown = {m.label: m.value for m in app.main.metric}
    assert shown["ELBO"] == "n/a" and shown["Recon"] == "n/a" and math.isfinite(float(shown["KL"]))
    assert any("can't be computed" in c.value for c in app.main.caption)


def test_train_page_lists_broken_folders_refuses_training_and_imports_a_zip(app, onnx_models, tmp_path):
    run(app, "pages/train.py", train_target=str(onnx_models / "mlp-onnx"))
    warnings = " ".join(w.value for w in app.warning)
    assert "empty-onnx" in warnings and "0 bytes" in warnings
    assert "pickled-onnx" in warnings and "pickle" in warnings
    assert any("cannot be trained or resumed here" in i.value for i in app.info)
    app.button(key="train_like_onnx").click()
    run(app)
    assert app.selectbox(key="train_dataset").value == "digits"  # the offer: train one of ours on its data

    source = export(MLPVAE(latent_dim=4, hidden=8).eval(), tmp_path / "zipped", "bernoulli_logits", "digits")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in source.iterdir():
            archive.write(path, f"friend-vae/{path.name}")
    app.file_uploader(key="onnx_zip").set_value([("friend-vae.zip", buffer.getvalue(), "application/zip")])
    run(app)
    run(app)  # the import reruns the app so the sidebar lists the new model
    assert any("Added" in s.value and "friend" in s.value for s in app.success), (
        [e.value for e in app.error], [s.value for s in app.success], [p.name for p in onnx_models.iterdir()])
    added = [p for p in onnx_models.iterdir() if p.name.startswith("friend-vae")]
    assert len(added) == 1 and json.loads((added[0] / "vae.json").read_text())["latent_dim"] == 4
    models.delete_model(added[0])  # the module's folder stays as the other tests expect it

    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("vae.json", json.dumps({"format": "onnx-vae", "shady": True}))
    app.file_uploader(key="onnx_zip").set_value([("shady.zip", bad.getvalue(), "application/zip")])
    run(app)
    run(app)
    assert any("shady.zip was not added" in e.value and "shady" in e.value for e in app.error)
    assert not any(p.name.startswith("shady") for p in onnx_models.iterdir())


def test_a_view_bundle_of_an_onnx_model_round_trips(onnx_models):
    from ui.session import bundles

    path = str(onnx_models / "mlp-onnx")
    session = {keys.MODEL: path, keys.DATASET: "digits", keys.SPEC: PCA, keys.PICK: 7,
               keys.VECTORS: {"up": [0.5] * 5, "other model's": [1.0] * 16}}
    bundle = bundles.view_bundle(session)
    assert bundle.model_id == "mlp-onnx" and bundle.weights_hash == models.load_model(path).weights_hash
    assert list(bundle.vectors) == ["up"]  # latents of another size are left out: z=5 came from vae.json
    updates, _ = bundles.restore_updates(bundle, models.list_models([onnx_models]), lambda d, s: 300, {})
    assert updates[keys.MODEL] == path and updates[keys.PICK] == 7


def test_model_zips_up_to_the_stated_cap_can_upload():
    """The server refuses any upload past server.maxUploadSize whatever a widget says, so the model uploader's cap
    (what the page states) must be what the server lets through, and no uploader may promise more."""
    import tomllib

    from pages_helpers import uploader_caps
    from ui.onnx_import import MAX_UPLOAD_MB

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    server_cap = config["server"]["maxUploadSize"]
    assert server_cap == MAX_UPLOAD_MB
    assert all(cap <= server_cap for cap in uploader_caps().values())
