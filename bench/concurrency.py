"""Sessions sharing one server: does one heavy job, or five busy users, hold the others up?

    python -m bench.concurrency [--seconds 60] [--sessions 5] [--skip-heavy]

1. Session B while A computes: A selects "All images" on the Map (encoding 70,000 images and fitting a UMAP:
   minutes); 3 s later B opens Generate on a fresh server (its own, smaller result: the test split's encoding).
   B's time to a usable page is printed next to B alone on an idle fresh server (the reference). With one global
   lock in ui/state.memo B waited for all of A's work; with a lock per key it does not.
2. N sessions at once for a bounded time (each in its own Chromium): sessions 0..N-3 step Generate's latent pad
   (one ArrowRight/ArrowLeft on its first slider, timed until Python received the new z and the page finished
   that rerun: the server's work per step; the in-page repaint, keydown to the frame where the canvas changed, is
   printed beside it), the last two click isolated points on the Map component (timed until the detail panel
   shows that point's index); p50/p95 per session next to one session alone doing the same, measured in the same
   run. The server must stay healthy (/_stcore/health) and no page may show an error.
3. Session B while A imports a hostile model zip: A uploads, on the Train page, an ONNX folder whose decoder spins
   in an endless Loop on its output's path (the import's test run is stopped after its 60 s deadline); 3 s into it,
   B opens Generate on the same server. B's time is printed next to B alone on the same idle server, measured in the
   same run. Target: B within 2× its alone time (the test run is a child process, the import holds only A's script).
Browser helpers come from tests/e2e (conftest, test_generate, test_map).
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.latency import percentiles, stop  # noqa: E402
from tests.e2e.conftest import CHROMIUM_ARGS, _chromium, error_texts, open_page, start_app, wait_idle  # noqa: E402
from tests.e2e.test_generate import CANVAS, PAD, SIGNATURE_JS, open_pad  # noqa: E402
from tests.e2e.test_map import ISOLATED_JS, MAP, detail_title, open_map  # noqa: E402

VIEWPORT = {"width": 1400, "height": 950}


def browser_session(work, *args):
    """Run work(page, *args) in its own Playwright and Chromium (the sync API is one per thread)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            return work(browser.new_page(viewport=VIEWPORT), *args)
        finally:
            browser.close()


def time_to_generate(page, url: str) -> float:
    start = time.perf_counter()
    open_page(page, f"{url}/generate", f"{PAD} input[type=range]", timeout=600_000)
    return time.perf_counter() - start


def start_all_images(page, url: str, started: threading.Event, stop_flag: threading.Event) -> None:
    open_page(page, url, MAP, timeout=600_000)
    page.locator(".st-key-map_split_label [role=combobox]").click()
    page.locator("[role=option]", has_text="All images").click()
    started.set()
    while not stop_flag.is_set():  # keep the session (and its computation) alive until B is measured
        page.wait_for_timeout(500)


def hostile_zip(folder: Path) -> bytes:
    """An ONNX model folder (tests/onnx_vaes) whose decoder output waits on a Loop of 2^62 iterations, zipped."""
    import io
    import zipfile

    import onnx
    from onnx import helper

    sys.path.insert(0, str(ROOT / "tests"))
    from onnx_vaes import MLPVAE, endless_loop, export

    export(MLPVAE(latent_dim=3, hidden=16).eval(), folder, "bernoulli_logits", "digits")
    model = onnx.load(folder / "decoder.onnx")
    out = model.graph.output[0].name
    for node in model.graph.node:
        node.output[:] = [f"{out}_raw" if name == out else name for name in node.output]
    spin = endless_loop(model)
    model.graph.node.extend([helper.make_node("Mul", [spin, "zero"], ["spin0"]),
                             helper.make_node("Add", [f"{out}_raw", "spin0"], [out])])
    onnx.save(model, folder / "decoder.onnx")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in folder.iterdir():
            archive.write(path, f"spinner/{path.name}")
    return buffer.getvalue()


def start_hostile_import(page, url: str, zipped: bytes, started: threading.Event, stop_flag: threading.Event) -> None:
    open_page(page, f"{url}/train", "[data-testid=stFileUploaderDropzoneInput]", timeout=600_000)
    page.locator(".st-key-onnx_zip [data-testid=stFileUploaderDropzoneInput]").set_input_files(
        files=[{"name": "spinner.zip", "mimeType": "application/zip", "buffer": zipped}])
    started.set()
    while not stop_flag.is_set():
        page.wait_for_timeout(500)


def session_b_while_hostile_import(tmp: Path) -> tuple[float, float]:
    """(B alone, B while A's hostile import runs), on one server, in this run."""
    zipped = hostile_zip(tmp / "spinner")
    proc, url = start_app(tmp / "hostile")
    try:
        browser_session(time_to_generate, url)  # warm: the first load pays imports and the map's caches
        alone = browser_session(time_to_generate, url)
        started, stop_flag = threading.Event(), threading.Event()
        a = threading.Thread(target=browser_session, args=(start_hostile_import, url, zipped, started, stop_flag),
                             daemon=True)
        a.start()
        assert started.wait(600), "session A never uploaded its zip"
        time.sleep(3.0)
        busy = browser_session(time_to_generate, url)
        stop_flag.set()
        a.join(120)
    finally:
        stop(proc)
    return alone, busy


def session_b_while_a(tmp: Path) -> tuple[float, float]:
    alone_proc, alone_url = start_app(tmp / "alone")
    try:
        alone = browser_session(time_to_generate, alone_url)
    finally:
        stop(alone_proc)
    proc, url = start_app(tmp / "busy")
    started, stop_flag = threading.Event(), threading.Event()
    a = threading.Thread(target=browser_session, args=(start_all_images, url, started, stop_flag), daemon=True)
    try:
        a.start()
        assert started.wait(600), "session A never started its computation"
        time.sleep(3.0)
        busy = browser_session(time_to_generate, url)
    finally:
        stop_flag.set()
        stop(proc)
        a.join(30)
    return alone, busy


# Before a key press: note when the next keydown happens and the first animation frame where the canvas differs.
REPAINT_WATCH_JS = """(c) => {
  const sig = """ + SIGNATURE_JS + """, before = sig(c), limit = performance.now() + 30000;
  window.__repaint = null;
  let t0 = null;
  document.addEventListener('keydown', (e) => { t0 = performance.now(); }, {once: true, capture: true});
  const tick = () => {
    if (t0 !== null && sig(c) !== before) { window.__repaint = performance.now() - t0; return; }
    if (performance.now() < limit) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""
# Finished runs, counted from the records' old values: a run that starts and ends between two observer callbacks
# still counts (reading the attribute in the callback would miss it).
COUNT_FINISHED_JS = """() => { window.__finished = 0;
  new MutationObserver((records) => { for (const r of records) if (r.oldValue === 'running') window.__finished++; })
    .observe(document.querySelector('[data-testid=stApp]'),
             {attributes: true, attributeOldValue: true, attributeFilter: ['data-test-script-state']}); }"""
RERUN_DONE_JS = """(n) => window.__finished > n
  && document.querySelector('[data-testid=stApp]').dataset.testScriptState === 'notRunning'"""


def generate_steps(page, url: str, deadline: float) -> dict[str, list[float]]:
    """One arrow key per step on the pad's first slider, turning round at either end of its range."""
    pad = open_pad(page, url)
    wait_idle(page)
    page.evaluate(COUNT_FINISHED_JS)
    thumb, canvas = pad.locator("input[type=range]").first, page.locator(CANVAS)
    low, high = float(thumb.get_attribute("min")), float(thumb.get_attribute("max"))
    key = "ArrowRight"
    steps, repaints = [], []
    while time.time() < deadline:
        value = float(thumb.input_value())
        if value >= high:
            key = "ArrowLeft"
        elif value <= low:
            key = "ArrowRight"
        canvas.evaluate(REPAINT_WATCH_JS)
        before = page.evaluate("() => window.__finished")
        start = time.perf_counter()
        thumb.press(key)
        page.wait_for_function(RERUN_DONE_JS, arg=before, timeout=60_000, polling="raf")
        steps.append((time.perf_counter() - start) * 1000)
        repaint = page.evaluate("() => window.__repaint")
        if repaint is not None:
            repaints.append(repaint)
    assert not error_texts(page), error_texts(page)
    return {"step": steps, "repaint": repaints}


def map_work(page, url: str, deadline: float) -> dict[str, list[float]]:
    """Click isolated points of the Map component in turn, each until the detail panel shows its index."""
    open_map(page, url)
    page.evaluate("() => Plotly.relayout(__vae.maps.at(-1).gd, {'xaxis.range': [-9, 9], 'yaxis.range': [-9, 9]})")
    page.wait_for_timeout(300)
    points = page.evaluate(ISOLATED_JS, [8, 24])
    assert len(points) >= 2, f"only {len(points)} isolated points on the map"
    times, k = [], 0
    while time.time() < deadline:
        point = points[k % len(points)]
        k += 1
        page.mouse.move(point["x"], point["y"])
        start = time.perf_counter()
        page.mouse.click(point["x"], point["y"])
        detail_title(page, re.compile(rf"^#{point['row']} · ")).wait_for(timeout=120_000)
        times.append((time.perf_counter() - start) * 1000)
        wait_idle(page, 120_000)
    assert not error_texts(page), error_texts(page)
    return {"click": times}


def crowd(url: str, sessions: int, seconds: float) -> list[tuple[str, dict | Exception]]:
    deadline = time.time() + seconds
    jobs = [("Generate", generate_steps)] * max(1, sessions - 2) + [("Map", map_work)] * min(2, sessions - 1)
    results: list = [None] * len(jobs)

    def run(i, work):
        try:
            results[i] = browser_session(work, url, deadline)
        except Exception as err:  # noqa: BLE001 - a failed session is reported, not hidden
            results[i] = err

    threads = [threading.Thread(target=run, args=(i, work)) for i, (_, work) in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 600)
    return [(name, result) for (name, _), result in zip(jobs, results)]


def fmt(values) -> str:
    if isinstance(values, Exception):
        return f"FAILED: {type(values).__name__}: {values}"[:200]
    if not values:
        return "no samples"
    p50, p95 = percentiles(values)
    return f"p50 {p50:6.0f} ms · p95 {p95:6.0f} ms · n={len(values)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--skip-heavy", action="store_true", help="leave out part 1 (session B while A computes)")
    parser.add_argument("--only-hostile", action="store_true", help="run part 3 alone (B during a hostile import)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vae-bench-concurrency-"))
    for name in ("alone", "busy", "crowd", "hostile"):
        (tmp / name).mkdir()
    print("3. session B opens Generate while session A's hostile import runs its test …", flush=True)
    alone_h, busy_h = session_b_while_hostile_import(tmp)
    hostile_ok = busy_h <= 2 * alone_h
    print(f"   B alone: {alone_h:6.1f} s   B during the import: {busy_h:6.1f} s   ratio {busy_h / alone_h:.2f} "
          f"(target ≤ 2.0: {'met' if hostile_ok else 'missed'})", flush=True)
    if args.only_hostile:
        return 0 if hostile_ok else 1
    if not args.skip_heavy:
        print("1. session B opens Generate while session A computes the 70,000-image map …", flush=True)
        alone, busy = session_b_while_a(tmp)
        print(f"   B alone on an idle server: {alone:6.1f} s   B while A computes: {busy:6.1f} s   "
              f"ratio {busy / alone:.2f}", flush=True)

    proc, url = start_app(tmp / "crowd")
    try:
        print(f"2. one session alone, {args.seconds / 3:.0f} s each of Generate steps and Map clicks …", flush=True)
        warm = browser_session(lambda page: open_page(page, url, MAP, timeout=600_000))
        del warm
        solo_generate = browser_session(generate_steps, url, time.time() + args.seconds / 3)
        solo_map = browser_session(map_work, url, time.time() + args.seconds / 3)
        print(f"   alone: Generate step {fmt(solo_generate['step'])}   Map click {fmt(solo_map['click'])}", flush=True)
        print(f"   {args.sessions} sessions at once for {args.seconds:.0f} s …", flush=True)
        results = crowd(url, args.sessions, args.seconds)
        healthy = urllib.request.urlopen(f"{url}/_stcore/health", timeout=10).read() == b"ok"
    finally:
        stop(proc)
    print(f"\n{'session':>8}  {'work':24} {'with ' + str(args.sessions) + ' sessions':44}  alone (same run)")
    failed = False
    labels = {"step": "Generate step (server)", "repaint": "Generate repaint (page)", "click": "Map click"}
    for i, (name, result) in enumerate(results):
        reference = solo_generate if name == "Generate" else solo_map
        if isinstance(result, Exception):
            failed = True
            print(f"{i:>8}  {name:24} {fmt(result)}")
            continue
        for metric, values in result.items():
            failed |= metric != "repaint" and not values
            ratio = ""
            if values and reference[metric]:
                ratio = f"  p50 ×{statistics.median(values) / statistics.median(reference[metric]):.1f}"
            print(f"{i:>8}  {labels[metric]:24} {fmt(values):44}  {fmt(reference[metric])}{ratio}")
    print(f"server healthy afterwards: {healthy}")
    return 1 if failed or not healthy or not hostile_ok else 0


if __name__ == "__main__":
    sys.exit(main())
