"""The Map in a real browser: our Plotly component driven in the page, on the default model's map."""
import re

import numpy as np
import pytest

from ui.components import modules

from .conftest import assert_no_exception, error_texts, open_page, screenshot, wait_idle

pytestmark = pytest.mark.e2e
# The map's pure helpers, imported by the page from where the app serves them (no global needed)
IMPORT_POINTS = f"const P = await import(new URL('{modules.url('map/points.mjs')}', document.baseURI).href);"

MAP = ".vmap-plot.js-plotly-plot"
POINT_TITLE = re.compile(r"^#(\d+) · ")          # the detail panel's title: "#<row> · <label>"
SPACE_TITLE = re.compile(r"^Empty space at \((-?[\d.]+), (-?[\d.]+)\)")

# Points with no other point within minGap px on screen, inside the plot and away from the mode bar.
ISOLATED_JS = """async ([minGap, count, margin = 20]) => {""" + IMPORT_POINTS + """
  const c = __vae.maps.at(-1), n = c.pts.n, r = c.gd.querySelector('.nsewdrag').getBoundingClientRect(), found = [];
  for (let k = 0; k < n && found.length < count; k++) {
    const i = (k * 7919) % n, p = c.pagePos(i);
    if (!(p.x > r.left + margin && p.x < r.right - margin && p.y > r.top + Math.max(50, margin)
          && p.y < Math.min(r.bottom - margin, window.innerHeight - 10))) continue;
    let ok = true;
    for (const [, j] of P.nearest(c.pts.index, c.pts.x[i], c.pts.y[i], 6, null)) {
      if (j === i) continue;
      const q = c.pagePos(j);
      if (Math.hypot(q.x - p.x, q.y - p.y) < minGap) { ok = false; break; }
    }
    if (ok) found.push({row: i, x: p.x, y: p.y});
  }
  return found;
}"""

# A spot inside the plot farthest (in map units) from every point, on a 40x40 scan.
EMPTY_JS = """async () => {""" + IMPORT_POINTS + """
  const c = __vae.maps.at(-1), r = c.gd.querySelector('.nsewdrag').getBoundingClientRect();
  let best = null;
  for (let a = 1; a < 40; a++) for (let b = 1; b < 40; b++) {
    const x = r.left + 20 + (r.width - 40) * a / 40, y = r.top + 50 + (r.height - 70) * b / 40;
    if (y > window.innerHeight - 10) continue;
    const xy = c.toData(x, y), d = P.nearest(c.pts.index, xy[0], xy[1], 1, null)[0][0];
    if (!best || d > best.distance) best = {x, y, dataX: xy[0], dataY: xy[1], distance: d};
  }
  return best;
}"""


def detail_title(page, pattern):
    return page.locator("[data-testid=stMarkdownContainer]").filter(has_text=pattern)


def loaded_images(page, caption: str) -> int:
    images = page.locator("[data-testid=stImage]").filter(
        has=page.locator("[data-testid=stImageCaption]", has_text=re.compile(f"^{re.escape(caption)}")))
    return sum(img.evaluate("e => e.querySelector('img').complete && e.querySelector('img').naturalWidth > 0")
               for img in images.all())


def open_map(page, app_url):
    open_page(page, app_url, MAP)
    page.wait_for_function("() => window.__vae && __vae.maps.at(-1)?.ready", timeout=120_000)
    wait_idle(page)
    page.evaluate("() => __vae.maps.at(-1).gd.scrollIntoView({block: 'end'})")  # the whole plot on screen
    page.wait_for_timeout(200)


def runs(page) -> int:
    """How many script runs the page has started (a rerun flips the app's script state)."""
    return page.evaluate("() => window.__runs || 0")


def count_runs(page) -> None:
    page.evaluate("""() => { window.__runs = 0;
      new MutationObserver(() => { const s = document.querySelector('[data-testid=stApp]').dataset.testScriptState;
        if (s === 'running') window.__runs++; })
        .observe(document.querySelector('[data-testid=stApp]'), {attributes: true}); }""")


def test_click_point_then_empty_space(page, app_url):
    open_map(page, app_url)
    assert page.evaluate("() => __vae.maps.at(-1).gd._fullData[0].x.length") >= 100
    assert detail_title(page, POINT_TITLE).count() == 0

    page.evaluate("() => Plotly.relayout(__vae.maps.at(-1).gd, {'xaxis.range': [-9, 9], 'yaxis.range': [-9, 9]})")
    point = page.evaluate(ISOLATED_JS, [8, 1])[0]
    page.mouse.move(point["x"], point["y"])
    page.wait_for_timeout(150)
    tip = page.locator(".vmap-tip").inner_text()
    assert tip.startswith(f"#{point['row']} · ") and "−ELBO" in tip  # hover: index, label, −ELBO
    page.mouse.click(point["x"], point["y"])
    title = detail_title(page, POINT_TITLE)
    title.wait_for(timeout=30_000)
    wait_idle(page)
    shown = int(POINT_TITLE.match(title.inner_text()).group(1))
    assert shown == point["row"], f"clicked point #{point['row']} but the panel shows #{shown}"
    assert loaded_images(page, "original") == 1 and loaded_images(page, "reconstruction") == 1
    # the map marks the picked point and its 8 neighbours
    picked = page.evaluate("() => { const d = __vae.maps.at(-1).gd._fullData;"
                           " return [d[3].x, d[3].y, d[2].x.length]; }")
    xy = page.evaluate("(i) => [__vae.maps.at(-1).pts.x[i], __vae.maps.at(-1).pts.y[i]]", point["row"])
    assert picked[0] == [pytest.approx(xy[0])] and picked[1] == [pytest.approx(xy[1])]
    assert picked[2] == 8
    assert page.evaluate("() => __vae.maps.at(-1).gd._fullLayout.xaxis.range") == [-9, 9]  # the zoom survived the click
    assert_no_exception(page)
    assert not error_texts(page)
    page.mouse.move(5, 5)
    page.evaluate("() => { const c = __vae.maps.at(-1); "
                  "return Plotly.relayout(c.gd, {'xaxis.range': c.fullRange.x, 'yaxis.range': c.fullRange.y}); }")
    page.wait_for_timeout(300)
    screenshot(page, "map")

    cell = page.evaluate(EMPTY_JS)
    page.mouse.click(cell["x"], cell["y"])
    title = detail_title(page, SPACE_TITLE)
    title.wait_for(timeout=30_000)
    wait_idle(page)
    x, y = map(float, SPACE_TITLE.match(title.inner_text()).groups())
    assert (x, y) == pytest.approx((cell["dataX"], cell["dataY"]), abs=0.006)
    assert detail_title(page, POINT_TITLE).count() == 0
    warning = page.locator("[data-testid=stAlertContentWarning]", has_text="outside the data")
    assert warning.count() == 1, f"no far-from-data warning at a spot {cell['distance']:.2f} map units from any point"
    assert_no_exception(page)


def test_colour_legend_and_search_need_no_rerun(page, app_url):
    open_map(page, app_url)
    count_runs(page)
    page.select_option(".vmap-color", "recon")
    page.wait_for_timeout(300)
    colours = page.evaluate("() => Array.from(__vae.maps.at(-1).gd._fullData[0].marker.color.slice(0, 5))")
    recon = page.evaluate("() => Array.from(__vae.maps.at(-1).pts.recon.slice(0, 5))")
    assert colours == pytest.approx(recon)
    # the legend still filters classes when colouring by a number (a hidden class must stay reachable)
    assert page.locator(".vmap-legend button").count() == len(page.evaluate("() => __vae.maps.at(-1).data.classNames"))
    page.select_option(".vmap-color", "label")
    total = page.evaluate("() => __vae.maps.at(-1).gd._fullData[0].x.length")
    page.locator(".vmap-legend button").first.click()  # hide class 0
    page.wait_for_timeout(300)
    shown = page.evaluate("() => __vae.maps.at(-1).gd._fullData[0].x.length")
    zeros = page.evaluate("() => __vae.maps.at(-1).pts.label.filter(l => l === 0).length")
    assert shown == total - zeros
    assert runs(page) == 0, "colour or legend changes reran the script"
    page.locator(".vmap-legend button").first.click()

    page.fill(".vmap-search", "4321")
    page.press(".vmap-search", "Enter")
    title = detail_title(page, POINT_TITLE)
    title.wait_for(timeout=30_000)
    wait_idle(page)
    assert int(POINT_TITLE.match(title.inner_text()).group(1)) == 4321
    found = page.evaluate("() => __vae.maps.at(-1).lastReadout")  # the lens moved to the found point's spot
    assert found["distance"] == 0 and found["x"] == page.evaluate("() => __vae.maps.at(-1).pts.x[4321]")
    page.fill(".vmap-search", "99999999")
    page.press(".vmap-search", "Enter")
    assert "No point #99999999" in page.locator(".vmap-note").inner_text()
    page.fill(".vmap-search", "abc")
    page.press(".vmap-search", "Enter")
    assert "“abc” is not a point number" in page.locator(".vmap-note").inner_text()
    assert_no_exception(page)


def inside_polygon(x, y, xs, ys):
    """Ray casting, as points.mjs does it."""
    inside = np.zeros(len(x), dtype=bool)
    for i in range(len(xs)):
        j = i - 1
        crosses = ((ys[i] > y) != (ys[j] > y)) & (x < (xs[j] - xs[i]) * (y - ys[i]) / (ys[j] - ys[i] + 1e-300) + xs[i])
        inside ^= crosses
    return inside


@pytest.mark.parametrize("mode", ["select", "lasso"])
def test_box_or_lasso_shows_the_grid(page, app_url, mode):
    open_map(page, app_url)
    page.evaluate("(mode) => Plotly.relayout(__vae.maps.at(-1).gd, {dragmode: mode})", mode)
    point = page.evaluate(ISOLATED_JS, [0, 1, 60])[0]
    page.mouse.move(point["x"] - 40, point["y"] - 40)
    page.mouse.down()
    if mode == "select":
        for step in range(1, 9):
            page.mouse.move(point["x"] - 40 + 10 * step, point["y"] - 40 + 10 * step)
    else:  # a triangle-ish lasso around the point
        corners = [(40, -40), (40, 40), (-40, 40), (-40, -40)]  # a square loop through these, from (-40, -40)
        last = (-40, -40)
        for corner in corners:
            for k in range(1, 5):
                page.mouse.move(point["x"] + last[0] + (corner[0] - last[0]) * k / 4,
                                point["y"] + last[1] + (corner[1] - last[1]) * k / 4)
            last = corner
    page.mouse.up()
    # said at once in the map, while the rerun builds the grid (issue 22: a box select waited 3.6 s in silence)
    # Plotly reports the selection after mouse-up (a frame or so later)
    page.wait_for_function("() => document.querySelector('.vmap-note')?.textContent", timeout=2_000)
    note = page.locator(".vmap-note").inner_text()
    assert re.match(r"^[\d,]+ points selected: opening them beside the map", note), note
    heading = page.locator("[data-testid=stMarkdownContainer]").filter(has_text=re.compile(r"points selected"))
    heading.wait_for(timeout=30_000)
    wait_idle(page)
    assert note.split()[0] == re.search(r"([\d,]+) points selected", heading.inner_text()).group(1)
    page.wait_for_function("() => document.querySelector('.vmap-note').textContent === ''", timeout=10_000)
    n = int(re.search(r"([\d,]+) points selected", heading.inner_text()).group(1).replace(",", ""))
    # the shape Plotly reports, and a count of the points inside it made here (no class hidden)
    shape = page.evaluate("() => __vae.maps.at(-1).lastShape")
    x = np.asarray(page.evaluate("() => Array.from(__vae.maps.at(-1).pts.x)"))
    y = np.asarray(page.evaluate("() => Array.from(__vae.maps.at(-1).pts.y)"))
    if mode == "select":
        (x0, x1), (y0, y1) = sorted(shape["range"]["x"]), sorted(shape["range"]["y"])
        inside = int(((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)).sum())
        # and the box is where the mouse dragged it: its corners map back to the drag's pixels
        drag = page.evaluate("(p) => [__vae.maps.at(-1).toData(p.x - 40, p.y - 40), "
                             "__vae.maps.at(-1).toData(p.x + 40, p.y + 40)]", point)
        assert sorted([drag[0][0], drag[1][0]]) == pytest.approx([x0, x1], abs=0.1)
    else:
        inside = int(inside_polygon(x, y, np.asarray(shape["lasso"]["x"]), np.asarray(shape["lasso"]["y"])).sum())
    assert n == inside and n >= 1
    assert loaded_images(page, "decoded mean latent") == 1
    assert page.evaluate("() => __vae.maps.at(-1).gd._fullData[1].x.length") == min(n, 200_000)  # highlighted
    assert_no_exception(page)


def sweep_lens(page, box, moves: int, margin: float, band: tuple[float, float], rows: int) -> int:
    """Move the mouse across the map's drag area `box` (left, top, width, height) in `moves` steps, zig-zagging over
    `rows` heights inside `band` (fractions of the height); each move waits for the lens to paint. Returns how many
    moves changed the lens's picture (also used by bench/map.py)."""
    changed, previous = 0, page.evaluate("() => document.querySelector('.vmap-lens').toDataURL()")
    for i in range(moves):
        before = page.evaluate("() => __vae.maps.at(-1).lens.view.painted")
        y = band[0] + (band[1] - band[0]) * (i % rows) / max(1, rows - 1)
        page.mouse.move(box[0] + margin + i * (box[2] - 2 * margin) / moves, box[1] + box[3] * y)
        page.wait_for_function("(n) => __vae.maps.at(-1).lens.view.painted > n", arg=before, timeout=5_000)
        now = page.evaluate("() => document.querySelector('.vmap-lens').toDataURL()")
        changed += now != previous
        previous = now
    return changed


def test_lens_changes_with_the_cursor(page, app_url):
    open_map(page, app_url)
    page.wait_for_function("() => __vae.maps.at(-1).lens.ready", timeout=120_000)
    box = page.evaluate("() => { const r = __vae.maps.at(-1).gd.querySelector('.nsewdrag').getBoundingClientRect();"
                        " return [r.left, r.top, r.width, r.height]; }")
    moves = 30
    changed = sweep_lens(page, box, moves, margin=30, band=(0.3, 0.7), rows=3)
    assert changed >= 0.9 * moves, f"the lens changed on {changed} of {moves} moves"
    readout = page.locator(".vmap-readout").inner_text()
    assert re.search(r"[\d.]+ map units to the nearest point", readout)
    assert_no_exception(page)


def test_thumbnails_at_deep_zoom(page, app_url):
    open_map(page, app_url)
    page.wait_for_function("() => __vae.maps.at(-1).thumbnails.atlas", timeout=60_000)
    assert page.evaluate("() => __vae.maps.at(-1).gd._fullLayout.images.length") == 0  # overview: markers only
    row = 1234
    page.evaluate("""(row) => { const c = __vae.maps.at(-1), x = c.pts.x[row], y = c.pts.y[row];
      Plotly.relayout(c.gd, {'xaxis.range': [x - 0.3, x + 0.3], 'yaxis.range': [y - 0.3, y + 0.3]}); }""", row)
    page.wait_for_function("() => __vae.maps.at(-1).gd._fullLayout.images.length > 0", timeout=30_000)
    shown = page.evaluate("() => __vae.maps.at(-1).thumbnails.rows")
    assert row in shown and len(shown) <= 150
    # the picture drawn for the row is that image's own pixels, cut from the atlas
    pixels = page.evaluate("""(row) => new Promise((resolve) => { const img = new Image();
      img.onload = () => { const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        resolve(Array.from(g.getImageData(0, 0, img.width, img.height).data.filter((_, i) => i % 4 === 0))); };
      img.src = __vae.maps.at(-1).thumbnails.url(row); })""", row)
    from vae_core import data
    expected = data.load_dataset(data.default_dataset_name()).test_images[row]  # the map shows the test split
    assert np.array_equal(np.asarray(pixels).reshape(expected.shape), expected)
    assert page.locator(".vmap-plot image").count() >= 1  # drawn in the plot's SVG
    page.uncheck(".vmap-thumbs")
    page.wait_for_function("() => __vae.maps.at(-1).gd._fullLayout.images.length === 0", timeout=10_000)
    assert_no_exception(page)


def test_decoded_map_layer_tiles_the_view(page, app_url):
    open_map(page, app_url)
    page.wait_for_function("() => __vae.maps.at(-1).lens.ready", timeout=120_000)
    count_runs(page)
    page.check(".vmap-decoded")
    page.wait_for_function("() => __vae.maps.at(-1).decodedMap.images.length === 144", timeout=30_000)
    sources = page.evaluate("() => __vae.maps.at(-1).decodedMap.images.map(i => i.source)")
    assert len(set(sources)) > 100  # different regions decode to different pictures
    assert page.evaluate("() => __vae.maps.at(-1).gd._fullLayout.images.length") >= 144
    page.evaluate("() => Plotly.relayout(__vae.maps.at(-1).gd, {'xaxis.range': [-2, 2], 'yaxis.range': [-2, 2]})")
    page.wait_for_function("(old) => __vae.maps.at(-1).decodedMap.images[0].source !== old", arg=sources[0],
                           timeout=30_000)
    assert runs(page) == 0  # decoded in the page: no rerun
    assert_no_exception(page)


LABEL_TEXT = re.compile(r"^<b>(.+)</b>(?: · (\d+)%)?$")


def test_density_contours_and_region_labels(page, app_url):
    """Labels are on by default; each names the commonest class among the points around it, with its share when
    mixed. The contour toggle draws lines above the points; hiding a class hides its label; none of it reruns."""
    open_map(page, app_url)
    page.wait_for_function("() => __vae.maps.at(-1).densityLayer.shown", timeout=60_000)
    count_runs(page)
    names = page.evaluate("() => __vae.maps.at(-1).data.classNames")
    labels = page.evaluate("() => __vae.maps.at(-1).gd._fullLayout.annotations.map(a => [a.text, a.x, a.y])")
    assert len(labels) >= 5, labels
    assert page.evaluate("() => __vae.maps.at(-1).gd._fullLayout.shapes.length") == 0  # contours start off
    for text, x, y in labels:
        name, share = LABEL_TEXT.match(text).groups()
        # the points within half a map unit of the label (~2 smoothing widths), counted in the page's own arrays
        votes = page.evaluate("""([x, y]) => { const p = __vae.maps.at(-1).pts, v = new Array(64).fill(0);
          for (let i = 0; i < p.n; i++) if (Math.hypot(p.x[i] - x, p.y[i] - y) < 0.5) v[p.label[i]]++; return v; }""",
                              [x, y])
        assert sum(votes) >= 10, f"{name} is labelled where there are {sum(votes)} points"
        commonest = names[int(np.argmax(votes))]
        assert commonest == name or share, f"{name} labels a region of {commonest}"
        if share:  # a mixed region: its majority is a minority of the whole
            assert 0 < int(share) < 60
    boxes = page.evaluate("() => [...__vae.maps.at(-1).gd.querySelectorAll('g.annotation')].map(g => {"
                          " const r = g.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })")
    assert len(boxes) == len(labels)
    for i, a in enumerate(boxes):  # no label covers another: each was moved to a free row, or left out
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1), (a, b)
    page.check(".vmap-contours")
    page.wait_for_function("() => __vae.maps.at(-1).gd._fullLayout.shapes.length >= 3", timeout=30_000)
    assert page.locator(".vmap-plot .shapelayer path").count() >= 3  # drawn as SVG, above the WebGL points
    first = labels[0][0]
    index = names.index(LABEL_TEXT.match(first).group(1))
    page.locator(f".vmap-legend button[data-label='{index}']").click()  # hide that class: its label goes too
    page.wait_for_function("(t) => !__vae.maps.at(-1).gd._fullLayout.annotations.some(a => a.text === t)", arg=first,
                           timeout=10_000)
    page.locator(f".vmap-legend button[data-label='{index}']").click()
    page.uncheck(".vmap-labels")
    page.wait_for_function("() => __vae.maps.at(-1).gd._fullLayout.annotations.length === 0", timeout=10_000)
    assert runs(page) == 0, "the density layer reran the script"
    assert_no_exception(page)


def test_double_click_resets_the_zoom_without_picking_the_spot(page, app_url):
    open_map(page, app_url)
    full = page.evaluate("() => __vae.maps.at(-1).gd._fullLayout.xaxis.range.slice()")
    page.evaluate("() => Plotly.relayout(__vae.maps.at(-1).gd, {'xaxis.range': [-9, 9], 'yaxis.range': [-9, 9]})")
    cell = page.evaluate(EMPTY_JS)
    count_runs(page)
    page.mouse.dblclick(cell["x"], cell["y"])
    page.wait_for_function("(r) => Math.abs(__vae.maps.at(-1).gd._fullLayout.xaxis.range[0] - r[0]) < 1e-6", arg=full,
                           timeout=10_000)
    page.wait_for_timeout(1_000)  # longer than the wait a single click on empty space gets
    assert runs(page) == 0 and detail_title(page, SPACE_TITLE).count() == 0
    page.mouse.click(cell["x"], cell["y"])  # one click on the same spot still decodes it
    detail_title(page, SPACE_TITLE).wait_for(timeout=30_000)
    assert_no_exception(page)


def spy_on_events(page) -> None:
    """Count what the map sends to Python (a pick, a spot, a selection): window.__sent."""
    page.evaluate("""() => { const c = __vae.maps.at(-1), send = c.send.bind(c); window.__sent = [];
      c.send = (event, note) => { window.__sent.push(event); return send(event, note); }; }""")


def test_toolbar_labels_and_colour_bar_are_never_picks(page, app_url):
    """Issue 22, fault 1: hovering the map then clicking Zoom, Pan or Box Select in the mode bar showed "Empty space
    at …". Presses on the mode bar, a region label, the colour bar and the legend are not clicks on the map."""
    open_map(page, app_url)
    page.wait_for_function("() => __vae.maps.at(-1).gd._fullLayout.annotations.length > 0", timeout=60_000)
    spy_on_events(page)
    count_runs(page)
    gd = page.locator(MAP)
    gd.hover()  # the mode bar shows while the cursor is over the plot
    for title in ("Zoom", "Pan", "Box Select", "Lasso Select", "Zoom in", "Zoom out"):
        button = page.locator(f"{MAP} .modebar-btn[data-title='{title}']")
        assert button.count() == 1, f"no '{title}' button in the mode bar"
        button.click()
        page.wait_for_timeout(350)  # longer than a click on empty space waits before it is sent
    label = page.locator(f"{MAP} g.annotation").first.bounding_box()
    page.mouse.click(label["x"] + label["width"] / 2, label["y"] + label["height"] / 2)
    page.wait_for_timeout(350)
    page.locator(".vmap-legend button").first.click()
    page.locator(".vmap-legend button").first.click()
    page.select_option(".vmap-color", "recon")
    page.wait_for_selector(f"{MAP} .colorbar", timeout=10_000)
    bar = page.locator(f"{MAP} .colorbar").first.bounding_box()
    page.mouse.click(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
    page.wait_for_timeout(350)
    page.select_option(".vmap-color", "label")
    assert page.evaluate("() => window.__sent") == [], "a press on a control was sent as a map click"
    assert runs(page) == 0 and detail_title(page, SPACE_TITLE).count() == 0
    # and a click on the plot area itself still picks (zoom mode again: a pan drag would not be a click)
    page.locator(f"{MAP} .modebar-btn[data-title='Zoom']").click()
    cell = page.evaluate(EMPTY_JS)
    page.mouse.click(cell["x"], cell["y"])
    detail_title(page, SPACE_TITLE).wait_for(timeout=30_000)
    assert [e["kind"] for e in page.evaluate("() => window.__sent")] == ["space"]
    assert_no_exception(page)


def test_mode_bar_has_nothing_that_talks_to_the_network(page, app_url):
    """Issue 22, fault 5: Plotly's "Share chart…" uploads to Plotly Cloud and its logo links to plotly.com. Neither is
    on the map's mode bar, nor on the 3-D view's (an st.plotly_chart, whose Plotly offers both by default)."""
    open_map(page, app_url)
    page.locator(MAP).hover()
    buttons = page.locator(f"{MAP} .modebar-btn").evaluate_all("bs => bs.map(b => b.dataset.title || '')")
    assert "Zoom" in buttons and not [b for b in buttons if "share" in b.lower() or "cloud" in b.lower()]
    assert page.locator(f"{MAP} .modebar-btn--logo, {MAP} a[href*='plotly']").count() == 0
    page.get_by_text("3-D view", exact=True).click()
    chart = page.locator("[data-testid=stPlotlyChart]")
    chart.wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    chart.hover()
    page.wait_for_selector("[data-testid=stPlotlyChart] .modebar-btn", timeout=10_000, state="attached")
    buttons = chart.locator(".modebar-btn").evaluate_all("bs => bs.map(b => b.dataset.title || '')")
    assert buttons and not [b for b in buttons if "share" in b.lower() or "cloud" in b.lower()], buttons
    assert chart.locator(".modebar-btn--logo, a[href*='plotly']").count() == 0
    page.get_by_text("3-D view", exact=True).click()
    wait_idle(page)
    assert_no_exception(page)


def test_rings_stay_above_the_thumbnails(page, app_url):
    """Issue 22, fault 7: at deep zoom the thumbnails hid the rings of the picked point and its neighbours. They are
    drawn above the pictures: circles at those points, later in the SVG than every thumbnail (painted over them)."""
    open_map(page, app_url)
    page.wait_for_function("() => __vae.maps.at(-1).thumbnails.atlas", timeout=60_000)
    page.fill(".vmap-search", "1234")
    page.press(".vmap-search", "Enter")
    detail_title(page, POINT_TITLE).wait_for(timeout=30_000)
    wait_idle(page)
    page.wait_for_function("() => __vae.maps.at(-1).gd._fullData[2].x.length === 8", timeout=10_000)
    page.evaluate("""() => { const c = __vae.maps.at(-1), x = c.pts.x[1234], y = c.pts.y[1234];
      Plotly.relayout(c.gd, {'xaxis.range': [x - 0.25, x + 0.25], 'yaxis.range': [y - 0.25, y + 0.25]}); }""")
    page.wait_for_function("() => __vae.maps.at(-1).thumbnails.rows.includes(1234)", timeout=30_000)
    page.wait_for_function("() => __vae.maps.at(-1).gd._fullLayout.shapes.some(s => s.type === 'circle')",
                           timeout=10_000)
    rings = page.evaluate("""() => __vae.maps.at(-1).gd._fullLayout.shapes.filter(s => s.type === 'circle')
                               .map(s => [s.xanchor, s.yanchor, s.line.color])""")
    xy = page.evaluate("() => [__vae.maps.at(-1).pts.x[1234], __vae.maps.at(-1).pts.y[1234]]")
    assert [pytest.approx(xy[0]), pytest.approx(xy[1]), "#ffffff"] in [list(r) for r in rings]
    assert sum(r[2] == "#ffb000" for r in rings) == 8  # its 8 neighbours
    over = page.evaluate("""() => { const gd = __vae.maps.at(-1).gd, images = [...gd.querySelectorAll('image')];
      const rings = [...gd.querySelectorAll('.shapelayer path')];
      return images.length > 0 && rings.length > 0 && images.every(i => rings.every(r =>
        i.compareDocumentPosition(r) & Node.DOCUMENT_POSITION_FOLLOWING)); }""")
    assert over, "a thumbnail is painted over a ring"
    # zoomed out again (no thumbnails), the rings are the WebGL marks alone
    page.evaluate("() => { const c = __vae.maps.at(-1); "
                  "return Plotly.relayout(c.gd, {'xaxis.range': c.fullRange.x, 'yaxis.range': c.fullRange.y}); }")
    page.wait_for_function("() => !__vae.maps.at(-1).gd._fullLayout.shapes.some(s => s.type === 'circle')",
                           timeout=10_000)
    assert_no_exception(page)


def test_the_zoom_is_in_the_link(page, app_url, browser):
    """Issue 22, fault 11: the map's zoom was not in the link. A zoom writes it to the address bar with no rerun, a
    rerun (a click) keeps it, and the link opens there in a new browser."""
    open_map(page, app_url)
    count_runs(page)
    page.evaluate("() => Plotly.relayout(__vae.maps.at(-1).gd, {'xaxis.range': [-3, 2], 'yaxis.range': [-1, 4]})")
    page.wait_for_function("() => new URL(location.href).searchParams.get('zoom') === '-3,2,-1,4'", timeout=5_000)
    assert runs(page) == 0, "a zoom reran the script"
    cell = page.evaluate(EMPTY_JS)
    page.mouse.click(cell["x"], cell["y"])  # a rerun: Streamlit rewrites the address bar with its own parameters
    detail_title(page, SPACE_TITLE).wait_for(timeout=30_000)
    wait_idle(page)
    page.wait_for_function("() => new URL(location.href).searchParams.get('zoom') === '-3,2,-1,4'", timeout=5_000)
    link = page.url
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    try:
        other = context.new_page()
        open_map(other, link)
        ranges = other.evaluate("() => { const fl = __vae.maps.at(-1).gd._fullLayout;"
                                " return [...fl.xaxis.range, ...fl.yaxis.range]; }")
        assert ranges == pytest.approx([-3, 2, -1, 4])
        assert not other.locator("[data-testid=stAlert]", has_text="not used").count()  # the link was understood
    finally:
        context.close()
    page.evaluate("() => { const c = __vae.maps.at(-1); "
                  "return Plotly.relayout(c.gd, {'xaxis.range': c.fullRange.x, 'yaxis.range': c.fullRange.y}); }")
    page.wait_for_function("() => !new URL(location.href).searchParams.has('zoom')", timeout=5_000)  # the whole map
