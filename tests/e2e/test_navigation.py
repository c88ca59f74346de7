"""Navigation in a real browser: a deep link as the first request to a fresh server opens the real page."""
import pytest

from .conftest import FIRST_VISIT, PAGE_TITLES

pytestmark = pytest.mark.e2e


def test_deep_link_to_a_fresh_server(app_url):
    # Streamlit runs a `pages/` folder next to app.py as a legacy multipage app until st.navigation has run
    # once in the process: a bookmark to /generate after a restart must still get the app's navigation.
    if not FIRST_VISIT:
        pytest.skip("E2E_APP_URL reuses a server that is not fresh")
    nav = [text.strip() for text in FIRST_VISIT["nav"]]
    assert not FIRST_VISIT["exception"]
    assert all(any(title in item for item in nav) for title in PAGE_TITLES), (
        f"the first request /generate got the legacy pages/ navigation {nav} and the alerts "
        f"{FIRST_VISIT['alerts']} instead of the app's pages")
    assert FIRST_VISIT["sliders"] > 0, f"/generate showed no sliders; alerts: {FIRST_VISIT['alerts']}"
