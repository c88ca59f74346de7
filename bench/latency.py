"""UI latency in a real browser, read against a trivial Streamlit app measured in the same run.

    python -m bench.latency [--repeats 25] [--skip-70k] [--models DIR]

Starts the real app (`streamlit run app.py`, an empty models folder: the model the sidebar picks by default, i.e.
the one shipped in pretrained/) and a reference app (a fragment with one slider and one constant-size PNG), drives
Debian's Chromium with Playwright, and prints p50/p95 of:
  - slider step (ArrowRight on the top st.slider of bench/server_slider_app.py, the server path Generate used
    before its in-page pad: see bench/live.py for the pad) -> the new decoded image is loaded (its src changed);
  - click on a map point -> the detail panel shows that point's index and its images;
  - click on empty map space -> the decoded image of that spot;
  - server-side decode + PNG of one image (in this process: model.decode_images + images.to_png);
  - the app server's resident memory with the 70,000-point map (train + test) loaded. The first time, this
    encodes 70k images and fits a 70k UMAP: minutes. --skip-70k leaves it out.
Browser times run from the keydown/mousedown event to the animation frame where the condition first holds.
Exit status 1 if a target is missed.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM_ARGS, _chromium, open_page, wait_idle  # noqa: E402
from tests.e2e.test_map import EMPTY_JS, ISOLATED_JS, MAP  # noqa: E402  (the Map is our Plotly component)

TARGETS = {  # metric -> (p50 target, p95 target), milliseconds (MB for memory)
    "slider step -> new image": (150.0, 300.0),
    "click map point -> detail": (500.0, None),
    "click empty space -> image": (500.0, None),
    "decode + PNG, one image (server)": (2.0, None),
    "server RSS, 70k map loaded (MB)": (1536.0, None),
}
DECODED = "decoded from the sliders' z"
REFERENCE_APP = '''
import io
import numpy as np
import streamlit as st
from PIL import Image

st.set_page_config(layout="wide")


@st.fragment
def decoder():
    v = st.slider("value", 0, 255, 0, key="v")
    picture = np.zeros((28, 28), np.uint8)
    picture[4:24, 4:24] = v  # 28x28 -> 224x224 nearest neighbour, like the app's show_image
    buffer = io.BytesIO()
    Image.fromarray(picture).resize((224, 224), Image.NEAREST).save(buffer, format="PNG")
    st.image(buffer.getvalue(), caption="decoded from the sliders' z", output_format="PNG")


decoder()
'''

ARM_JS = """() => { window.__t0 = null;
  if (!window.__armed) { window.__armed = true;
    for (const type of ['keydown', 'mousedown'])
      document.addEventListener(type, () => { if (window.__t0 === null) window.__t0 = performance.now(); },
                                true); } }"""

IMAGE_CHANGED_JS = """([caption, before]) => {
  const el = [...document.querySelectorAll('[data-testid=stImage]')].find(e => e.innerText.includes(caption));
  const img = el && el.querySelector('img');
  if (!img || img.src === before || !img.complete || !img.naturalWidth || window.__t0 === null) return false;
  return performance.now() - window.__t0; }"""

POINT_SHOWN_JS = """(row) => {
  const title = [...document.querySelectorAll('[data-testid=stMarkdownContainer]')]
    .find(e => e.innerText.startsWith('#' + row + ' · '));
  const ready = (cap) => [...document.querySelectorAll('[data-testid=stImage]')]
    .some(e => e.innerText.trim() === cap && e.querySelector('img').complete && e.querySelector('img').naturalWidth);
  if (!title || !ready('original') || !ready('reconstruction') || window.__t0 === null) return false;
  return performance.now() - window.__t0; }"""

SPACE_SHOWN_JS = """([before, beforeSrc]) => {
  const title = [...document.querySelectorAll('[data-testid=stMarkdownContainer]')]
    .find(e => e.innerText.startsWith('Empty space at ('));
  const el = [...document.querySelectorAll('[data-testid=stImage]')]
    .find(e => e.innerText.includes("decoded from "));
  const img = el && el.querySelector('img');
  if (!title || title.innerText === before || !img || img.src === beforeSrc || !img.complete || !img.naturalWidth
      || window.__t0 === null) return false;
  return performance.now() - window.__t0; }"""


def percentiles(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=np.float64)
    return float(np.percentile(array, 50)), float(np.percentile(array, 95))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def timed(page, condition: str, arg, action, timeout: float = 30_000) -> float:
    page.evaluate(ARM_JS)
    action()
    return float(page.wait_for_function(condition, arg=arg, polling="raf", timeout=timeout).json_value())


def decoded_src(page) -> str | None:
    return page.evaluate("(cap) => { const el = [...document.querySelectorAll('[data-testid=stImage]')]"
                         ".find(e => e.innerText.includes(cap)); return el ? el.querySelector('img').src : null; }",
                         DECODED)


def slider_at_minimum(page, url: str):
    """Open the page and put its first slider at its minimum: each ArrowRight after that is a value never shown
    before, so a new PNG (a new media URL)."""
    open_page(page, url, "[data-testid=stSlider]")
    thumb = page.locator("[data-testid=stMain] [data-testid=stSlider] input[type=range]").first
    thumb.focus()
    before = decoded_src(page)
    thumb.press("Home")
    try:  # nothing changes when the slider already sits at its minimum
        page.wait_for_function(IMAGE_CHANGED_JS.replace("window.__t0 === null", "false"), arg=[DECODED, before],
                               timeout=5_000)
    except PlaywrightTimeout:
        pass
    wait_idle(page)
    return thumb


def slider_step(page, thumb) -> float | None:
    """ms from the ArrowRight keydown to the frame showing the new image; None if the image did not change."""
    before = decoded_src(page)
    try:
        return timed(page, IMAGE_CHANGED_JS, [DECODED, before], lambda: thumb.press("ArrowRight"), 5_000)
    except PlaywrightTimeout:  # a step that decodes to identical bytes keeps the same src
        return None
    finally:
        wait_idle(page, 30_000)


def slider_steps(app_page, app_url: str, ref_page, ref_url: str, repeats: int) -> tuple[list[float], list[float]]:
    """Steps on the server-path app's top slider and on the reference app's, alternated so both see the same load."""
    app_thumb = slider_at_minimum(app_page, app_url)
    ref_thumb = slider_at_minimum(ref_page, ref_url)
    app_times, ref_times, misses = [], [], 0
    for i in range(repeats + 2):
        ref_page.bring_to_front()
        ref = slider_step(ref_page, ref_thumb)
        app_page.bring_to_front()
        app = slider_step(app_page, app_thumb)
        misses += app is None
        if i >= 2:  # two warm-up steps
            ref_times += [ref] if ref is not None else []
            app_times += [app] if app is not None else []
    if misses:
        print(f"  ({misses} slider step(s) left the image unchanged and were not counted)")
    return app_times, ref_times


def map_clicks(page, url: str, repeats: int) -> tuple[list[float], list[float]]:
    open_page(page, url, MAP)
    page.wait_for_function("() => window.__vae && __vae.maps.at(-1)?.ready", timeout=120_000)
    page.evaluate("() => __vae.maps.at(-1).gd.scrollIntoView({block: 'end'})")
    for gap in (8.0, 6.0, 4.0):  # the click lands on a point's centre: the page picks the closest point
        points = [{"id": p["row"], **p} for p in page.evaluate(ISOLATED_JS, [gap, repeats + 2])]
        if len(points) >= repeats + 2:
            break
    spot = page.evaluate(EMPTY_JS)  # far from data; nudged a little each time so the title changes
    cells = [{"x": spot["x"] + (i % 3 - 1) * 3, "y": spot["y"] + (i // 3 % 3 - 1) * 3} for i in range(repeats + 2)]
    point_times, space_times, misses = [], [], 0
    for i, (point, cell) in enumerate(zip(points, cells)):
        page.mouse.move(point["x"], point["y"])
        page.wait_for_timeout(150)
        try:
            elapsed = timed(page, POINT_SHOWN_JS, point["id"], lambda: page.mouse.click(point["x"], point["y"]),
                            10_000)
            if i >= 2:
                point_times.append(elapsed)
        except PlaywrightTimeout:  # the click picked another point (or none)
            misses += 1
        wait_idle(page)
        page.mouse.move(cell["x"], cell["y"])
        page.wait_for_timeout(150)
        before = page.evaluate("() => { const t = [...document.querySelectorAll('[data-testid=stMarkdownContainer]')]"
                               ".find(e => e.innerText.startsWith('Empty space at (')); return t ? t.innerText : ''; }")
        before_src = page.evaluate("() => { const el = [...document.querySelectorAll('[data-testid=stImage]')].find("
                                   "e => e.innerText.includes(\"decoded from \"));"
                                   " return el ? el.querySelector('img').src : ''; }")
        elapsed = timed(page, SPACE_SHOWN_JS, [before, before_src], lambda: page.mouse.click(cell["x"], cell["y"]))
        wait_idle(page)
        if i >= 2:
            space_times.append(elapsed)
    if misses:
        print(f"  ({misses} point click(s) did not show the clicked point and were not counted)")
    return point_times, space_times


def decode_png_times(repeats: int = 300) -> list[float]:
    """In-process: what the server does for one image (decode one latent, PNG at the panel's 224 px)."""
    import torch

    from ui.widgets import upscale_for
    from vae_core import data, models
    from vae_core.models.torch_vae import checkpoint
    from vae_core import images as imgs
    from vae_core.paths import PRETRAINED_DIR

    shipped = [m for m in models.list_models([PRETRAINED_DIR]) if m.error is None]
    preferred = [m for m in shipped if m.dataset == data.default_dataset_name()] or shipped
    if not preferred:
        raise SystemExit(f"no model in {PRETRAINED_DIR}")
    torch.set_num_threads(1)  # as app.py sets it for the server
    model = checkpoint.load_checkpoint(preferred[0].path).model.eval()
    z = np.random.default_rng(0).standard_normal((repeats, model.config.latent_dim)).astype(np.float32)
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        image = model.decode_images(z[i])[0]
        imgs.to_png(image, upscale_for(image.shape, 224))
        times.append((time.perf_counter() - start) * 1000)
    return times[10:]


def load_70k(page, url: str, pid: int) -> tuple[float, float]:
    """Select "All images" on the Map and wait for the 70k-point chart; returns (seconds, server RSS in MB)."""
    open_page(page, url, MAP)
    start = time.time()
    page.locator(".st-key-map_split_label [role=combobox]").click()
    page.locator("[role=option]", has_text="All images").click()
    done = "() => !!(window.__vae && __vae.maps.at(-1)?.ready && __vae.maps.at(-1).pts.n > 60000)"
    while not page.evaluate(done):
        if page.locator("[data-testid=stException], [data-testid=stAlertContentError]").count():
            raise RuntimeError(page.locator("[data-testid=stException], [data-testid=stAlertContentError]")
                               .first.inner_text())
        bars = page.locator("[data-testid=stProgress]").all_inner_texts()
        print(f"  {time.time() - start:5.0f} s  {' | '.join(t.strip() for t in bars if t.strip()) or 'working…'}"
              f"  (server RSS {rss_mb(pid):.0f} MB)", flush=True)
        page.wait_for_timeout(15_000)
    wait_idle(page, 600_000)
    return time.time() - start, rss_mb(pid)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--skip-70k", action="store_true", help="leave out the 70,000-point map (minutes)")
    parser.add_argument("--models", type=Path, help="use this models folder instead of an empty one")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import start_app

    tmp = Path(tempfile.mkdtemp(prefix="vae-bench-latency-"))
    (tmp / "app").mkdir()
    (tmp / "ref").mkdir()
    reference_script = tmp / "ref" / "reference_app.py"
    reference_script.write_text(textwrap.dedent(REFERENCE_APP))
    extra = {"VAE_MODELS_DIR": str(args.models)} if args.models else None
    app, app_url = start_app(tmp / "app", extra)
    ref, ref_url = start_app(tmp / "ref", script=str(reference_script))
    (tmp / "server").mkdir()
    server, server_url = start_app(tmp / "server", script=str(ROOT / "bench" / "server_slider_app.py"))
    rows: dict[str, dict] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            ref_page = browser.new_page(viewport={"width": 1400, "height": 950})
            print("warming up the app (first load may encode the dataset) …", flush=True)
            open_page(page, app_url, MAP)

            print(f"Generate and the reference app: {args.repeats} slider steps each, alternated …", flush=True)
            server_page = browser.new_page(viewport={"width": 1400, "height": 950})
            slider, ref_slider = slider_steps(server_page, server_url, ref_page, ref_url, args.repeats)
            server_page.close()
            ref_rss = rss_mb(ref.pid)
            ref_page.close()
            print(f"Map: {args.repeats} point clicks and {args.repeats} empty-space clicks …", flush=True)
            points, spaces = map_clicks(page, app_url, args.repeats)
            print("decode + PNG in-process …", flush=True)
            decode = decode_png_times()

            rows["slider step -> new image"] = dict(values=slider, ref=f"{statistics.median(ref_slider):.0f} / "
                                                    f"{percentiles(ref_slider)[1]:.0f} ms (trivial fragment app)")
            rows["click map point -> detail"] = dict(values=points, ref="—")
            rows["click empty space -> image"] = dict(values=spaces, ref="—")
            rows["decode + PNG, one image (server)"] = dict(values=decode, ref="—")
            if not args.skip_70k:
                print("Map: all 70,000 images (encoding + UMAP the first time: minutes) …", flush=True)
                seconds, rss = load_70k(page, app_url, app.pid)
                print(f"  70k map shown after {seconds:.0f} s", flush=True)
                rows["server RSS, 70k map loaded (MB)"] = dict(values=[rss], ref=f"{ref_rss:.0f} MB (trivial app)")
                print("Map (70k): point clicks …", flush=True)
                points70, _ = map_clicks(page, app_url, min(args.repeats, 12))
                rows["click map point -> detail (70k map)"] = dict(values=points70, ref="—")
            browser.close()
    finally:
        stop(app)
        stop(ref)
        stop(server)

    TARGETS["click map point -> detail (70k map)"] = TARGETS["click map point -> detail"]
    print()
    header = f"{'metric':38} {'p50':>9} {'p95':>9}  {'target':22} {'reference (p50 / p95)':32} result"
    print(header)
    print("-" * len(header))
    failed = False
    for name, row in rows.items():
        p50, p95 = percentiles(row["values"])
        t50, t95 = TARGETS[name]
        ok = p50 <= t50 and (t95 is None or p95 <= t95)
        failed |= not ok
        unit = "MB" if "MB" in name else "ms"
        target = f"p50 ≤ {t50:g}" + (f", p95 ≤ {t95:g}" if t95 else "") + f" {unit}"
        fmt = "{:9.0f}" if unit == "MB" or p50 >= 10 else "{:9.2f}"
        print(f"{name:38} {fmt.format(p50)} {fmt.format(p95)}  {target:22} {row['ref']:32} {'PASS' if ok else 'FAIL'}")
    print(f"\n(n = {args.repeats} per browser metric after 2 warm-ups; browser: {_chromium()}; "
          f"{'70k map skipped' if args.skip_70k else 'RSS read from /proc/<pid>/status VmRSS'})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
