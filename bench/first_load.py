"""A fresh clone's first load, in Chromium: seconds from starting the server to the pages' titles in the navigation,
to the first heading in the main area, and to the shipped model's map drawn (issue 22, item 4: ≤ 8 s on this
machine), for this checkout's commit next to a reference commit, alternated in the same run.

    python -m bench.first_load [--before REF] [--after REF] [--runs 3]

Each commit is cloned into a temporary folder (the virtual environment and node_modules linked from here, `make
assets` run), as a newcomer's `git clone` + `make run` would have it. Each run starts `streamlit run app.py` there with
the clone's writable cache emptied (.cache/, but numba's JIT cache: the shipped map needs no UMAP), opens "/" as soon
as the server answers, and records in the page: the navigation's texts each time they change, the first main-area
heading, and when the map component says it is ready (`window.__vae`, its test hook). Also printed: whether the
first load computed anything the shipped caches should have given (a projection, an inverse, an encoding written to
the writable cache). --before defaults to where this branch left main (git merge-base HEAD main).
Medians over the runs, and after/before ratios; absolute seconds too, for the 8 s target (a busy machine is slower:
compare the ratio).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM_ARGS, PAGE_TITLES, _chromium  # noqa: E402

TARGET_S = 8.0
RECORDER = """
window.__paint = {navs: [], heading: null, ready: null};
const navText = () => [...document.querySelectorAll('[data-testid=stSidebarNav] a')].map(a => a.innerText.trim());
new MutationObserver(() => {
  const p = window.__paint, nav = navText();
  if (nav.length && JSON.stringify(nav) !== JSON.stringify(p.navs.at(-1)?.nav))
    p.navs.push({t: performance.timeOrigin + performance.now(), nav});
  const heading = document.querySelector('[data-testid=stMain] h4');
  if (!p.heading && heading) p.heading = {t: performance.timeOrigin + performance.now(), text: heading.innerText};
}).observe(document, {childList: true, subtree: true, characterData: true});
(function watch() {
  const map = window.__vae && window.__vae.maps.at(-1);
  if (map && map.ready) window.__paint.ready = performance.timeOrigin + performance.now();
  else requestAnimationFrame(watch);
})();
"""


def clone(ref: str, where: Path) -> Path:
    folder = where / ref.replace("/", "_")
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
    subprocess.run(["git", "checkout", "-q", ref], cwd=folder, check=True)
    for name in (".venv", "node_modules"):
        (folder / name).symlink_to((ROOT / name).resolve())
    subprocess.run(["make", "assets"], cwd=folder, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def computed_on_load(folder: Path) -> list[str]:
    """Files the first load wrote to the writable cache that the shipped model's own cache should have given."""
    written = folder / ".cache" / "shipped"
    return sorted(p.name for p in written.rglob("*") if p.is_file()) if written.is_dir() else []


def one_run(folder: Path, browser) -> dict:
    for name in os.listdir(folder / ".cache") if (folder / ".cache").is_dir() else []:
        if name != "numba":
            shutil.rmtree(folder / ".cache" / name, ignore_errors=True)
    port, log = free_port(), open(folder / "bench-server.log", "w")
    env = {**os.environ, "VAE_MODELS_DIR": str(folder / "models"), "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    env.pop("VAE_CACHE_DIR", None)
    start = time.time()
    proc = subprocess.Popen([str(folder / ".venv" / "bin" / "python"), "-m", "streamlit", "run", "app.py",
                             "--server.headless=true", f"--server.port={port}", "--server.address=127.0.0.1",
                             "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
                            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.05)
        up = time.time() - start
        context = browser.new_context(viewport={"width": 1400, "height": 950})
        context.add_init_script(RECORDER)
        page = context.new_page()
        page.goto(url)
        page.wait_for_function("() => window.__paint && window.__paint.ready", timeout=300_000, polling=100)
        paint = page.evaluate("() => window.__paint")
        context.close()
    finally:
        proc.terminate()
        proc.wait(20)
    titled = next((n["t"] for n in paint["navs"] if all(any(t in item for item in n["nav"]) for t in PAGE_TITLES)),
                  None)
    raw = [n for n in paint["navs"] if "app" in n["nav"]]
    return {"up": up, "titles": titled / 1000 - start if titled else float("nan"),
            "raw_names_s": (titled - raw[0]["t"]) / 1000 if raw and titled else 0.0,
            "heading": paint["heading"]["t"] / 1000 - start if paint["heading"] else float("nan"),
            "map": paint["ready"] / 1000 - start, "computed": computed_on_load(folder)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=None, help="reference commit (default: git merge-base HEAD main)")
    parser.add_argument("--after", default="HEAD")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    before = args.before or subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True,
                                           text=True, check=True).stdout.strip()
    after = subprocess.run(["git", "rev-parse", args.after], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.strip()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="bench-first-load-"))
    results: dict[str, list[dict]] = {"before": [], "after": []}
    try:
        folders = {"before": clone(before, tmp), "after": clone(after, tmp)}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
            for i in range(args.runs):
                for name in ("before", "after"):  # alternated: a busier minute hits both
                    row = one_run(folders[name], browser)
                    results[name].append(row)
                    print(f"run {i + 1} {name:6}: server up {row['up']:.1f} s, titles {row['titles']:.1f} s, "
                          f"heading {row['heading']:.1f} s, map {row['map']:.1f} s"
                          + (f", computed {', '.join(row['computed'])}" if row["computed"] else ""), flush=True)
            browser.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def median(name, key):
        return statistics.median(r[key] for r in results[name])

    print(f"\nseconds from `streamlit run` (median of {args.runs}); before = {before[:7]}, after = {after[:7]}")
    print(f"{'':34}{'before':>9}{'after':>9}{'after/before':>14}")
    for key, label in (("up", "server answers"), ("titles", "pages' titles in the navigation"),
                       ("raw_names_s", "file names shown for"), ("heading", "first heading in the main area"),
                       ("map", "the shipped model's map drawn")):
        b, a = median("before", key), median("after", key)
        print(f"{label:34}{b:>9.1f}{a:>9.1f}{(a / b if b else float('nan')):>13.2f}x")
    best, typical = min(r["map"] for r in results["after"]), median("after", "map")
    print(f"\ntarget: map drawn ≤ {TARGET_S:.0f} s after `streamlit run` — after: median {typical:.1f} s, best "
          f"{best:.1f} s: {'PASS' if typical <= TARGET_S else 'MISS'} (load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores)")
    print(json.dumps({"computed_on_first_load": {k: sorted({f for r in v for f in r["computed"]})
                                                  for k, v in results.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
