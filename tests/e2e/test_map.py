"""The Map in a real browser: click a data point, then empty space, on the default model's map."""
import re

import pytest

from .conftest import (assert_no_exception, chart_root, click_at, empty_cells, error_texts, isolated_points, open_page,
                       screenshot, wait_idle)

pytestmark = pytest.mark.e2e

MAP = "[data-testid=stPlotlyChart]"
POINT_TITLE = re.compile(r"^#(\d+) · ")          # the detail panel's title: "#<row> · <label>"
SPACE_TITLE = re.compile(r"^Empty space at \((-?[\d.]+), (-?[\d.]+)\)")


def detail_title(page, pattern):
    # Markdown only: Plotly's hover label shows the same "#<row> · …" text in the SVG.
    return page.locator("[data-testid=stMarkdownContainer]").filter(has_text=pattern)


def loaded_images(page, caption: str) -> int:
    """How many st.image elements with this caption have a decoded picture."""
    images = page.locator("[data-testid=stImage]").filter(
        has=page.locator("[data-testid=stImageCaption]", has_text=re.compile(f"^{re.escape(caption)}$")))
    return sum(img.evaluate("e => e.querySelector('img').complete && e.querySelector('img').naturalWidth > 0")
               for img in images.all())


def test_click_point_then_empty_space(page, app_url):
    open_page(page, app_url, MAP)
    root = chart_root(page)
    assert page.evaluate("(el) => el.querySelector('.js-plotly-plot')._fullData[1].x.length", root) >= 100
    assert detail_title(page, POINT_TITLE).count() == 0

    # A real data point, isolated enough on screen that the click cannot land on a neighbour.
    point = isolated_points(page, root)[0]
    click_at(page, point["x"], point["y"])
    title = detail_title(page, POINT_TITLE)
    title.wait_for(timeout=30_000)
    wait_idle(page)
    shown = int(POINT_TITLE.match(title.inner_text()).group(1))
    assert shown == point["id"], f"clicked point #{point['id']} but the panel shows #{shown}"
    assert loaded_images(page, "original") == 1
    assert loaded_images(page, "reconstruction") == 1
    assert page.get_by_text("8 nearest neighbours in latent space").count() == 1
    assert_no_exception(page)
    assert not error_texts(page)
    page.mouse.move(5, 5)  # no hover label in the README picture
    page.wait_for_timeout(300)
    screenshot(page, "map")

    # Empty space far from every point: decoded from the nearest latents, with the "far from data" warning.
    cell = empty_cells(page, root)[0]
    click_at(page, cell["x"], cell["y"])
    title = detail_title(page, SPACE_TITLE)
    title.wait_for(timeout=30_000)
    wait_idle(page)
    x, y = map(float, SPACE_TITLE.match(title.inner_text()).groups())
    assert (x, y) == pytest.approx((cell["dataX"], cell["dataY"]), abs=0.006)
    assert loaded_images(page, "decoded from the nearest points' latents") == 1
    assert detail_title(page, POINT_TITLE).count() == 0
    warning = page.locator("[data-testid=stAlertContentWarning]", has_text="far from any data")
    assert warning.count() == 1, f"no far-from-data warning at a cell {cell['distance']:.2f} map units from any point"
    assert_no_exception(page)
    assert not error_texts(page)
