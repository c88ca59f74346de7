"""The Map on one 1400×1000 screen (issue 22, fault 8): the map, the lens and the detail of a picked point are all in
view without scrolling; the secondary controls (how empty space is decoded, the CSV) are one click away in a
popover, and they too open inside the screen."""
import pytest

from .conftest import assert_no_exception, screenshot, wait_idle
from .test_map import POINT_TITLE, detail_title, open_map

pytestmark = pytest.mark.e2e
SCREEN = {"width": 1400, "height": 1000}


def assert_on_screen(page, locator, name: str) -> None:
    locator.first.wait_for(state="visible", timeout=30_000)
    box = locator.first.bounding_box()
    assert box is not None, f"{name} is not drawn"
    inside = box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= SCREEN["width"] + 1 \
        and box["y"] + box["height"] <= SCREEN["height"] + 1
    assert inside, f"{name} is off the {SCREEN['width']}×{SCREEN['height']} screen: {box}"


def test_the_map_the_lens_and_the_detail_fit_one_screen(page, app_url):
    page.set_viewport_size(SCREEN)
    open_map(page, f"{app_url}/?projection=pca")  # PCA: its caption carries the variance the axes explain
    page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTo(0, 0)")  # as the page opens
    main = page.locator("[data-testid=stMain]")
    named = {
        "the projection choice": main.get_by_text("Projection", exact=True),
        "the points choice": main.get_by_text("Points", exact=True),
        "the 3-D switch": main.get_by_text("3-D view"),
        "the options": main.get_by_role("button", name="Options"),
        "the PCA variance": main.get_by_text("the two axes explain"),
        "the colour choice": page.locator(".vmap-color"),
        "the plot": page.locator(".vmap-plot .nsewdrag"),
        "the lens": page.locator(".vmap-lens"),
        "the legend": page.locator(".vmap-legend button").last,
        "the detail panel": main.get_by_text("Click a point to see the original"),
    }
    for name, locator in named.items():
        assert_on_screen(page, locator, name)

    page.fill(".vmap-search", "42")
    page.press(".vmap-search", "Enter")
    detail_title(page, POINT_TITLE).wait_for(timeout=30_000)
    wait_idle(page)
    page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTo(0, 0)")
    page.mouse.move(5, 5)
    for name, locator in {
        "the point's title": detail_title(page, POINT_TITLE),
        "its original": main.locator("[data-testid=stImageCaption]", has_text="original"),
        "its reconstruction": main.locator("[data-testid=stImageCaption]", has_text="reconstruction"),
        "its ELBO split": main.locator("[data-testid=stMetric]").last,
        "its neighbours": main.get_by_text("8 nearest neighbours in latent space"),
        "the last neighbour": main.locator("[data-testid=stImage]").last,
        "Open in Generate": main.get_by_role("button", name="Open in Generate"),
        "the lens": page.locator(".vmap-lens"),
    }.items():
        assert_on_screen(page, locator, name)
    screenshot(page, "map-layout")

    # the choice is offered once this PCA map's inverse is fitted (in the background: the page reruns then, and the
    # lens switches to it)
    page.wait_for_function("() => /learned inverse/.test(document.querySelector('.vmap-lens-caption')?.textContent)",
                           timeout=180_000)
    wait_idle(page)
    main.get_by_role("button", name="Options").click()
    popover = page.locator("[data-testid=stPopoverBody]")
    assert_on_screen(page, popover.get_by_text("Decode empty space with"), "how empty space is decoded")
    assert_on_screen(page, popover.get_by_role("button", name="Download all points as CSV"), "the CSV download")
    assert_no_exception(page)
