"""Entry point: `streamlit run app.py`. Navigation over the pages in pages/, and the shared sidebar."""
import streamlit as st

from vae_core.paths import setup_numba_cache

setup_numba_cache()  # before anything imports umap/numba

from ui import sidebar  # noqa: E402

st.set_page_config(page_title="VAE latent explorer", page_icon="🧭", layout="wide")

PAGES = [
    st.Page("pages/map.py", title="Map", icon="🗺️", default=True),
    st.Page("pages/generate.py", title="Generate", icon="🎛️", url_path="generate"),
    st.Page("pages/encode.py", title="Encode", icon="📤", url_path="encode"),
    st.Page("pages/interpolate.py", title="Interpolate", icon="🔀", url_path="interpolate"),
    st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
]

page = st.navigation(PAGES)
sidebar.render()
page.run()
