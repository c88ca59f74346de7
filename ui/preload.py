"""The heavy libraries, imported once, in one order, before any page runs.

On a fresh server a first /train visit imported pandas (for st.dataframe) while another session's Map click
imported Plotly, which imports pandas too: one thread saw a partially initialised pandas (AttributeError, a generic
error box, 1 run in 3). app.py imports them through `loaded()` (ui/startup.py: after st.navigation, which needs none
of them, the navigation and a titled placeholder are drawn first), so no page ever imports them lazily.

One exception, for a fresh server's first map: the Map's first run needs only FIRST, so a first session opening the
Map imports FIRST, runs its page, then imports REST while the browser draws the map (~1.3 s sooner here). It holds
the lock all along (`loaded(page_first=True)`), so no other thread imports anything meanwhile: other sessions wait
in app.py, background jobs before they start (ui/jobs.py); a memo call that would wait for a job computes itself
instead (`holding()`), so nothing waits for a thread that waits for this one.
umap is left out: its import compiles for ~30 s, and PCA users never need it (projection.py imports it on use).
"""
from __future__ import annotations

import contextlib
import importlib
import threading

FIRST = ("torch", "numpy", "plotly.graph_objects", "PIL.Image", "scipy.spatial")  # scipy.spatial: the Placer's kd-tree
REST = ("pandas", "pyarrow", "plotly.io", "sklearn.datasets", "sklearn.mixture")  # and _warm_up: tables, figures
_lock = threading.Lock()
_done = False
_owner: int | None = None  # the thread running the Map's first page while holding the lock


def done() -> bool:
    return _done


def holding() -> bool:
    """Whether this thread holds the import lock through its page (then it must not wait for another thread)."""
    return _owner == threading.get_ident()


def import_heavy_modules(progress=None) -> None:
    """Import them all, once per process (seconds on a fresh server: torch ~1.5 s, the rest ~2 s here).
    `progress(fraction, message)` hears about each one."""
    with loaded(progress):
        pass


@contextlib.contextmanager
def loaded(progress=None, page_first: bool = False):
    """The libraries are imported when the block starts. `page_first`: only FIRST is, the lock is held through the
    block (the Map's first run), and REST comes after it (see above)."""
    global _done, _owner
    if _done or holding():  # holding: this thread is inside its own first page (a Lock is not re-entrant)
        yield
        return
    with _lock:  # a second session arriving meanwhile waits here, instead of importing half-initialised modules
        if _done:
            yield
            return
        _import(FIRST if page_first else FIRST + REST, progress)
        if page_first:
            _owner = threading.get_ident()
            try:
                yield
            finally:
                _owner = None
                _import(REST, None)
                _warm_up()
                _done = True
            return
        _warm_up()
        _done = True
    yield


def _import(names: tuple, progress) -> None:
    for i, name in enumerate(names):
        if progress is not None:
            progress(i / len(names), f"importing {name.split('.')[0]}")
        importlib.import_module(name)


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
