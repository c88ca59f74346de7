"""What a page shows while a fresh server imports its heavy libraries (seconds, once per process): the page's own
title and the imports' progress, where the page will be; meanwhile the browser is warmed for the Map."""
from __future__ import annotations

import streamlit as st

from . import preload


def load_libraries(page) -> None:
    """ui/preload.import_heavy_modules, behind a titled placeholder that goes when they are loaded. The placeholder
    is created on every run (an empty one once they are), so the page's own elements keep their places."""
    slot = st.empty()
    if preload.done():
        return
    with slot.container():
        st.markdown(f"#### {page.title}")
        bar = st.progress(0.0, text="Starting the app: importing its libraries (once per server start, seconds)")
        if page.url_path in ("", "map"):
            from .components.warm import warm_up_map

            warm_up_map()
    preload.import_heavy_modules(lambda fraction, message: bar.progress(fraction, text=f"Starting the app: {message}"))
    slot.empty()
