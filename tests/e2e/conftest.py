"""Browser end-to-end fixtures: the real app in a subprocess, driven by Playwright in Debian's Chromium.

Playwright never downloads a browser here: it launches the system `chromium`. Under CI=true a missing browser
is a failure, not a skip (the browser tests must run in CI).
"""
import contextlib
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


LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# RFC 2606 reserves .test: such a name never resolves, so a request to it is one a test serves itself (page.route)
ROUTED_SUFFIX = ".test"


def foreign_requests(context) -> list[str]:
    """Record every request the pages of `context` make to an address other than the app's own (this machine):
    nothing leaves it, not a font, not a chart (Plotly Cloud), not a script. Returns the list it fills."""
    from urllib.parse import urlsplit

    found: list[str] = []

    def check(request):
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about") or (parts.hostname or "") in LOCAL_HOSTS or (
            parts.hostname or ""
        ).endswith(ROUTED_SUFFIX):
            return
        found.append(request.url)

    context.on("request", check)
    return found


@pytest.fixture(autouse=True)
def _nothing_leaves_this_machine(request):
    """Issue 22: every browser test fails on a request to another host (the tests that make their own contexts
    call foreign_requests themselves)."""
    if "page" not in request.fixturenames:
        yield
        return
    found = foreign_requests(request.getfixturevalue("context"))
    yield
    assert not found, f"the page asked another host for: {found[:5]}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(tmp_dir: Path, extra_env: dict | None = None, script: str = "app.py"):
    """Start `streamlit run <script>` on a free port with an empty models folder; returns (process, url)."""
    port = _free_port()
    env = {**os.environ, "VAE_MODELS_DIR": str(tmp_dir / "models"), "VAE_CACHE_DIR": str(tmp_dir / "cache"),
           "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba"), **(extra_env or {})}
    log = open(tmp_dir / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.headless=true", f"--server.port={port}",
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


PAGE_TITLES = ["Map", "Generate", "Encode", "Interpolate", "Compare", "Train"]  # app.py's st.navigation
FIRST_VISIT: dict = {}  # what a deep link (/generate) showed as the very first request to the fresh server


@pytest.fixture(scope="session")
def app_url(tmp_path_factory, browser):
    """One app server for the whole session. E2E_APP_URL=http://… reuses a server you started yourself.

    Before any test, a deep link is the server's first request (recorded in FIRST_VISIT for test_navigation),
    then "/" warms the caches (model, encoded test split, map) so each test times only its own page.
    """
    if os.environ.get("E2E_APP_URL"):
        yield os.environ["E2E_APP_URL"].rstrip("/")
        return
    tmp = tmp_path_factory.mktemp("app")
    with serving(tmp) as url:
        _first_visit(browser, url)
        yield url


def stop_app(proc) -> None:
    """Stop an app started by start_app: terminate, then kill if it has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextlib.contextmanager
def serving(tmp_dir: Path, extra_env: dict | None = None):
    """start_app as a context: the app's URL, and the app stopped however the block ends."""
    proc, url = start_app(tmp_dir, extra_env)
    try:
        yield url
    finally:
        stop_app(proc)


def _first_visit(browser, url: str) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{url}/generate")
        page.wait_for_selector(".pad input[type=range], [data-testid=stAlert], [data-testid=stException]",
                               timeout=FIRST_LOAD_MS, state="attached")
        wait_idle(page, FIRST_LOAD_MS)
        FIRST_VISIT.update(nav=page.locator("[data-testid=stSidebarNav] a").all_inner_texts(),
                           sliders=page.locator("[data-testid=stMain] .pad input[type=range]").count(),
                           alerts=page.locator("[data-testid=stAlert]").all_inner_texts(),
                           exception=page.locator("[data-testid=stException]").count())
        page.goto(url)
        page.wait_for_selector("[data-testid=stPlotlyChart], [data-testid=stAlert], [data-testid=stException]",
                               timeout=FIRST_LOAD_MS, state="attached")
        wait_idle(page, FIRST_LOAD_MS)
    finally:
        page.close()


FIRST_LOAD_MS = 300_000  # the first page of a session may encode the dataset and fit a UMAP (minutes on 2 cores)


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the Streamlit script has finished its run."""
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout)
    page.wait_for_timeout(150)


def assert_no_exception(page) -> None:
    exceptions = page.locator("[data-testid=stException]")
    assert exceptions.count() == 0, exceptions.first.inner_text()


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


def screenshot(page, name: str) -> Path | None:
    """README's pictures, refreshed only by `make screenshots` (VAE_SCREENSHOTS=1): `make test` keeps the tree
    clean."""
    if os.environ.get("VAE_SCREENSHOTS", "") not in ("1", "true", "yes"):
        return None
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

ISOLATED_POINTS_JS = """([root, trace, minGap, count, avoid]) => {""" + _AXES_JS + """
  // points of `trace` at least minGap px from every other point of it and 2 px from any point of trace `avoid`
  // (the invisible grid: Plotly picks whichever is closest to the cursor), in a fixed order spread over the data
  const d = gd._fullData[trace], [px, py] = toPx(d), n = px.length, found = [];
  const [ax, ay] = avoid === null ? [[], []] : toPx(gd._fullData[avoid]);
  const clear = (k) => {
    for (let j = 0; j < ax.length; j++) if (Math.hypot(ax[j] - px[k], ay[j] - py[k]) < 2) return false;
    return true; };
  for (let i = 0; i < n && found.length < count; i++) {
    const k = (i * 7919) % n;  // 7919 is prime: visits every index once when n is not a multiple of it
    if (!inside(px[k], py[k]) || !clear(k)) continue;
    let best = Infinity;
    for (let j = 0; j < n && best >= minGap; j++) {
      if (j !== k) best = Math.min(best, Math.hypot(px[j] - px[k], py[j] - py[k]));
    }
    if (best >= minGap) found.push({id: Number(d.customdata[k]), x: px[k], y: py[k], gap: best});
  }
  return found;
}"""

EMPTY_CELLS_JS = """([root, gridTrace, dataTrace, count]) => {""" + _AXES_JS + """
  // background grid cells, farthest from any data point (in map units) first
  const g = gd._fullData[gridTrace], d = gd._fullData[dataTrace], [gx, gy] = toPx(g), [dx, dy] = toPx(d), cells = [];
  const stride = Math.max(1, Math.floor(d.x.length / 20000));
  for (let k = 0; k < gx.length; k++) {
    if (!inside(gx[k], gy[k])) continue;
    let best = Infinity, bestPx = Infinity;
    for (let j = 0; j < d.x.length; j += stride) {
      best = Math.min(best, Math.hypot(d.x[j] - g.x[k], d.y[j] - g.y[k]));
      bestPx = Math.min(bestPx, Math.hypot(dx[j] - gx[k], dy[j] - gy[k]));
    }
    cells.push({x: gx[k], y: gy[k], dataX: g.x[k], dataY: g.y[k], distance: best, distancePx: bestPx});
  }
  cells.sort((a, b) => b.distance - a.distance);
  return cells.slice(0, count);
}"""


def chart_root(page, selector: str = "[data-testid=stPlotlyChart]"):
    """The chart's element handle, once Plotly has drawn it (its full data and axes exist)."""
    page.wait_for_function(
        "(sel) => { const el = document.querySelector(sel); const gd = el && el.querySelector('.js-plotly-plot');"
        " return !!(gd && gd._fullData && gd._fullLayout && gd.querySelector('.nsewdrag')); }", arg=selector)
    return page.locator(selector).first.element_handle()


def isolated_points(page, root, count: int = 1, trace: int = 1, min_gap_px: float = 6.0,
                    avoid: int | None = 0) -> list[dict]:
    """Data points of `trace` at least `min_gap_px` from every other one on screen, and clear of the points of
    trace `avoid` (the Map's invisible grid): [{id (customdata), x, y}]."""
    found = page.evaluate(ISOLATED_POINTS_JS, [root, trace, min_gap_px, count, avoid])
    assert found, f"no point of trace {trace} is {min_gap_px}px away from the others"
    return found


def empty_cells(page, root, count: int = 1, grid_trace: int = 0, data_trace: int = 1) -> list[dict]:
    """Background grid cells, farthest from any data point first: [{x, y (page px), dataX, dataY, distance}]."""
    return page.evaluate(EMPTY_CELLS_JS, [root, grid_trace, data_trace, count])


def click_at(page, x: float, y: float) -> None:
    """Hover first (Plotly picks the point under the cursor on hover), then click."""
    page.mouse.move(x, y)
    page.wait_for_timeout(120)
    page.mouse.click(x, y)
