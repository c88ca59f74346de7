"""Training shared by sessions (two AppTests = two browser sessions on one server): a limit on concurrent runs with a
clear "busy", deleting a model being trained is refused, cancelling another session's run asks first and says whose,
and a cancelled run resumes from the Train page (its stale cache folders pruned)."""
import json
import shutil
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.test_page_train import run_until, size_widget, texts
from ui import training
from vae_core import models
from vae_core.training import TrainConfig
from vae_core.models.torch_vae import checkpoint

PAGE = "pages/train.py"


@pytest.fixture(autouse=True)
def _navigation(navigation_like_the_server):
    """Every test here runs app.py like the server does (see conftest)."""


def session() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.session_state["dataset_name"] = "digits"
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def start_long_run(at, name: str = "long") -> None:
    at.selectbox(key="train_dataset").set_value("digits")
    at.number_input(key="train_epochs").set_value(500)
    at.select_slider(key="train_batch").set_value(512)
    at.text_input(key="train_name").set_value(name)
    size_widget(at).set_value("small")
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error, texts(at, "error")


def test_the_limit_makes_a_second_session_wait_with_a_message(models_dir):
    training.shared_registry().limit = 1
    a, b = session(), session()
    start_long_run(a)
    b.run()
    assert b.button(key="train_start").disabled
    assert any("busy" in w and "VAE\\_MAX\\_TRAININGS" in w for w in texts(b, "warning")), texts(b, "warning")
    # Even a forced start (a button drawn before the other run began) is refused by the registry, with the message.
    b.session_state["train_dataset"] = "digits"
    with pytest.raises(training.TrainingBusy, match="busy"):
        training.shared_registry().start(None, TrainConfig(), type("D", (), {
            "name": "digits", "train_images": []})(), models_dir / "x")
    assert len(training.shared_registry().running()) == 1


def test_deleting_a_model_being_trained_is_refused(models_dir):
    training.shared_registry().limit = 2
    a, b = session(), session()
    start_long_run(a, "busy-model")
    folder = models_dir / "busy-model-1"
    deadline = time.monotonic() + 180
    while not (folder / "model.safetensors").exists():  # listed once its first epoch is saved
        assert time.monotonic() < deadline, "no epoch was saved"
        time.sleep(0.5)
    b.run()
    b.selectbox(key="train_target").set_value(str(folder)).run()
    assert b.button(key="delete_listed").disabled
    b.session_state["train_confirm"] = str(folder)  # a confirmation drawn before the run started
    b.run()
    b.button(key="delete_confirm").click().run()
    assert (folder / "model.safetensors").exists()
    assert any("being trained right now" in e for e in texts(b, "error")), texts(b, "error")


def test_cancelling_another_sessions_run_asks_and_says_whose(models_dir):
    training.shared_registry().limit = 2
    a, b = session(), session()
    start_long_run(a, "theirs")
    b.run()
    also = [c for c in texts(b, "caption") if "Also training" in c]
    assert also and "another browser session" in also[0], texts(b, "caption")
    next(w for w in b.button if w.key and w.key.startswith("watch_")).click().run()
    cancel = next(w for w in b.button if w.key and w.key.startswith("cancel_"))
    assert cancel.label == "Cancel…"
    cancel.click().run()
    run = training.shared_registry().running()[0]
    assert not run.cancel_requested, "one click only asks"
    warning = next(w for w in texts(b, "warning") if "Cancel it anyway" in w)
    assert "another browser session" in warning and run.owner[:8] in warning
    b.button(key=f"cancel_keep_{run.id}").click().run()
    assert not run.cancel_requested
    next(w for w in b.button if w.key == f"cancel_{run.id}").click().run()
    b.button(key=f"cancel_confirm_{run.id}").click().run()
    assert run.cancel_requested
    run.thread.join(60)
    assert run.status == training.CANCELLED


def test_resume_continues_a_cancelled_run_and_prunes_old_caches(models_dir, tiny_models_dir):
    training.shared_registry().limit = 2
    folder = models_dir / "stopped"
    shutil.copytree(tiny_models_dir / "digits-tiny", folder, ignore=shutil.ignore_patterns("cache"))
    old_hash = models.weights_hash(folder)
    (folder / "cache" / old_hash).mkdir(parents=True)
    (folder / "cache" / old_hash / "encoded.npz").write_bytes(b"stale")
    info = json.loads((folder / "train.json").read_text())
    info["config"]["epochs"] = 5  # planned 5, 2 done: as if cancelled
    (folder / "train.json").write_text(json.dumps(info))
    at = session()
    at.selectbox(key="train_target").set_value(str(folder)).run()
    assert any("Stopped after 2 of 5 planned epochs" in c for c in texts(at, "caption")), texts(at, "caption")
    assert at.number_input(key="resume_epochs").value == 5
    at.number_input(key="resume_epochs").set_value(3)
    at.button(key="resume_start").click().run()
    assert not at.error, texts(at, "error")
    run_until(at, lambda s: any("Saved 3 epoch(s)" in t for t in texts(s, "success")) or s.error)
    assert not at.error, texts(at, "error")
    history = json.loads((folder / "train.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert checkpoint.load_training_state(folder)["epoch"] == 3
    new_hash = models.weights_hash(folder)
    assert new_hash != old_hash and not (folder / "cache" / old_hash).exists()
    time.sleep(0.1)
