"""Shared test set-up: numba's JIT cache in the project (UMAP compiles once), never the network."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
Path(os.environ["NUMBA_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory):
    """A models folder holding one tiny digits model (z=4), trained once per test session in a few seconds."""
    from vae_core import data, training
    from vae_core.models.torch_vae.model import VAEConfig

    folder = tmp_path_factory.mktemp("models")
    dataset = data.load_dataset("digits")
    config = VAEConfig(image_shape=dataset.image_shape, latent_dim=4, channels=(8, 16), hidden=32,
                       dataset="digits", class_names=dataset.class_names)
    training.train_model(config, training.TrainConfig(epochs=2, batch_size=64, seed=0), dataset, folder / "digits-tiny")
    return folder


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """A fresh models folder for a training test (never the session's tiny-model folder), an empty shipped folder,
    and every training thread stopped afterwards: a failed test must not leave one writing into a deleted folder."""
    from ui import training
    from vae_core import metrics, paths

    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("VAE_MODELS_DIR", str(folder))
    monkeypatch.setenv("VAE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(paths, "PRETRAINED_DIR", tmp_path / "pretrained")
    monkeypatch.setattr(metrics, "FINAL_IW_SAMPLES", 5)  # the final IWAE bound in seconds, not tens of them
    registry = training.shared_registry()
    limit = registry.limit
    yield folder
    assert registry.stop_all(timeout=120), "a training thread did not stop"
    registry.limit = limit


@pytest.fixture
def navigation_like_the_server(monkeypatch):
    """AppTest resets PagesManager.uses_pages_directory before every run, so with a pages/ folder a switched page would
    run alone (legacy routing) without app.py's sidebar. The server turns legacy mode off once st.navigation ran."""
    from streamlit.runtime.pages_manager import PagesManager

    original_init = PagesManager.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def app(tiny_models_dir, tmp_path, monkeypatch, navigation_like_the_server):
    """An AppTest of app.py on the digits dataset and the tiny model (pages: at.switch_page("pages/x.py"))."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VAE_MODELS_DIR", str(tiny_models_dir))
    monkeypatch.setenv("VAE_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.session_state["dataset_name"] = "digits"
    at.session_state["model_path"] = str(tiny_models_dir / "digits-tiny")  # not the shipped digits model
    yield at
    # the page's background jobs (a map's inverse, a UMAP) end inside their test: none writes into the next test's
    # folders, and none is left in torch when the interpreter exits (that aborts the process)
    from ui import jobs
    assert jobs.shared_jobs().wait_all(300), "a background job did not end"


def settle(at):
    """Let the page's background jobs end (the map's inverse, a UMAP), then run the page again to show their results."""
    from ui import jobs

    assert jobs.shared_jobs().wait_all(300), "a background job did not end"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def open_page():
    """open_page(at, "pages/x.py"): run a page under AppTest with the Map on PCA, and check it shows no error."""
    return _open_page


def _open_page(at, page: str):
    """Run `page` in an AppTest with the Map's projection on PCA (no UMAP compile in page tests); no error shown."""
    from vae_core.map.projection import ProjectionSpec

    at.session_state["map_spec"] = ProjectionSpec("pca")
    at.switch_page(page)  # before the first run the page is found by file name, which is also its url_path
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def shown(markdown: str) -> str:
    """The text a reader sees in markdown that went through ui.text.md_escape: escapes and word joiners removed."""
    import re

    return re.sub(r"\\(.)", r"\1", str(markdown)).replace("\u2060", "")


@pytest.fixture
def new_model(tiny_models_dir, tmp_path, monkeypatch):
    """A copy of the tiny model without its cache folder: nothing is computed for it yet, in any session (the tiny
    model's own cache is shared by the whole test session: a map written there would be found by later tests)."""
    import shutil

    folder = tmp_path / "models" / "digits-new"
    shutil.copytree(tiny_models_dir / "digits-tiny", folder, ignore=shutil.ignore_patterns("cache"))
    monkeypatch.setenv("VAE_MODELS_DIR", str(folder.parent))
    return folder


@pytest.fixture
def gated_umap(monkeypatch):
    """UMAP replaced by a fake that waits for the test's gate (coordinates: the latents' first two dims, swapped):
    the test decides when the fit ends, and counts the fits."""
    import threading

    import numpy as np

    from vae_core.map import projection

    gate, calls = threading.Event(), []

    def fake(latents, spec):
        calls.append(spec)
        assert gate.wait(60), "the test never opened the gate"
        return np.asarray(latents[:, [1, 0, 2][:spec.dims]], dtype=np.float64)
    monkeypatch.setattr(projection, "project_umap", fake)
    yield gate, calls
    gate.set()
