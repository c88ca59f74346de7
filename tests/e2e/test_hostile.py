"""The real server under hostile input, in Chromium: the malformed-folder corpus in $VAE_MODELS_DIR (every page
opens, Train names each broken folder, hostile names never become links, images, headings or HTML), WebSockets
for a foreign Host refused (DNS rebinding), and SIGTERM/SIGINT during training: exit 0, the last epoch kept."""
import json
import shutil
import signal
import socket
import subprocess
import time

import pytest

from tests import hostile_corpus
from vae_core.models.torch_vae import checkpoint

from .conftest import PAGE_TITLES, assert_no_exception, start_app, wait_idle

pytestmark = pytest.mark.e2e
URLS = {"Map": "", "Generate": "generate", "Encode": "encode", "Interpolate": "interpolate", "Compare": "compare",
        "Train": "train"}


def stop(proc, sig=signal.SIGTERM, timeout: float = 150.0) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.fixture(scope="module")
def corpus_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile-app")
    models_dir = tmp / "models"
    expected = hostile_corpus.build(models_dir)
    shutil.copytree(hostile_corpus.SOURCE, models_dir / "digits-good")  # one healthy model, with its cached map
    proc, url = start_app(tmp, {"VAE_MODELS_DIR": str(models_dir)})
    try:
        yield url, expected, models_dir, tmp
    finally:
        if proc.poll() is None:
            stop(proc)


def test_every_page_opens_and_train_names_each_broken_folder(page, corpus_app):
    url, expected, _, _ = corpus_app
    for title in PAGE_TITLES:
        page.goto(f"{url}/{URLS[title]}?dataset=digits")
        page.wait_for_selector("[data-testid=stSidebar]", timeout=300_000)
        wait_idle(page, 300_000)
        assert_no_exception(page)
        body = page.locator("[data-testid=stApp]")
        assert body.locator("a[href^='javascript']").count() == 0
        assert page.locator("img[src*='evil.example'], img[src='x']").count() == 0
        assert page.locator("h1:has-text('heading'), h2:has-text('heading')").count() == 0
    train = page.locator("[data-testid=stMain]").inner_text()
    for name, broken in expected.items():
        if broken:
            assert f"broken: {name} cannot be loaded" in train, name
    # the hostile names show as the very characters, not as markup
    page.locator(".st-key-train_target [role=combobox]").click()
    page.keyboard.type("[click]")  # the list is virtualised: filter it, so the option is drawn
    page.locator("[role=option]", has_text="[click](javascript:alert(1))").click()
    wait_idle(page)
    page.locator(".st-key-delete_listed button").click()
    wait_idle(page)
    warning = page.locator("[data-testid=stAlertContentWarning]", has_text="cannot be undone").inner_text()
    assert "Delete [click](javascript:alert(1)) and everything" in warning
    assert page.locator("[data-testid=stMain] a[href^='javascript']").count() == 0
    page.locator(".st-key-delete_keep button").click()
    wait_idle(page)


def test_view_link_with_markup_shows_as_text(page, corpus_app):
    url, _, _, _ = corpus_app
    page.goto(f"{url}/?view=" + "%5BSession%20expired%5D(https%3A%2F%2Fevil.example%2Fphish)")
    page.wait_for_selector("[data-testid=stAlertContentError]", timeout=120_000)
    wait_idle(page)
    error = page.locator("[data-testid=stAlertContentError]").first
    assert "[Session expired](https://evil.example/phish)" in error.inner_text().replace("\u2060", "")
    assert error.locator("a").count() == 0


def websocket_status(port: int, host: str, origin: str) -> str:
    """The status line the server answers to a WebSocket upgrade of /_stcore/stream with these headers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall((f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: streamlit\r\n\r\n").encode())
        return sock.recv(4096).decode(errors="replace").splitlines()[0]


def test_websocket_for_a_foreign_host_is_refused(corpus_app):
    url, _, _, _ = corpus_app
    port = int(url.rsplit(":", 1)[1])
    assert " 101 " in websocket_status(port, f"127.0.0.1:{port}", f"http://127.0.0.1:{port}")
    assert " 101 " in websocket_status(port, f"localhost:{port}", f"http://localhost:{port}")
    refused = websocket_status(port, "evil.example", "http://evil.example")
    assert " 101 " not in refused, refused


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_the_server_mid_training_keeps_the_last_epoch(page, tmp_path, sig):
    proc, url = start_app(tmp_path)
    try:
        page.goto(f"{url}/train")
        page.wait_for_selector(".st-key-train_start", timeout=300_000)
        wait_idle(page, 300_000)
        page.locator(".st-key-train_dataset [role=combobox]").click()
        page.locator("[role=option]", has_text="digits").first.click()
        wait_idle(page)
        for key, value in (("train_epochs", "500"), ("train_name", "stopped")):
            page.locator(f".st-key-{key} input").fill(value)
            page.locator(f".st-key-{key} input").press("Enter")
            wait_idle(page)
        page.locator(".st-key-train_start button").click()
        folder = tmp_path / "models" / "stopped-1"
        deadline = time.time() + 180
        while not (folder / "train.json").exists() or not json.loads((folder / "train.json").read_text() or "{}"):
            assert time.time() < deadline, "no epoch was saved"
            time.sleep(0.5)
        time.sleep(1.0)  # well into a later epoch
        code = stop(proc, sig)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "streamlit.log").read_text()
    assert code == 0, log[-2000:]
    assert "terminate called" not in log and "Traceback" not in log, log[-2000:]
    loaded = checkpoint.load_checkpoint(folder)
    epochs = len(loaded.train_info["history"])
    assert 1 <= epochs < 500
    state = checkpoint.load_training_state(folder)  # None (with a warning) would mean a save cut in half
    assert state is not None and state["epoch"] == epochs
