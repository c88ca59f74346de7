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
