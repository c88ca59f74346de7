"""The heavy libraries, imported once, in one order, before any page runs.

On a fresh server a first /train visit imported pandas (for st.dataframe) while another session's Map click
imported Plotly, which imports pandas too: one thread saw a partially initialised pandas (AttributeError, a generic
error box, 1 run in 3). app.py calls `import_heavy_modules()` before any page (after st.navigation, which needs none of
them: the navigation and a titled placeholder are drawn first), so no page ever imports them lazily.
umap is left out: its import compiles for ~30 s, and PCA users never need it (projection.py imports it on use).
"""
from __future__ import annotations

import importlib
import threading

HEAVY_MODULES = ("torch", "numpy", "pandas", "pyarrow", "plotly.graph_objects", "plotly.io", "sklearn.datasets",
                 "sklearn.mixture", "PIL.Image", "scipy.spatial")  # scipy.spatial: the Placer's kd-tree
_lock = threading.Lock()
_done = False


def done() -> bool:
    return _done


def import_heavy_modules(progress=None) -> None:
    """Import them all (seconds on a fresh server: torch ~1.5 s, the rest ~2.5 s here), once per process.
    `progress(fraction, message)` hears about each one."""
    global _done
    if _done:
        return
    with _lock:  # a second session arriving meanwhile waits here, instead of importing half-initialised modules
        if not _done:
            for i, name in enumerate(HEAVY_MODULES):
                if progress is not None:
                    progress(i / (len(HEAVY_MODULES) + 1), f"importing {name.split('.')[0]}")
                importlib.import_module(name)
            if progress is not None:
                progress(len(HEAVY_MODULES) / (len(HEAVY_MODULES) + 1), "warming up the figures")
            _warm_up()
            _done = True


def _warm_up() -> None:
    """Plotly and pyarrow import most of their parts lazily, on first use: use them once, here, as the pages do
    (our figure builders, then what st.plotly_chart and st.dataframe do with their output)."""
    import numpy as np
    import pandas as pd
    import plotly.io as pio
    import plotly.tools
    import pyarrow as pa

    from . import figures

    coords, labels = np.zeros((4, 2), np.float32), np.arange(4)
    for figure in (figures.loss_curves([{"epoch": 1, "train_elbo": -1.0, "test_elbo": -1.0}]),
                   figures.latent_map(coords, labels, "label", list("abcd")),
                   figures.latent_map(coords, labels.astype(float), "recon", list("abcd")),
                   figures.line_chart(np.zeros(3), "warm-up")):
        pio.to_json(plotly.tools.return_figure_from_figure_or_data(figure, validate_figure=True), validate=False)
    pa.Table.from_pandas(pd.DataFrame({"name": ["a"], "value": [1.0]}))
