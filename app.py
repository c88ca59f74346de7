"""Entry point: `streamlit run app.py`. Navigation over the pages in pages/, and the shared sidebar."""
import streamlit as st

from vae_core.paths import setup_numba_cache  # vae_core first: it sets OpenMP's wait policy before torch loads

setup_numba_cache()  # before anything imports umap/numba

import torch  # noqa: E402

from ui.preload import import_heavy_modules  # noqa: E402

import_heavy_modules()  # before any page: see ui/preload.py

from ui import housekeeping, sidebar  # noqa: E402
from ui.session import url  # noqa: E402

housekeeping.once_per_process()  # what killed imports and stopped servers left behind

st.set_page_config(page_title="VAE latent explorer", page_icon="🧭", layout="wide")

PAGES = [
    st.Page("pages/map.py", title="Map", icon="🗺️", default=True),
    st.Page("pages/generate.py", title="Generate", icon="🎛️", url_path="generate"),
    st.Page("pages/encode.py", title="Encode", icon="📤", url_path="encode"),
    st.Page("pages/interpolate.py", title="Interpolate", icon="🔀", url_path="interpolate"),
    st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
]

# Interactive work decodes a few latents at a time: one thread is fastest on a busy CPU (2 threads measured 10x
# slower under load here). torch's setting is per thread, so a training thread keeps its own.
torch.set_num_threads(1)

page = st.navigation(PAGES)
sidebar.render(page.url_path or "map")
try:
    page.run()
finally:  # also after st.stop(): the address bar always shows the view (reload or share it)
    url.publish()
