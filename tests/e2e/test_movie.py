"""The training movie in a real browser (issue 21), on the shipped Fashion-MNIST model (8 snapshots, its movie's maps
shipped in its cache): the Epoch scrubber moves the points and changes the lens picture with the cursor held still,
Play runs through the epochs, all with no Streamlit rerun; the lens at a pinned spot is what that epoch's own decoder
draws there (the GIF's picture, decoded on the server)."""
import numpy as np
import pytest

from vae_core.map import movie as movies
from vae_core.map.movie_gif import pictures_at
from vae_core.models import load_model
from vae_core.paths import PRETRAINED_DIR

from .conftest import assert_no_exception, error_texts, screenshot, wait_idle
from .test_map import count_runs, open_map, runs

pytestmark = pytest.mark.e2e
CTRL = "__vae.movies.at(-1)"
STEPS = 20

# Where the points are drawn, and what the lens shows: one number each (a change in either changes it).
SIGNATURES_JS = f"""() => {{ const c = {CTRL}, px = c.el.lens.getContext('2d').getImageData(0, 0, c.el.lens.width,
    c.el.lens.height).data;
  let p = 0, l = 0;
  for (let i = 0; i < c.shown.length; i++) p = (p * 31 + Math.round(c.shown[i] * 1000)) % 1000000007;
  for (let i = 0; i < px.length; i += 4) l = (l * 31 + px[i]) % 1000000007;
  return {{positions: p, lens: l, target: c.target, epoch: c.data.epochs[c.target]}}; }}"""
SETTLED_JS = f"() => {{ const c = {CTRL}; return c.glide === null && !c.lensBusy && c.step === null; }}"
LENS_PIXELS_JS = f"""() => {{ const c = {CTRL}, x = c.el.lens.getContext('2d').getImageData(0, 0, 28, 28).data;
  return Array.from({{length: 28 * 28}}, (_, i) => x[4 * i]); }}"""


def open_movie(page, app_url):
    open_map(page, app_url)
    page.locator("[data-testid=stExpander] summary", has_text="Training movie").click()
    page.wait_for_function("() => { const c = window.__vae?.movies?.at(-1);"
                           " return c?.ready && c.el.root.dataset.engine === 'ready'; }", timeout=120_000)
    wait_idle(page)
    page.locator(".vmovie").scroll_into_view_if_needed()


def settle(page):
    page.wait_for_function(SETTLED_JS, timeout=10_000)
    return page.evaluate(SIGNATURES_JS)


def test_the_scrubber_moves_the_points_and_the_lens_with_no_rerun(page, app_url):
    open_movie(page, app_url)
    scrubber = page.locator(".vmovie input[type=range]")
    assert scrubber.get_attribute("aria-label") == "Epoch"
    assert page.locator(".vmovie button", has_text="Play").get_attribute("aria-label") == "Play the movie"
    assert page.evaluate(f"() => {CTRL}.data.epochs") == list(range(1, 9))
    box = page.locator(".vmovie canvas.vmovie-map").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.55)  # held still from here on
    scrubber.focus()  # the keyboard moves the scrubber: the cursor stays over the map
    count_runs(page)
    before = settle(page)
    assert before["target"] == 7  # it opens on the trained model's map
    moved = changed = 0
    for i in range(STEPS):
        key = "ArrowLeft" if (i // 7) % 2 == 0 else "ArrowRight"  # 7 -> 0 -> 7 -> 1
        page.keyboard.press(key)
        after = settle(page)
        assert after["target"] != before["target"], f"step {i} did not change the epoch"
        moved += after["positions"] != before["positions"]
        changed += after["lens"] != before["lens"]
        before = after
    assert moved >= 0.9 * STEPS and changed >= 0.9 * STEPS, (moved, changed)
    assert "under the cursor" in page.locator(".vmovie-lens-caption").inner_text()
    times = page.evaluate(f"() => {CTRL}.times")
    assert len(times) >= STEPS  # each step: the map's first frame and the lens painted (bench/movie_page.py times them)

    page.keyboard.press("Home")  # epoch 1, then Play runs on through the epochs
    settle(page)
    page.locator(".vmovie button", has_text="Play").click()
    page.wait_for_function(f"() => {CTRL}.target >= 2", timeout=10_000)
    page.locator(".vmovie button", has_text="Pause").click()
    assert runs(page) == 0, "scrubbing or playing reran the script"
    assert_no_exception(page)
    assert not error_texts(page)
    screenshot(page, "movie")


def test_the_lens_at_a_pinned_spot_is_that_epochs_decoder(page, app_url):
    open_movie(page, app_url)
    movie = movies.movie(load_model(PRETRAINED_DIR / "fashion-mnist-z16"))  # the shipped maps: no fit
    spot_xy = [float(v) for v in movie.maps[-1][123]]  # a point's place on the last map
    box = page.locator(".vmovie canvas.vmovie-map").bounding_box()
    x0, x1, y0, y1 = page.evaluate(f"() => {CTRL}.movie.bounds")
    page.mouse.click(box["x"] + (spot_xy[0] - x0) / (x1 - x0) * box["width"],
                     box["y"] + (y1 - spot_xy[1]) / (y1 - y0) * box["height"])
    wait_idle(page)  # the pin goes to Python (the GIF's spot): the movie's fragment runs again
    page.mouse.move(5, 5)  # off the map: the lens shows the pinned spot
    pinned = page.evaluate(f"() => {CTRL}.pinned")
    pictures, _ = pictures_at(movie, pinned)
    scrubber = page.locator(".vmovie input[type=range]")
    scrubber.focus()
    for key, t in (("Home", 0), ("ArrowRight", 1), ("End", 7)):
        page.keyboard.press(key)
        assert settle(page)["target"] == t
        shown = np.array(page.evaluate(LENS_PIXELS_JS), dtype=np.int16).reshape(28, 28)
        # onnxruntime-web against onnxruntime, the same float16 graph: at most a grey level apart
        assert np.abs(shown - pictures[t]).max() <= 1, f"epoch {movie.epochs[t]}: the lens is not its decoder's"
    assert np.abs(pictures[0].astype(int) - pictures[7]).mean() > 1  # the epochs do draw different pictures
    assert "at the pinned spot" in page.locator(".vmovie-lens-caption").inner_text()
    assert page.get_by_text("The GIF follows the spot you pinned").count() == 1
    assert_no_exception(page)
