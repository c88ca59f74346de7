"""An ONNX model in the real app: picked in the sidebar (marked ONNX), Generate's pad decodes it in the page
(onnxruntime-web), and the Train page lists it as ONNX beside a refused folder."""
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import assert_no_exception, error_texts, open_page, serving, wait_idle
from .test_generate import SIGNATURE_JS

pytestmark = pytest.mark.e2e

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: onnx_vaes
from onnx_vaes import MLPVAE, export  # noqa: E402


@pytest.fixture(scope="module")
def onnx_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("onnx-app")
    export(MLPVAE(latent_dim=5, hidden=32).eval(), tmp / "models" / "friend-onnx", "bernoulli_logits", "digits")
    broken = export(MLPVAE(latent_dim=3, hidden=8).eval(), tmp / "models" / "broken-onnx", "bernoulli_logits",
                    "digits")
    (broken / "decoder.onnx").write_bytes(b"")
    with serving(tmp) as url:
        yield url


def test_an_onnx_model_is_explored_in_the_browser(page, onnx_app):
    open_page(page, f"{onnx_app}/generate", "[data-testid=stSidebar] .st-key-dataset_name")
    page.locator("[data-testid=stSidebar] .st-key-dataset_name").click()
    page.get_by_role("option", name="digits", exact=True).click()
    wait_idle(page)
    page.locator("[data-testid=stSidebar] .st-key-model_path").click()
    options = page.get_by_role("option")
    texts = options.all_inner_texts()
    assert any("friend-onnx" in t and "ONNX" in t for t in texts), texts
    assert not any("broken-onnx" in t for t in texts)
    options.filter(has_text="friend-onnx").click()
    pad = page.locator(".pad")
    # the pad of the model shown before (8 dimensions) stays until the rerun with the ONNX model has drawn its own
    expect(pad.locator("input[type=range]")).to_have_count(5, timeout=300_000)  # one per latent dimension
    wait_idle(page, 300_000)
    assert_no_exception(page)
    assert not error_texts(page), error_texts(page)
    page.wait_for_function("(el) => el.dataset.engine === 'ready'", arg=pad.element_handle(), timeout=60_000)
    canvas = page.locator("canvas.decoded")
    before = canvas.evaluate(SIGNATURE_JS)
    thumb = pad.locator("input[type=range]").first
    thumb.focus()
    for _ in range(5):
        thumb.press("ArrowRight")
    assert canvas.evaluate(SIGNATURE_JS) != before  # the ONNX model's own decoder, run in the page
    assert "ONNX" in page.locator("[data-testid=stSidebar]").inner_text()

    page.goto(f"{onnx_app}/train")
    page.wait_for_selector("[data-testid=stDataFrame]", timeout=120_000)
    wait_idle(page)
    warnings = " ".join(page.locator("[data-testid=stAlert]").all_inner_texts())
    assert "broken-onnx" in warnings and "0 bytes" in warnings
