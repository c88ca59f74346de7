"""app.py imports the heavy libraries once, before any page: afterwards, building a Plotly figure and a dataframe
(what Map and Train do on first use) imports none of their packages lazily (the first-use import race of pandas)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import sys
from ui.preload import import_heavy_modules
import_heavy_modules()
heavy = ("pandas", "pyarrow", "plotly", "sklearn")
before = {m for m in sys.modules if m.split(".")[0] in heavy}
import numpy as np
from streamlit.dataframe_util import convert_anything_to_arrow_bytes
from ui import figures
import plotly.io as pio
import plotly.tools
for figure in (figures.loss_curves([{"epoch": 1, "train_elbo": -100.0, "test_elbo": -101.0}], height=200),
               figures.latent_map(np.zeros((5, 2), np.float32), np.arange(5), "label", list("abcde"))):
    pio.to_json(plotly.tools.return_figure_from_figure_or_data(figure, validate_figure=True), validate=False)
convert_anything_to_arrow_bytes([{"name": "a", "elbo": 1.0}])
from sklearn.datasets import load_digits
from sklearn.mixture import GaussianMixture
# packages and their direct modules; plotly also loads one small class module per trace type as used
late = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in heavy and m.count(".") <= 1)
print("LATE", late)
"""


def test_no_heavy_package_is_first_imported_by_a_page():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "LATE []" in out.stdout, out.stdout


HELD = """
import sys, threading, time
from ui import preload
inside, seen = threading.Event(), []
def other_session():
    inside.wait()
    preload.import_heavy_modules()
    seen.append(("other session", "pandas" in sys.modules, preload.done()))
thread = threading.Thread(target=other_session)
thread.start()
with preload.loaded(page_first=True):  # the Map's first run on a fresh server
    inside.set()
    time.sleep(1.0)
    seen.append(("first page", "pandas" in sys.modules, preload.done()))
    preload.import_heavy_modules()  # the holder itself: returns at once (a Lock is not re-entrant)
thread.join(120)
print("SEEN", seen)
"""


def test_the_maps_first_run_holds_the_import_lock_and_the_rest_comes_after_it():
    out = subprocess.run([sys.executable, "-c", HELD], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    # the page ran with FIRST only; another session waited for it and then found everything imported
    assert "SEEN [('first page', False, False), ('other session', True, True)]" in out.stdout, out.stdout


NO_DEADLOCK = """
from ui import loaders, preload
with preload.loaded(page_first=True):
    _, job = loaders.memo_or_start(("k",), lambda cb: "from the job", "a job")
    print("MEMO", loaders.memo(("k",), lambda cb: "from the page", "the page's need"))  # the job waits for us
job.ended.wait(60)
print("JOB", job.status)
"""


def test_a_page_holding_the_import_lock_never_waits_for_a_job_that_waits_for_it():
    out = subprocess.run([sys.executable, "-c", NO_DEADLOCK], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "MEMO from the page" in out.stdout and "JOB done" in out.stdout, out.stdout
