"""Generate in a real browser: one arrow-key step on the top slider redraws the decoded image."""
import re

import pytest

from .conftest import assert_no_exception, error_texts, image_src, open_page, screenshot, wait_idle

pytestmark = pytest.mark.e2e

DECODED = "decoded from the sliders' z"


def main_image(page):
    return page.locator("[data-testid=stImage]").filter(
        has=page.locator("[data-testid=stImageCaption]", has_text=DECODED))


def test_slider_step_redraws_the_image(page, app_url):
    open_page(page, f"{app_url}/generate", "[data-testid=stSlider]")
    image = main_image(page)
    assert image.count() == 1
    before = image_src(image)
    # Streamlit 1.67's slider is a react-aria group around a visually hidden <input type=range>.
    thumb = page.locator("[data-testid=stMain] [data-testid=stSlider] input[type=range]").first
    value = thumb.input_value()
    caption_before = page.get_by_text(re.compile(r"^z = \(")).inner_text()

    thumb.focus()
    thumb.press("ArrowRight")
    page.wait_for_function(
        "([cap, src]) => { const img = [...document.querySelectorAll('[data-testid=stImage]')]"
        ".find(e => e.innerText.includes(cap)); return img && img.querySelector('img').src !== src; }",
        arg=[DECODED, before], timeout=30_000)
    wait_idle(page)
    assert float(thumb.input_value()) > float(value)
    assert page.get_by_text(re.compile(r"^z = \(")).inner_text() != caption_before
    assert image.evaluate("e => e.querySelector('img').complete && e.querySelector('img').naturalWidth > 0")
    assert_no_exception(page)
    assert not error_texts(page)
    screenshot(page, "generate")
