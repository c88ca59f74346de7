"""The address bar is the view, in a real browser: a z on Generate, a picked point on the Map and Interpolate's
endpoints survive a reload and open the same in a fresh browser context; a junk link gets a message, no traceback."""
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from .conftest import assert_no_exception, error_texts, open_page, wait_idle
from .test_map import ISOLATED_JS, MAP, open_map

pytestmark = pytest.mark.e2e

POINT_TITLE = re.compile(r"^#(\d+) · ")


def params(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def wait_for_param(page, name: str, value: str | None = None, timeout: float = 30.0) -> dict:
    """The app writes the address bar after its run: poll until `name` (= value) is there."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = params(page.url)
        if name in found and (value is None or found[name] == value):
            return found
        page.wait_for_timeout(100)
    raise AssertionError(f"the address bar never showed {name}={value}: {page.url}")


def in_fresh_context(browser, url: str, ready: str):
    """Open `url` as another browser would: a new context shares no cookies, storage or session."""
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    page = context.new_page()
    open_page(page, url, ready)
    return context, page


def point_title(page) -> int:
    title = page.locator("[data-testid=stMarkdownContainer]").filter(has_text=POINT_TITLE)
    title.first.wait_for(timeout=60_000)
    return int(POINT_TITLE.match(title.first.inner_text()).group(1))


def test_a_picked_map_point_survives_a_reload_and_a_fresh_browser(page, app_url, browser):
    open_map(page, app_url)
    point = page.evaluate(ISOLATED_JS, [8, 1])[0]
    point["id"] = point["row"]
    page.mouse.click(point["x"], point["y"])
    linked = wait_for_param(page, "point", str(point["id"]))
    assert {"model", "dataset", "split", "projection", "colour"} <= set(linked)
    url = page.url

    page.reload()
    wait_idle(page, 120_000)
    assert point_title(page) == point["id"]
    assert params(page.url) == linked
    context, other = in_fresh_context(browser, url, MAP)
    try:
        assert point_title(other) == point["id"]
        assert params(other.url) == linked
    finally:
        context.close()


def test_a_linked_z_on_generate_survives_a_reload_and_a_fresh_browser(page, app_url, browser):
    open_page(page, f"{app_url}/generate", "[data-testid=stImage]")
    dim = len(wait_for_param(page, "z")["z"].split(","))
    z = ",".join(["1.5", "-0.75"] + ["0"] * (dim - 2))
    open_page(page, f"{app_url}/generate?z={z}", "[data-testid=stImage]")
    assert params(page.url)["z"] == z
    caption = page.get_by_text(re.compile(r"^z = \(")).inner_text()
    assert caption.startswith("z = (+1.50, -0.75, +0.00") or "+1.50" in caption, caption

    page.reload()
    wait_idle(page, 120_000)
    assert wait_for_param(page, "z")["z"] == z
    context, other = in_fresh_context(browser, f"{app_url}/generate?{urlsplit(page.url).query}",
                                      "[data-testid=stImage]")
    try:
        assert params(other.url)["z"] == z
        assert other.get_by_text(re.compile(r"^z = \(")).inner_text() == caption
    finally:
        context.close()


def class_mean_shown(page) -> bool:
    """B's caption when it is a class mean: "mean of <class> (<n> images)"."""
    return page.get_by_text(re.compile(r"^mean of .+ images\)$")).count() >= 1


def test_interpolate_endpoints_survive_a_reload_and_a_fresh_browser(page, app_url, browser):
    open_page(page, f"{app_url}/interpolate?a=row:5&b=class:3&path=slerp", "[data-testid=stImage]")
    row = page.locator(".st-key-ep_a_row input")
    assert row.input_value() == "5"
    assert class_mean_shown(page)
    row.fill("7")
    row.press("Enter")
    linked = wait_for_param(page, "a", "row:7")
    assert linked["b"] == "class:3" and linked["path"] == "slerp"

    page.reload()
    wait_idle(page, 120_000)
    expect(page.locator(".st-key-ep_a_row input")).to_have_value("7", timeout=60_000)  # a busy CPU draws late
    assert params(page.url) == linked
    context, other = in_fresh_context(browser, page.url, "[data-testid=stImage]")
    try:
        expect(other.locator(".st-key-ep_a_row input")).to_have_value("7", timeout=60_000)
        assert class_mean_shown(other)
        assert params(other.url) == linked
    finally:
        context.close()


def test_a_junk_link_shows_one_message_and_no_traceback(page, app_url):
    junk = "x" * 10_000
    open_page(page, f"{app_url}/generate?z=nan,abc&point=-3&model=%3Cb%3Eno%3C%2Fb%3E&{junk}=1",
              "[data-testid=stImage]")
    warning = page.locator("[data-testid=stAlertContentWarning]", has_text="link")
    assert warning.count() == 1
    text = warning.inner_text()
    assert "z" in text and "point" in text and "model" in text and "unknown parameter" in text
    assert "<b>" in text  # shown as typed, not rendered as markup
    assert_no_exception(page)
    assert not error_texts(page)
