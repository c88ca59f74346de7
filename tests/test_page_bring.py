"""Every page with each of the three brought VAEs (AppTest): a flat MLP with a sigmoid decoder, a channels-last conv
model whose encoder returns (z_mean, z_log_var, z), and a colour 3×64×64 model whose encode returns a list and whose
decoder ends in tanh (a Gaussian with σ) on a folder of colour pictures in a data root. One `bring` call each, no
wrapper: the Map, Generate, Encode, Interpolate and Train pages open with it, and its numbers are its own."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bring_models import ColourVAE, FlatMLP, KerasLikeVAE
from pages_helpers import run_page
from test_bring import SIGMA, colour_pictures
from ui.session import keys
from ui.widgets import split_texts
from vae_core import bring, data, models
from vae_core.map import encodings
from vae_core.map.projection import ProjectionSpec

PCA = ProjectionSpec("pca")


@pytest.fixture(scope="module")
def brought(tmp_path_factory):
    """A models folder with the three brought models and a data root holding the colour pictures."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("brought")
    colour_pictures(root / "data" / "blobs", per_class=40)  # a test split of 8: the map, its inverse, a lens
    folder = root / "models"
    bring(FlatMLP(hidden=64, latent=8), folder / "mlp", (1, 28, 28), "digits")
    bring(KerasLikeVAE(), folder / "keras", (1, 28, 28), "digits", encode="encoder", decode="decoder")
    with pytest.MonkeyPatch.context() as patch:  # "folder:blobs": relative, found under the data root
        patch.setenv("VAE_DATA_ROOTS", str(root / "data"))
        bring(ColourVAE(latent=16), folder / "colour", (3, 64, 64), "folder:blobs", likelihood="gaussian",
              sigma=SIGMA, input_range=(-1, 1))
    return root


@pytest.fixture
def app(brought, tmp_path, monkeypatch, navigation_like_the_server):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VAE_MODELS_DIR", str(brought / "models"))
    monkeypatch.setenv("VAE_DATA_ROOTS", str(brought / "data"))
    monkeypatch.setenv("VAE_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=180)
    at.session_state[keys.SPEC] = PCA
    at.session_state["map_method"] = "PCA"
    return at


def run(at, page=None, **session):
    return run_page(at, page, errors_allowed=False, **session)


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["mlp", "keras", "colour"])
def test_every_page_opens_with_a_brought_model(app, brought, name):
    folder = brought / "models" / name
    loaded = models.load_model(folder)
    dataset_name = loaded.config.dataset
    dataset = data.load_dataset(dataset_name, image_shape=loaded.config.image_shape)
    state = {keys.DATASET: dataset_name, keys.MODEL: str(folder)}
    run(app, "pages/map.py", **state, map={"event": {"kind": "point", "row": 1, "seq": "1", "color": "label"}})
    expected = encodings.encode_split(loaded, dataset, "test")
    shown = {m.label: m.value for m in app.main.metric}
    assert (shown["ELBO"], shown["KL"]) == split_texts(expected.elbo[1], expected.kl[1], compact=True)[::2]

    run(app, "pages/generate.py", **state)
    pads = [json.loads(e.proto.json) for e in app.main if getattr(e, "type", None) == "bidi_component"]
    assert len(pads) == 1 and len(pads[0]["dims"]) == loaded.config.latent_dim
    assert pads[0]["shape"] == list(loaded.config.image_shape)

    run(app, "pages/interpolate.py", **state)

    run(app, "pages/encode.py", **state)
    app.file_uploader(key="encode_files").set_value([("mine.png", png(dataset.test_images[0]), "image/png")])
    run(app, **state)
    (kept,) = app.session_state[keys.UPLOADS]
    assert kept["input"].shape == dataset.test_images[0].shape  # the model's own input size and channels

    run(app, "pages/train.py", train_target=str(folder), **state)
    assert any("cannot be trained or resumed here" in i.value for i in app.info)
