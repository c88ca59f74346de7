"""The training movie's Epoch scrubber in the page (issue 21), against the Interpolate scrubber in the same run.

    python -m bench.movie_page [--steps 60] [--warm-up 10]

Starts the real app (the shipped Fashion-MNIST model: 8 snapshots, its movie's maps shipped) and opens, in two tabs
of one headless Chromium, the Map's training movie and the Interpolate page. Prints, p50 / p95:
  - a movie step: the scrubber's input event -> the map's first frame towards the new epoch drawn (2,000 points) and
    the lens repainted by that epoch's decoder at the spot under the cursor (the component's own `times`);
  - one frame of the glide: the 2,000 points drawn on the canvas (what every animation frame costs);
  - the reference: the Interpolate scrubber's input event -> its picture repainted (vae-painted), the page's
    existing in-page scrubber, measured in the same browser, in alternating blocks so both see the same load.
Target (issue 21): scrubber frame p95 <= 50 ms. Exit status 1 if it is missed. Headless Chromium here has no GPU and
shares a busy 2-core CPU: a real machine is faster.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.latency import percentiles, stop  # noqa: E402
from bench.live import FRAME_TIMES_JS  # noqa: E402  (Interpolate's scrubber: input event -> its picture painted)
from tests.e2e.conftest import CHROMIUM_ARGS, _chromium, open_page, start_app, wait_idle  # noqa: E402

TARGET_P95_MS = 50.0
BLOCK = 10  # steps per block; the two pages alternate blocks

CTRL = "__vae.movies.at(-1)"
# n scrubber steps, each to another epoch (all over the range), each timed by the component from its input event to
# the map's first frame and the lens painted; the glide is let finish before the next step.
MOVIE_STEPS_JS = f"""async (n) => {{
  const c = {CTRL}, input = c.el.epoch, m = c.movie.m, start = c.times.length;
  for (let i = 0; i < n; i++) {{
    let next = (c.target + 1 + (i * 5) % (m - 1)) % m;
    const done = new Promise((resolve) => c.el.root.addEventListener('vae-movie-step', resolve, {{ once: true }}));
    input.value = String(next);
    input.dispatchEvent(new Event('input', {{ bubbles: true }}));
    await done;
    while (c.glide || c.lensBusy) await new Promise((r) => requestAnimationFrame(r));
  }}
  return c.times.slice(start); }}"""
# The canvas alone: the 2,000 points drawn (one animation frame of the glide).
MOVIE_DRAW_JS = f"""(n) => {{ const c = {CTRL}, times = [];
  for (let i = 0; i < n; i++) {{ const t0 = performance.now(); c.draw(); times.push(performance.now() - t0); }}
  return times; }}"""
def open_movie(page, url: str) -> None:
    open_page(page, url, ".vmap-plot.js-plotly-plot")
    page.locator("[data-testid=stExpander] summary", has_text="Training movie").click()
    page.wait_for_function("() => { const c = window.__vae?.movies?.at(-1);"
                           " return c?.ready && c.el.root.dataset.engine === 'ready'; }", timeout=120_000)
    wait_idle(page)
    page.locator(".vmovie").scroll_into_view_if_needed()
    box = page.locator(".vmovie canvas.vmovie-map").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.55)  # the lens decodes here


def open_scrubber(page, url: str):
    """The Interpolate scrubber's element (inside its component's shadow root: a locator reaches it)."""
    open_page(page, f"{url}/interpolate", ".scrubber input[type=range]")
    root = page.locator(".scrubber").element_handle()
    page.wait_for_function("(el) => el.dataset.engine === 'ready'", arg=root, timeout=120_000)
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warm-up", type=int, default=10)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    scratch = tempfile.TemporaryDirectory(prefix="vae-bench-movie-")
    app, url = start_app(Path(scratch.name))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
            movie_page = browser.new_page(viewport={"width": 1400, "height": 1000})
            ref_page = browser.new_page(viewport={"width": 1400, "height": 1000})
            print("opening the movie and the Interpolate page …", flush=True)
            open_movie(movie_page, url)
            ref_root = open_scrubber(ref_page, url)
            movie_page.evaluate(MOVIE_STEPS_JS, args.warm_up)
            ref_root.evaluate(FRAME_TIMES_JS, args.warm_up)
            steps, ref = [], []
            print(f"{args.steps} steps each, in alternating blocks of {BLOCK} …", flush=True)
            while len(steps) < args.steps:
                movie_page.bring_to_front()
                steps += movie_page.evaluate(MOVIE_STEPS_JS, BLOCK)
                ref_page.bring_to_front()
                ref += ref_root.evaluate(FRAME_TIMES_JS, BLOCK)
            movie_page.bring_to_front()
            draws = movie_page.evaluate(MOVIE_DRAW_JS, args.steps)
            reruns = movie_page.evaluate("() => document.querySelector('[data-testid=stApp]').dataset.testScriptState")
            browser.close()
    finally:
        stop(app)
        scratch.cleanup()

    s50, s95 = percentiles(steps)
    r50, r95 = percentiles(ref)
    d50, d95 = percentiles(draws)
    passed = s95 <= TARGET_P95_MS
    print()
    print(f"{'in the page, p50 / p95 (ms)':58} {'movie':>14} {'Interpolate':>14}  target")
    print("-" * 100)
    print(f"{'scrubber step -> map first frame + lens repainted':58} {f'{s50:.1f} / {s95:.1f}':>14} "
          f"{f'{r50:.1f} / {r95:.1f}':>14}  p95 ≤ {TARGET_P95_MS:.0f} ms {'PASS' if passed else 'FAIL'}")
    print(f"{'one glide frame: 2,000 points drawn on the canvas':58} {f'{d50:.2f} / {d95:.2f}':>14} {'—':>14}")
    print(f"\nratio movie / Interpolate: p50 {s50 / max(r50, 1e-9):.2f}, p95 {s95 / max(r95, 1e-9):.2f}; "
          f"n = {len(steps)} and {len(ref)}; the script state after: {reruns}. Browser: {_chromium()}.")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
