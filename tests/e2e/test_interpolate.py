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
