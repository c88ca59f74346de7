"""What every page script does first and around its steps: routing on a fresh server, and errors as messages."""
from __future__ import annotations

import contextlib
import logging

import streamlit as st
from vae_core.errors import VAEError

from .text import md_escape

log = logging.getLogger("vae_explorer")


@contextlib.contextmanager
def friendly_errors(what: str = "This step"):
    """Show a one-line message instead of a traceback; the rest of the page goes on."""
    try:
        yield
    except VAEError as err:
        st.error(md_escape(err), icon="⚠️")  # messages name files and models: escaped, never markup
    except Exception as err:  # the UI must never show a traceback; the log keeps it
        log.exception("%s failed", what)
        st.error(md_escape(f"{what} failed: {type(err).__name__}: {err}"), icon="⚠️")


def ensure_navigation() -> None:
    """Call first in every page. On a fresh server, a direct link to /encode (say) is routed by Streamlit's legacy
    pages/ folder mode until app.py's st.navigation has run once: the page would run alone, without the sidebar.
    Switch legacy mode off and rerun, so app.py runs and routes the same URL."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
