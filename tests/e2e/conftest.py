"""Browser end-to-end fixtures: the real app in a subprocess, driven by Playwright in Debian's Chromium.

Playwright never downloads a browser here: it launches the system `chromium`. Under CI=true a missing browser
is a failure, not a skip (the browser tests must run in CI).
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe:
        return exe
    message = "Debian's chromium is not installed (make test installs it with apt-get when run as root)"
    if IN_CI:
        pytest.fail(f"{message}; browser tests must run in CI", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": _chromium(), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 950}}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(tmp_dir: Path, extra_env: dict | None = None):
    """Start `streamlit run app.py` on a free port with an empty models folder; returns (process, url)."""
    port = _free_port()
    env = {**os.environ, "VAE_MODELS_DIR": str(tmp_dir / "models"), "VAE_CACHE_DIR": str(tmp_dir / "cache"),
           "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba"), **(extra_env or {})}
    log = open(tmp_dir / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true", f"--server.port={port}",
         "--server.address=127.0.0.1", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited early: {(tmp_dir / 'streamlit.log').read_text()[-2000:]}")
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the app did not answer /_stcore/health within 120 s")


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """One app server for the whole session. E2E_APP_URL=http://… reuses a server you started yourself."""
    if os.environ.get("E2E_APP_URL"):
        yield os.environ["E2E_APP_URL"].rstrip("/")
        return
    tmp = tmp_path_factory.mktemp("app")
    proc, url = start_app(tmp)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


FIRST_LOAD_MS = 300_000  # the first page of a session may encode the dataset and fit a UMAP (minutes on 2 cores)


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the Streamlit script has finished its run."""
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout)
    page.wait_for_timeout(150)


def assert_no_exception(page) -> None:
    assert page.locator("[data-testid=stException]").count() == 0, page.locator("[data-testid=stException]").first.inner_text()


def error_texts(page) -> list[str]:
    """Texts of the st.error boxes on the page (friendly errors: the page caught a failure)."""
    return page.locator("[data-testid=stAlertContentError]").all_inner_texts()


def open_page(page, url: str, ready: str, timeout: float = FIRST_LOAD_MS) -> None:
    """Go to `url`, wait for the `ready` selector and the end of the run; fail at once on a traceback or an error."""
    page.goto(url)
    page.wait_for_selector(f"{ready}, [data-testid=stException], [data-testid=stAlertContentError]", timeout=timeout,
                           state="attached")  # attached: a file input is never visible
    wait_idle(page, timeout)
    assert_no_exception(page)
    assert not error_texts(page), f"the page shows an error: {error_texts(page)}"
    page.wait_for_selector(ready, timeout=10_000, state="attached")


def image_src(locator) -> str:
    """The `src` of the <img> inside an stImage element (a /media/<hash>.png URL: it changes with the bytes)."""
    return locator.locator("img").first.get_attribute("src")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


# --- clicking a Plotly scattergl chart: points have no DOM node, so map data coordinates to page pixels ---------
_AXES_JS = """
  const gd = root.querySelector('.js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
  const toPx = (t) => { const n = t.x.length, px = new Float64Array(n), py = new Float64Array(n);
    for (let i = 0; i < n; i++) { px[i] = r.left + xa.l2p(t.x[i]); py[i] = r.top + ya.l2p(t.y[i]); } return [px, py]; };
  // keep clear of the edges and of the mode bar (top right)
  const inside = (x, y) => x > r.left + 20 && x < r.right - 20 && y > r.top + 50 && y < r.bottom - 20;
"""

ISOLATED_POINT_JS = """([root, trace, minGap]) => {""" + _AXES_JS + """
  const d = gd._fullData[trace], [px, py] = toPx(d), n = px.length;
  const step = Math.max(1, Math.floor(n / 997));
  for (let k = 0; k < n; k += step) {
    if (!inside(px[k], py[k])) continue;
    let best = Infinity;
    for (let j = 0; j < n && best >= minGap; j++) {
      if (j !== k) best = Math.min(best, Math.hypot(px[j] - px[k], py[j] - py[k]));
    }
    if (best >= minGap) return {id: Number(d.customdata[k]), x: px[k], y: py[k], gap: best};
  }
  return null;
}"""

EMPTY_CELL_JS = """([root, gridTrace, dataTrace]) => {""" + _AXES_JS + """
  const g = gd._fullData[gridTrace], d = gd._fullData[dataTrace], [gx, gy] = toPx(g);
  let found = null;
  for (let k = 0; k < gx.length; k++) {
    if (!inside(gx[k], gy[k])) continue;
    let best = Infinity;
    for (let j = 0; j < d.x.length; j++) best = Math.min(best, Math.hypot(d.x[j] - g.x[k], d.y[j] - g.y[k]));
    if (!found || best > found.distance) found = {x: gx[k], y: gy[k], dataX: g.x[k], dataY: g.y[k], distance: best};
  }
  return found;
}"""


def chart_root(page, selector: str = "[data-testid=stPlotlyChart]"):
    """The chart's element handle, once Plotly has drawn it (its full data and axes exist)."""
    page.wait_for_function(
        "(sel) => { const el = document.querySelector(sel); const gd = el && el.querySelector('.js-plotly-plot');"
        " return !!(gd && gd._fullData && gd._fullLayout && gd.querySelector('.nsewdrag')); }", arg=selector)
    return page.locator(selector).first.element_handle()


def isolated_point(page, root, trace: int = 1, min_gap_px: float = 6.0) -> dict:
    """A data point of `trace` at least `min_gap_px` from every other one on screen: {id (customdata), x, y}."""
    found = page.evaluate(ISOLATED_POINT_JS, [root, trace, min_gap_px])
    assert found is not None, f"no point of trace {trace} is {min_gap_px}px away from the others"
    return found


def empty_cell(page, root, grid_trace: int = 0, data_trace: int = 1) -> dict:
    """The background grid cell farthest from any data point (map units): {x, y (page px), dataX, dataY, distance}."""
    return page.evaluate(EMPTY_CELL_JS, [root, grid_trace, data_trace])


def click_at(page, x: float, y: float) -> None:
    """Hover first (Plotly picks the point under the cursor on hover), then click."""
    page.mouse.move(x, y)
    page.wait_for_timeout(120)
    page.mouse.click(x, y)
