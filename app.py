"""Entry point: `streamlit run app.py`. Navigation over the pages in pages/, and the shared sidebar."""
import streamlit as st

from vae_core.paths import setup_numba_cache  # vae_core first: it sets OpenMP's wait policy before torch loads

setup_numba_cache()  # before anything imports umap/numba

st.set_page_config(page_title="VAE latent explorer", page_icon="🧭", layout="wide")

PAGES = [
    st.Page("pages/map.py", title="Map", icon="🗺️", default=True),
    st.Page("pages/generate.py", title="Generate", icon="🎛️", url_path="generate"),
    st.Page("pages/encode.py", title="Encode", icon="📤", url_path="encode"),
    st.Page("pages/interpolate.py", title="Interpolate", icon="🔀", url_path="interpolate"),
    st.Page("pages/compare.py", title="Compare", icon="⚖️", url_path="compare"),
    st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
]

# Before the heavy imports (seconds on a fresh server): until st.navigation runs, Streamlit lists the pages/ folder's
# file names ("app, encode, generate…"), and the main area stays blank. So: the pages' own titles, then a titled
# placeholder with the imports' progress (ui/startup.py), and only then the libraries.
page = st.navigation(PAGES)

from ui import startup  # noqa: E402 - light: Streamlit and the standard library

with startup.libraries(page):  # before any page: see ui/preload.py (the Map's first run holds its lock till its end)
    import torch

    from ui import housekeeping, sidebar
    from ui.session import url

    housekeeping.once_per_process()  # what killed imports and stopped servers left behind

    # Interactive work decodes a few latents at a time: one thread is fastest on a busy CPU (2 threads measured 10x
    # slower under load here). torch's setting is per thread, so a training thread keeps its own.
    torch.set_num_threads(1)

    sidebar.render(page.url_path or "map")
    try:
        page.run()
    finally:  # also after st.stop(): the address bar always shows the view (reload or share it)
        url.publish()
