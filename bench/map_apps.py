"""Two tiny Streamlit apps for bench/map.py, both reading the same points from $BENCH_MAP_DIR/<n>.npz (?n=...):

    ours:      our map component (Plotly.js driven in the page, points fetched once as a binary file)
    reference: today's way, st.plotly_chart(figures.latent_map(...), on_select="rerun") with a colour selectbox

Both show the same detail for a click: a title "#<row> · <label>". Run with BENCH_MAP_KIND=ours|reference.
Streamlit serves static/ beside the script: bench/static is a link to the project's static/ (Plotly, the points).
"""
import os
import sys
from pathlib import Path

import numpy as np
import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ui import figures  # noqa: E402
from ui.components import map as map_component  # noqa: E402
from vae_core.map import points as map_points  # noqa: E402

st.set_page_config(layout="wide")
KIND = os.environ.get("BENCH_MAP_KIND", "ours")
N = st.query_params.get("n", "10000")
NAMES = [f"class {i}" for i in range(10)]


@st.cache_resource
def load(n: str):
    data = dict(np.load(Path(os.environ["BENCH_MAP_DIR"]) / f"{n}.npz"))
    points = map_points.build(data["coords"], data["labels"], data["recon"], data["kl"], data["elbo"])
    return data, points, map_component.publish_points(points)


@st.cache_resource
def reference_figure(n: str, color: str) -> dict:
    data, _, _ = load(n)
    hover = [f"#{i} · {NAMES[label]} · −ELBO {-elbo:.1f}" for i, (label, elbo) in
             enumerate(zip(data["labels"], data["elbo"]))]
    values = {"label": data["labels"], "recon": data["recon"], "kl": data["kl"]}[color]
    return figures.latent_map(data["coords"], values, color, NAMES, hover=hover)


data, points, url = load(N)
left, right = st.columns([3, 2])
row = None
if KIND == "ours":
    with left:
        map_component.latent_map("map", url, (-11, 11, -11, 11), NAMES, figures.PALETTE,
                                 {"label": "Label", "recon": "Reconstruction error", "kl": "KL"}, "label", 1.0)
    event = (st.session_state.get("map") or {}).get("event") or {}
    row = event.get("row") if event.get("kind") == "point" else None
else:
    color = st.selectbox("Colour by", ["label", "recon", "kl"], key="color")
    with left:
        chosen = st.plotly_chart(reference_figure(N, color), key="map", on_select="rerun",
                                 selection_mode=("points", "box", "lasso"))
    selected = [p.get("customdata") for p in (chosen or {}).get("selection", {}).get("points", [])]
    selected = [int(c) for c in selected if c is not None and int(c) >= 0]
    row = selected[0] if len(selected) == 1 else None
with right:
    if row is not None:
        st.markdown(f"#{row} · {NAMES[int(data['labels'][row])]}")
    st.caption(f"rss {Path('/proc/self/status').read_text().split('VmRSS:')[1].split()[0]} kB")
