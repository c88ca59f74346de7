"""What a page shows while a fresh server imports its heavy libraries (seconds, once per process): the page's own
title and the imports' progress, where the page will be; meanwhile the browser is warmed for the Map."""
from __future__ import annotations

import contextlib

import streamlit as st

from . import preload


@contextlib.contextmanager
def libraries(page):
    """ui/preload's libraries loaded for the block, behind a titled placeholder that goes when they are (the Map's
    first run gets only what it needs, the rest after it: preload.loaded). The placeholder is created on every run
    (an empty one once they are loaded), so the page's own elements keep their places."""
    slot = st.empty()
    if preload.done():
        yield
        return
    the_map = page.url_path in ("", "map")
    with slot.container():
        st.markdown(f"#### {page.title}")
        bar = st.progress(0.0, text="Starting the app: importing its libraries (once per server start, seconds)")
        if the_map:
            from .components.warm import warm_up_map

            warm_up_map()
    with preload.loaded(lambda fraction, message: bar.progress(fraction, text=f"Starting the app: {message}"),
                        page_first=the_map):
        slot.empty()
        yield
