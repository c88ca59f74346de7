"""A brought model in the real app: a channels-last VAE shaped like keras.io's, brought with one `bring` call (its
encoder returns (z_mean, z_log_var, z)), is picked in the sidebar, its map draws, and Generate's pad decodes it in
the page with its own exported decoder."""
import sys
from pathlib import Path

import pytest
import torch
from playwright.sync_api import expect

from .conftest import assert_no_exception, error_texts, open_page, serving, wait_idle
from .test_generate import SIGNATURE_JS

pytestmark = pytest.mark.e2e

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: bring_models
from bring_models import KerasLikeVAE  # noqa: E402

from vae_core import bring  # noqa: E402


@pytest.fixture(scope="module")
def brought_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bring-app")
    torch.manual_seed(0)
    bring(KerasLikeVAE(latent=3), tmp / "models" / "keras-like", (1, 28, 28), "digits", encode="encoder",
          decode="decoder")
    with serving(tmp) as url:
        yield url


def test_a_brought_model_is_explored_in_the_browser(page, brought_app):
    open_page(page, f"{brought_app}/?dataset=digits&model=keras-like&projection=pca", "[data-testid=stSidebar]")
    wait_idle(page, 300_000)
    assert_no_exception(page)
    assert not error_texts(page), error_texts(page)
    assert "model=keras-like" in page.url and "ONNX" in page.locator("[data-testid=stSidebar]").inner_text()
    expect(page.locator(".vmap-plot .main-svg").first).to_be_visible(timeout=300_000)  # the map of its encodings

    page.goto(f"{brought_app}/generate?dataset=digits&model=keras-like")
    pad = page.locator(".pad")
    expect(pad.locator("input[type=range]")).to_have_count(3, timeout=300_000)  # one per latent dimension
    wait_idle(page, 300_000)
    assert_no_exception(page)
    page.wait_for_function("(el) => el.dataset.engine === 'ready'", arg=pad.element_handle(), timeout=60_000)
    canvas = page.locator("canvas.decoded")
    before = canvas.evaluate(SIGNATURE_JS)
    thumb = pad.locator("input[type=range]").first
    thumb.focus()
    for _ in range(5):
        thumb.press("ArrowRight")
    assert canvas.evaluate(SIGNATURE_JS) != before  # its own decoder, adapted to the contract, run in the page
