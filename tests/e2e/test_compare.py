"""Compare in a real browser: the shipped digits model (A) against a tiny digits model trained here (B), 300 test
images each, on their aligned PCA maps (instant; the UMAP pair has its AppTest). The two maps are linked in the page:
hovering one rings the same image on the other, a lasso on one selects the same rows on both, and both lenses decode
their own model under the cursor; none of it reruns the script."""
import re

import numpy as np
import pytest

from .conftest import assert_no_exception, error_texts, open_page, screenshot, serving, wait_idle
from .test_map import count_runs, inside_polygon, runs
from .test_layout import SCREEN, assert_on_screen

pytestmark = pytest.mark.e2e
CMP = "__vae.compares.at(-1)"

# Points of one side with no other point within minGap px on screen, inside the plot and away from the mode bar.
ISOLATED_JS = """([side, minGap, count, margin = 25]) => {
  const c = __vae.compares.at(-1)[side], n = c.pts.n, r = c.gd.querySelector('.nsewdrag').getBoundingClientRect();
  const found = [];
  for (let k = 0; k < n && found.length < count; k++) {
    const i = (k * 7919) % n, p = c.pagePos(i);
    if (!(p.x > r.left + margin && p.x < r.right - margin && p.y > r.top + 25 + margin && p.y < r.bottom - margin))
      continue;
    let ok = true;
    for (let j = 0; j < n && ok; j++) {
      if (j === i) continue;
      const q = c.pagePos(j);
      if (Math.hypot(q.x - p.x, q.y - p.y) < minGap) ok = false;
    }
    if (ok) found.push({row: i, x: p.x, y: p.y});
  }
  return found;
}"""


@pytest.fixture(scope="module")
def compare_app(tmp_path_factory):
    """A server whose models folder holds a small digits model (trained here) beside the shipped digits-z8."""
    from vae_core import data, training
    from vae_core.models.torch_vae.model import VAEConfig

    tmp = tmp_path_factory.mktemp("compare-app")
    dataset = data.load_dataset("digits")
    config = VAEConfig(image_shape=dataset.image_shape, latent_dim=4, channels=(8, 16), hidden=32, dataset="digits",
                       class_names=dataset.class_names)
    # 8 epochs (~7 s): all 4 units active, so its map is spread out (after 2 epochs it had collapsed to a dot)
    training.train_model(config, training.TrainConfig(epochs=8, batch_size=64, seed=1, snapshot_every=0), dataset,
                         tmp / "models" / "digits-small")
    with serving(tmp) as url:
        yield url


def open_compare(page, url: str) -> None:
    page.set_viewport_size(SCREEN)
    open_page(page, f"{url}/compare?dataset=digits&model=digits-z8&b=digits-small&projection=pca", ".vcmp")
    page.wait_for_function(f"() => window.__vae && {CMP}?.a.ready && {CMP}.b.ready", timeout=120_000)
    page.wait_for_function(f"() => {CMP}.a.lens.ready && {CMP}.b.lens.ready", timeout=60_000)
    wait_idle(page)
    page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTo(0, 0)")
    assert not error_texts(page), error_texts(page)


def same_points(marked, xs, ys) -> bool:
    """Whether the (x, y) pairs drawn in a trace are exactly these points, in any order."""
    got, want = np.asarray(marked, dtype=np.float64).T, np.stack([xs, ys], axis=1).astype(np.float64)
    if got.shape != want.shape:
        return False
    return np.allclose(got[np.lexsort(got.T[::-1])], want[np.lexsort(want.T[::-1])], atol=1e-5)


def ring_centre(page, side: str) -> dict | None:
    return page.evaluate("""(side) => { const el = __vae.compares.at(-1)[side].el.ring;
      if (getComputedStyle(el).display === 'none') return null;
      const r = el.getBoundingClientRect(); return {x: r.left + r.width / 2, y: r.top + r.height / 2}; }""", side)


def test_hover_on_one_map_rings_the_same_image_on_the_other(page, compare_app):
    open_compare(page, compare_app)
    count_runs(page)
    for hovered, other in (("a", "b"), ("b", "a")):
        spots = page.evaluate(ISOLATED_JS, [hovered, 4, 4])
        assert len(spots) >= 3, f"too few isolated points on map {hovered}"
        for spot in spots:
            page.mouse.move(spot["x"], spot["y"])
            page.wait_for_function(f"(row) => {CMP}.{other}.ringRow === row", arg=spot["row"], timeout=5_000)
            where = page.evaluate(f"(row) => {CMP}.{other}.pagePos(row)", spot["row"])
            centre = ring_centre(page, other)
            assert centre is not None, f"no ring on map {other}"
            assert (centre["x"], centre["y"]) == pytest.approx((where["x"], where["y"]), abs=2)  # on that very point
            tip = page.locator(f".vcmp-{hovered} .vmap-tip").inner_text()
            assert tip.startswith(f"#{spot['row']} · ")  # the hovered map's own tooltip names the same image
        page.mouse.move(5, 5)
        page.wait_for_function(f"() => {CMP}.a.ringRow === null && {CMP}.b.ringRow === null", timeout=5_000)
    assert runs(page) == 0, "hovering reran the script"

    # a click on a point of B: the detail holds both models' reconstructions and splits, all on one screen
    spot = page.evaluate(ISOLATED_JS, ["b", 4, 1])[0]
    page.mouse.move(spot["x"], spot["y"])
    page.wait_for_timeout(120)
    page.mouse.click(spot["x"], spot["y"])
    main = page.locator("[data-testid=stMain]")
    title = main.locator("[data-testid=stMarkdownContainer]").filter(has_text=re.compile(rf"^#{spot['row']} · "))
    title.wait_for(timeout=30_000)
    wait_idle(page)
    page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTo(0, 0)")
    page.mouse.move(5, 5)
    for name, locator in {"map A": page.locator(".vcmp-a .nsewdrag"), "map B": page.locator(".vcmp-b .nsewdrag"),
                          "lens A": page.locator(".vcmp-lens-a canvas"), "lens B": page.locator(".vcmp-lens-b canvas"),
                          "the colour choice": page.locator(".vcmp .vmap-color"),
                          "the picked image's title": title,
                          "A's reconstruction": main.get_by_text("A's reconstruction"),
                          "B's reconstruction": main.get_by_text("B's reconstruction"),
                          "B's ELBO split": main.locator("[data-testid=stMarkdownContainer]",
                                                         has_text=re.compile(r"^ELBO .* = −\(Recon")).last,
                          "B's neighbours": main.get_by_text("8 nearest in B's latent space")}.items():
        assert_on_screen(page, locator, name)
    marked = page.evaluate(f"() => [{CMP}.a.gd._fullData[3].x.length, {CMP}.b.gd._fullData[3].x.length, "
                           f"{CMP}.a.gd._fullData[2].x.length, {CMP}.b.gd._fullData[2].x.length]")
    assert marked == [1, 1, 8, 8]  # the image and its 8 nearest, each in its own model's latent space
    screenshot(page, "compare")
    assert "a=digits-z8" in page.url and "b=digits-small" in page.url and f"point={spot['row']}" in page.url
    assert_no_exception(page)


def test_a_lasso_on_one_map_selects_the_same_rows_on_both(page, compare_app):
    open_compare(page, compare_app)
    count_runs(page)
    page.evaluate(f"() => Plotly.relayout({CMP}.a.gd, {{dragmode: 'lasso'}})")
    spot = page.evaluate(ISOLATED_JS, ["a", 0, 1, 60])[0]  # the lasso's 90 px square inside the plot
    cx, cy, last = spot["x"], spot["y"], (-45, -45)
    page.mouse.move(cx + last[0], cy + last[1])
    page.mouse.down()
    for corner in [(45, -45), (45, 45), (-45, 45), (-45, -45)]:
        for k in range(1, 6):
            page.mouse.move(cx + last[0] + (corner[0] - last[0]) * k / 5, cy + last[1] + (corner[1] - last[1]) * k / 5)
        last = corner
    page.mouse.up()
    page.wait_for_function(f"() => {CMP}.a.lastShape", timeout=5_000)  # Plotly reports the lasso after mouse-up
    shape = page.evaluate(f"() => {CMP}.a.lastShape")
    ax, ay = (np.asarray(page.evaluate(f"() => Array.from({CMP}.a.pts.{k})")) for k in "xy")
    rows = np.flatnonzero(inside_polygon(ax, ay, np.asarray(shape["lasso"]["x"]), np.asarray(shape["lasso"]["y"])))
    assert len(rows) >= 2
    # at once, in the page: B marks the same images (their places on B's map), before any rerun
    bx, by = (np.asarray(page.evaluate(f"() => Array.from({CMP}.b.pts.{k})")) for k in "xy")
    marked = page.evaluate(f"() => [Array.from({CMP}.b.gd._fullData[1].x), Array.from({CMP}.b.gd._fullData[1].y)]")
    assert same_points(marked, bx[rows], by[rows])
    assert runs(page) <= 1  # only the one run that opens the selection's detail
    heading = page.locator("[data-testid=stMarkdownContainer]").filter(has_text=re.compile(r"images selected"))
    heading.wait_for(timeout=30_000)
    wait_idle(page)
    assert int(re.search(r"([\d,]+) images selected", heading.inner_text()).group(1)) == len(rows)
    for side, xs, ys in (("a", ax, ay), ("b", bx, by)):  # and after the rerun, both maps still mark those rows
        marked = page.evaluate(f"() => [Array.from({CMP}.{side}.gd._fullData[1].x), "
                               f"Array.from({CMP}.{side}.gd._fullData[1].y)]")
        assert same_points(marked, xs[rows], ys[rows]), side
    assert_no_exception(page)


def test_both_lenses_decode_their_own_model_under_the_cursor(page, compare_app):
    open_compare(page, compare_app)
    count_runs(page)
    box = page.evaluate(f"() => {{ const r = {CMP}.a.gd.querySelector('.nsewdrag').getBoundingClientRect();"
                        " return [r.left, r.top, r.width, r.height]; }")
    picture = "(side) => document.querySelector(`.vcmp-lens-${side} canvas`).toDataURL()"
    previous = {side: page.evaluate(picture, side) for side in "ab"}
    changed, moves = {"a": 0, "b": 0}, 30
    for i in range(moves):
        before = page.evaluate(f"() => [{CMP}.a.lens.view.painted, {CMP}.b.lens.view.painted]")
        page.mouse.move(box[0] + 30 + i * (box[2] - 60) / moves, box[1] + box[3] * (0.3 + 0.2 * (i % 3)))
        page.wait_for_function(f"(n) => {CMP}.a.lens.view.painted > n[0] && {CMP}.b.lens.view.painted > n[1]",
                               arg=before, timeout=5_000)
        for side in "ab":
            now = page.evaluate(picture, side)
            changed[side] += now != previous[side]
            previous[side] = now
    assert min(changed.values()) >= 0.9 * moves, f"the lenses changed on {changed} of {moves} moves"
    assert previous["a"] != previous["b"]  # two models: two pictures of the same spot
    readouts = page.locator(".vcmp .vmap-readout").all_inner_texts()
    assert len(readouts) == 2 and all(re.search(r"map units to the nearest point", r) for r in readouts)
    # a working lens is named in its title; its caption (the Map's "Lens: …. Click to pin it.") is hidden
    for side in "ab":
        caption = page.locator(f".vcmp-lens-{side} .vmap-lens-caption")
        assert "vcmp-quiet" in caption.get_attribute("class") and not caption.is_visible()
        assert page.locator(f".vcmp-lens-{side} .vcmp-lens-title").get_attribute("title").startswith("Lens: ")
    assert runs(page) == 0, "moving the lenses reran the script"
    assert_no_exception(page)
