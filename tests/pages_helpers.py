"""Helpers for the page tests: run a page under AppTest, and read the page scripts as text (tests only)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def uploader_caps() -> dict[str, int]:
    """{file: max_upload_size in MB} for every st.file_uploader in pages/ and ui/ whose cap is a number or a
    module constant; an uploader without one gets the server's cap (counted as 0 here)."""
    caps = {}
    for path in [*ROOT.glob("pages/*.py"), *ROOT.glob("ui/**/*.py")]:
        text = path.read_text()
        for match in re.finditer(r"file_uploader\((?:[^()]|\([^()]*\))*\)", text):
            found = re.search(r"max_upload_size=([A-Z_]+|\d+)", match.group(0))
            value = 0
            if found and found.group(1).isdigit():
                value = int(found.group(1))
            elif found:
                constant = re.search(rf"^{found.group(1)} = (\d+)", text, re.M)
                value = int(constant.group(1)) if constant else 0
            caps[f"{path.relative_to(ROOT)}:{match.start()}"] = value
    return caps


def run_page(at, page: str | None = None, errors_allowed: bool = False, **session):
    """Set `session` values, switch to `page` (when given) and run the app: no exception, and no error box unless
    `errors_allowed`."""
    for key, value in session.items():
        at.session_state[key] = value
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if not errors_allowed:
        assert not at.error, [e.value for e in at.error]
    return at


def open_by_link(page: str, params: dict, **session):
    """A new session (a new browser) opening `page` by a link: `params` in the address bar before its first run
    (which reads them), `session` values set first. No exception."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page(page)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
