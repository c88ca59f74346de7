"""Seconds from choosing a new model (nothing cached for it) to a usable map, at 10k and 70k points: today's blocking
UMAP next to the PCA stand-in shown at once (issue 22, section 2), both measured in this run, through the app's own
loaders (ui/loaders.py, ui/map_data.py: the same calls the Map page makes, without a browser).

    python -m bench.first_map [--sizes 10000 70000] [--model FOLDER]

The new model is a copy of the shipped Fashion-MNIST model without its cache folder (its own weights: a brought
model's case), in a temporary models folder with an empty writable cache. 10k = the test split, 70k = all images.
For each size, with every cache emptied before each path:
  - today (blocking): encode the split, fit the UMAP, build the page's points, fit the map's inverse: the Map showed
    nothing until all of it was done;
  - after (instant): encode, PCA, the page's points: the map is drawn and usable; the UMAP runs in a background job
    (its seconds until it is swapped in are printed too, and the inverse is fitted after it, in the background).
`import umap` (once per server, numba's JIT cache warm) is done first, apart, so neither path pays it.
Also printed: the ratio today / after. Minutes on 2 cores, mostly the two 70k UMAP fits.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _quiet() -> None:
    """Streamlit's loaders run here in bare mode: silence its 'no script run context' warnings (every logger of its
    modules, once they are imported)."""
    from ui import loaders, map_data  # noqa: F401 - imported for their loggers
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.ERROR)


def run(model: Path, split: str) -> dict:
    from ui import jobs, loaders, map_data
    from vae_core.map.projection import ProjectionSpec

    def fresh_current() -> loaders.Current:
        loaders.forget_model(model)  # no result in memory...
        shutil.rmtree(model / "cache", ignore_errors=True)  # ...nor on disk: a model chosen for the first time
        loaded = loaders.get_model(model)
        return loaders.Current(loaded, loaders.get_dataset(loaded.config.dataset), split, ProjectionSpec())

    out = {}
    cur = fresh_current()
    start = time.perf_counter()
    shown = cur.with_map_now()  # what selection.current gives the page: PCA, and the UMAP's job started
    map_data.points_url(shown)
    out["after"] = time.perf_counter() - start
    out["n"], out["shown"] = len(shown.encoded().mu), shown.spec.method
    job = shown.pending
    assert job is not None and shown.spec.method == "pca", "the new model's map was not stood in for"
    job.ended.wait()
    out["umap_job"] = time.perf_counter() - start  # the UMAP swapped in (the next page run finds it)
    assert job.status == jobs.DONE, job.error

    cur = fresh_current()
    start = time.perf_counter()
    cur.coords()  # the UMAP, fitted in the page's run
    map_data.points_url(cur)
    map_data.inverse(cur)  # fitted before the map was drawn
    out["today"] = time.perf_counter() - start
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 70_000], choices=[10_000, 70_000])
    parser.add_argument("--model", type=Path, default=ROOT / "pretrained" / "fashion-mnist-z16")
    args = parser.parse_args()
    _quiet()
    from vae_core import data
    if not data.list_sources()[0].available:
        print("Fashion-MNIST is not installed (make data): nothing to measure")
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-first-map-"))
    os.environ["VAE_MODELS_DIR"], os.environ["VAE_CACHE_DIR"] = str(tmp / "models"), str(tmp / "cache")
    model = tmp / "models" / "fashion-new"
    shutil.copytree(args.model, model, ignore=shutil.ignore_patterns("cache"))
    import torch

    import numpy as np

    from ui.components import served
    from vae_core.map.projection import ProjectionSpec, project_umap
    torch.set_num_threads(1)  # as app.py
    start = time.perf_counter()
    project_umap(np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32), ProjectionSpec())
    print(f"import umap + a 200-point warm-up fit (once per server, not timed below): "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    rows = []
    try:
        for size in args.sizes:
            split = "test" if size == 10_000 else "all"
            print(f"{size:,} points ({split} split): after, then today …", flush=True)
            rows.append(run(model, split))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(served.run_folder(), ignore_errors=True)
    print()
    print(f"{'points':>7}  {'today: UMAP blocks (s)':>22}  {'after: PCA map usable (s)':>25}  {'today/after':>11}  "
          f"{'UMAP swapped in at (s)':>22}")
    for row in rows:
        print(f"{row['n']:>7,}  {row['today']:>22.1f}  {row['after']:>25.1f}  {row['today'] / row['after']:>10.1f}x  "
              f"{row['umap_job']:>22.1f}")
    print("\nBoth include encoding the split with the model (the same work); 'after' is what the Map waits for before "
          "it is drawn and usable; the UMAP then replaces the PCA map, keeping the pick and the selection.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
