"""Interpolate in a real browser: pick two dataset points, see both strips, download the animated GIF."""
import io
import re

import pytest
from PIL import Image

from .conftest import assert_no_exception, error_texts, image_src, open_page, screenshot, wait_idle

pytestmark = pytest.mark.e2e


def strip(page, kind: str):
    return page.locator("[data-testid=stImage]").filter(
        has=page.locator("[data-testid=stImageCaption]", has_text=re.compile(f"^{kind}: \\d+ steps$")))


def endpoint_caption(page, row: int):
    """The caption naming an endpoint: "#<row> · <label>"."""
    captions = page.locator("[data-testid=stMain] [data-testid=stCaptionContainer]")
    return captions.filter(has_text=re.compile(f"^#{row} · ")).first


def set_row(page, key: str, row: int) -> None:
    box = page.locator(f".st-key-{key} input")
    box.fill(str(row))
    box.press("Enter")
    box.blur()


def test_two_points_two_strips_and_a_gif(page, app_url, tmp_path):
    open_page(page, f"{app_url}/interpolate", ".st-key-ep_a_row")
    linear_before = image_src(strip(page, "Linear"))

    set_row(page, "ep_a_row", 3)
    endpoint_caption(page, 3).wait_for()
    set_row(page, "ep_b_row", 17)
    endpoint_caption(page, 17).wait_for()
    wait_idle(page)
    assert page.locator(".st-key-ep_a_row input").input_value() == "3"
    assert page.locator(".st-key-ep_b_row input").input_value() == "17"
    for kind in ("Linear", "Slerp"):
        assert strip(page, kind).count() == 1, f"no {kind} strip"
        assert strip(page, kind).evaluate("e => e.querySelector('img').naturalWidth > 0")
    assert image_src(strip(page, "Linear")) != linear_before, "the strip did not change with the endpoints"
    assert_no_exception(page)
    assert not error_texts(page)
    screenshot(page, "interpolate")

    button = page.locator(".st-key-interp_gif button")
    with page.expect_download(timeout=30_000) as info:
        button.click()
    download = info.value
    assert download.suggested_filename.endswith(".gif")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    with Image.open(io.BytesIO(path.read_bytes())) as gif:
        assert gif.format == "GIF"
        assert getattr(gif, "n_frames", 1) >= 5, "the GIF is not animated"
        assert gif.is_animated
    assert_no_exception(page)


SIGNATURE_JS = """(c) => { const x = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = 0; for (let i = 0; i < x.length; i += 4) s = (s * 31 + x[i] + 7 * x[i + 1]) % 1000000007; return s; }"""


def test_the_scrubber_changes_the_image_while_dragged_and_moves_the_point(page, app_url):
    open_page(page, f"{app_url}/interpolate", ".scrubber input[type=range]")
    scrubber = page.locator(".scrubber")
    page.wait_for_function("(el) => el.dataset.engine === 'ready' && el.dataset.marker", arg=scrubber.element_handle(),
                           timeout=60_000)
    thumb = scrubber.locator("input[type=range]")
    assert thumb.get_attribute("aria-label").startswith("t along the")
    canvas = scrubber.locator("canvas.decoded")
    thumb.scroll_into_view_if_needed()
    box = thumb.bounding_box()
    y = box["y"] + box["height"] / 2
    start_x = box["x"] + 8 + (box["width"] - 16) * float(thumb.input_value())
    page.mouse.move(start_x, y)
    page.mouse.down()
    before, changed, markers = canvas.evaluate(SIGNATURE_JS), 0, set()
    moves = 30
    for i in range(1, moves + 1):  # from the middle to the start of the path (A)
        page.mouse.move(start_x - (start_x - box["x"]) * i / moves, y)
        now = canvas.evaluate(SIGNATURE_JS)
        changed += now != before
        before = now
        markers.add(scrubber.get_attribute("data-marker"))
    page.mouse.up()
    assert changed >= 0.8 * moves, f"the image changed on {changed} of {moves} moves of the scrubber"
    assert len(markers) >= 5, "the point did not move along the path"
    assert float(thumb.input_value()) < 0.05
    wait_idle(page)
    assert_no_exception(page)
    assert not error_texts(page)
