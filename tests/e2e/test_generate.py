"""Generate in a real browser: the latent pad decodes in the page while a slider is dragged, the mini-map marker
follows, and the z Python receives on release decodes on the server to the same pixels the page painted."""
import io

import numpy as np
import pytest
from PIL import Image

from .conftest import assert_no_exception, error_texts, open_page, screenshot, wait_idle

pytestmark = pytest.mark.e2e

PAD = ".pad"
CANVAS = "canvas.decoded"
PIXELS_JS = """(c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"""
SIGNATURE_JS = """(c) => { const x = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = 0; for (let i = 0; i < x.length; i += 4) s = (s * 31 + x[i] + 7 * x[i + 1] + 13 * x[i + 2]) % 1000000007;
  return s; }"""
MOVES = 30


def open_pad(page, app_url):
    open_page(page, f"{app_url}/generate", f"{PAD} input[type=range]")
    pad = page.locator(PAD)
    page.wait_for_function("(el) => el.dataset.engine === 'ready'", arg=pad.element_handle(), timeout=60_000)
    return pad


def canvas_rgb(page) -> np.ndarray:
    canvas = page.locator(CANVAS)
    w, h = canvas.evaluate("c => [c.width, c.height]")
    return np.array(canvas.evaluate(PIXELS_JS), dtype=np.uint8).reshape(h, w, 4)[..., :3]


def downloaded_png(page) -> np.ndarray:
    with page.expect_download() as info:
        page.get_by_role("button", name="Download PNG").click()
    return np.asarray(Image.open(io.BytesIO(open(info.value.path(), "rb").read())).convert("RGB"))


def test_dragging_a_slider_decodes_live_and_the_released_z_matches_the_server(page, app_url):
    pad = open_pad(page, app_url)
    canvas = page.locator(CANVAS)
    thumb = pad.locator("input[type=range]").first
    assert thumb.get_attribute("aria-label").startswith("z")
    box = thumb.bounding_box()
    low, high = float(thumb.get_attribute("min")), float(thumb.get_attribute("max"))
    start_x = box["x"] + 8 + (box["width"] - 16) * (float(thumb.input_value()) - low) / (high - low)
    end_x = box["x"] + 4 if start_x > box["x"] + box["width"] / 2 else box["x"] + box["width"] - 4  # the far end
    y = box["y"] + box["height"] / 2
    marker_before = pad.get_attribute("data-marker")

    page.mouse.move(start_x, y)
    page.mouse.down()
    before, changed, markers, values = canvas.evaluate(SIGNATURE_JS), 0, set(), set()
    for i in range(1, MOVES + 1):
        page.mouse.move(start_x + (end_x - start_x) * i / MOVES, y)
        now = canvas.evaluate(SIGNATURE_JS)
        changed += now != before
        before = now
        markers.add(pad.get_attribute("data-marker"))
        values.add(thumb.input_value())
    assert page.locator("[data-testid=stApp][data-test-script-state=running]").count() == 0  # no rerun mid-drag
    page.mouse.up()
    assert changed >= 0.9 * MOVES, f"the image changed on {changed} of {MOVES} moves before mouse-up"
    assert len(values) >= 0.9 * MOVES
    assert len(markers - {marker_before}) >= 1, "the mini-map marker did not move"

    wait_idle(page)  # Python received the final z and reran
    page.get_by_text("Starting point:").scroll_into_view_if_needed()
    screenshot(page, "generate")
    painted = canvas_rgb(page)
    server = downloaded_png(page)  # the server's decode of the z Python received
    scale = server.shape[0] // painted.shape[0]
    diff = np.abs(server[::scale, ::scale].astype(int) - painted.astype(int)).max()
    assert diff <= 2, f"page and server differ by {diff}/255"
    assert_no_exception(page)
    assert not error_texts(page)


def test_arrow_keys_step_the_slider_and_redraw(page, app_url):
    pad = open_pad(page, app_url)
    canvas = page.locator(CANVAS)
    thumb = pad.locator("input[type=range]").first
    value, before = float(thumb.input_value()), canvas.evaluate(SIGNATURE_JS)
    marker = pad.get_attribute("data-marker")
    thumb.focus()
    key = "ArrowLeft" if value > 0 else "ArrowRight"
    for _ in range(5):
        thumb.press(key)
    assert (float(thumb.input_value()) - value) * (1 if key == "ArrowRight" else -1) > 0
    assert canvas.evaluate(SIGNATURE_JS) != before
    # five steps of 0.03 can leave the marker on its pixel (the Placer blends 8 neighbours); End is the slider's
    # far end, a move the map must show
    thumb.press("End" if key == "ArrowRight" else "Home")
    wait_idle(page)
    server = downloaded_png(page)
    painted = canvas_rgb(page)
    scale = server.shape[0] // painted.shape[0]
    assert np.abs(server[::scale, ::scale].astype(int) - painted.astype(int)).max() <= 2
    assert pad.get_attribute("data-marker") != marker, "the mini-map marker did not follow the keys"
    # five key presses, five reruns: the runtime and the decoder were fetched once, one session per decoder URL
    fetched = page.evaluate("() => performance.getEntriesByType('resource').map(e => e.name)")
    assert sum(name.endswith(".onnx") for name in fetched) == 1, [n for n in fetched if "static" in n]
    assert sum(name.endswith("ort.wasm.min.mjs") for name in fetched) == 1
    assert page.evaluate("() => window.__vae.engine.decoders.size") == 1
    assert_no_exception(page)


def test_without_the_engine_the_page_says_so_and_decodes_on_the_server(page, app_url):
    """onnxruntime-web cannot load (blocked here): one line says so, the image is never blank, and a released
    slider gets the server's decode painted."""
    page.route("**/app/static/vendor/ort.wasm.min.mjs", lambda route: route.abort())
    open_page(page, f"{app_url}/generate", f"{PAD} input[type=range]")
    pad = page.locator(PAD)
    note = pad.locator(".note")
    note.wait_for(state="visible", timeout=30_000)
    assert "decoded on the server" in note.inner_text()
    wait_idle(page)
    painted = canvas_rgb(page)
    assert painted.max() > 0, "the image is blank"
    thumb = pad.locator("input[type=range]").first
    thumb.focus()
    before = page.locator(CANVAS).evaluate(SIGNATURE_JS)
    thumb.press("ArrowLeft" if float(thumb.input_value()) > 0 else "ArrowRight")
    page.wait_for_function("([c, s]) => { const x = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                           " let h = 0; for (let i = 0; i < x.length; i += 4) h = (h * 31 + x[i] + 7 * x[i + 1]"
                           " + 13 * x[i + 2]) % 1000000007; return h !== s; }",
                           arg=[page.locator(CANVAS).element_handle(), before], timeout=30_000)
    wait_idle(page)
    server = downloaded_png(page)
    painted = canvas_rgb(page)
    scale = server.shape[0] // painted.shape[0]
    assert np.abs(server[::scale, ::scale].astype(int) - painted.astype(int)).max() == 0  # the server's own pixels
    assert page.get_by_text("In-page decoding is off here").count() == 1
    assert_no_exception(page)
