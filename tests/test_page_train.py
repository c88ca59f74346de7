"""AppTest of the Train page: a real run on digits to the end (files, finite metrics, listed, picked up by the
sidebar), cancel keeps the finished epoch (or nothing, and says so), a missing folder is a message, delete needs
two clicks, and shipped models cannot be deleted. Training runs on the page's background thread, in this process."""
import json
import math
import shutil
import time
from pathlib import Path

import pytest

from ui.session import keys
from vae_core import paths

PAGE = "pages/train.py"


@pytest.fixture
def page(app, models_dir):
    app.switch_page(PAGE)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def texts(at, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def run_until(at, done, timeout: float = 240.0, pause: float = 0.5) -> None:
    """Rerun the page (as the fragment's timer would) until done(at) or the timeout."""
    start = time.monotonic()
    while not done(at):
        assert time.monotonic() - start < timeout, f"timed out; page says {texts(at, 'caption')}"
        time.sleep(pause)
        at.run()
        assert not at.exception, [e.value for e in at.exception]


def size_widget(at):
    return next(w for w in at.get("button_group") if w.key == "train_size")


def test_trains_a_tiny_model_to_the_end(page, models_dir):
    at = page
    assert at.session_state[keys.MODEL] is None  # no digits model yet: the sidebar has nothing to select
    at.selectbox(key="train_dataset").set_value("digits")
    at.slider(key="train_latent").set_value(3)
    at.number_input(key="train_epochs").set_value(1)
    at.select_slider(key="train_batch").set_value(64)
    at.text_input(key="train_name").set_value("tiny run")
    size_widget(at).set_value("small")
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.get("progress") or at.success, "a started run shows a progress bar"
    run_until(at, lambda a: any("Saved" in t for t in texts(a, "success")) or a.error)
    assert not at.error, texts(at, "error")

    folder = models_dir / "tiny-run-1"  # the name is made safe and numbered: nothing is ever overwritten
    assert sorted(p.name for p in folder.iterdir()) >= ["config.json", "metrics.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert (config["latent_dim"], config["dataset"], config["channels"]) == (3, "digits", [16, 32])
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("elbo", "recon", "kl", "iwae_bound"):
        assert isinstance(metrics[key], float) and math.isfinite(metrics[key]), (key, metrics[key])
    assert metrics["elbo"] < 0 and metrics["iwae_bound"] >= metrics["elbo"] - 1.0
    assert len(json.loads((folder / "train.json").read_text())["history"]) == 1

    success = texts(at, "success")[0]
    assert f"{metrics['elbo']:.1f}" in success and "active units" in success
    assert at.get("plotly_chart"), "loss curves are shown"
    assert len(at.image) >= 1, "originals over reconstructions are shown"
    table = at.dataframe[0].value
    row = table[table["name"] == "tiny-run-1"].iloc[0]
    assert (row["dataset"], row["latent dim"], row["epochs"]) == ("digits", 3, 1)
    assert row["test ELBO"] == pytest.approx(metrics["elbo"], abs=0.06)
    # The end of the run reran the whole app: the sidebar found the new model and selected it.
    assert at.session_state[keys.MODEL] == str(folder)
    assert not at.button(key="train_start").disabled
    assert Path(at.selectbox(key="train_target").value).resolve() == folder.resolve()  # the list shows it too
    collapsed = any("No active units" in t for t in texts(at, "warning"))
    assert collapsed == (metrics["active_units"] == 0)  # posterior collapse is named, and only then


@pytest.mark.parametrize("every, kept", [(2, [2, 3]), (0, [])])
def test_the_snapshot_setting_reaches_the_run(page, models_dir, every, kept):
    """Issue 21: "Training movie: keep a snapshot every K epochs" is TrainConfig.snapshot_every (its default shown),
    saved with the run (a resume reads it back: ui/training.resume_settings); 0 keeps none."""
    from ui import training as ui_training
    from vae_core import models
    from vae_core.models import snapshots
    from vae_core.training import TrainConfig

    at = page
    assert at.number_input(key="train_snapshots").value == TrainConfig().snapshot_every
    at.selectbox(key="train_dataset").set_value("digits")
    at.slider(key="train_latent").set_value(2)
    at.number_input(key="train_epochs").set_value(3)
    at.select_slider(key="train_batch").set_value(128)
    at.number_input(key="train_snapshots").set_value(every)
    at.text_input(key="train_name").set_value("movie")
    size_widget(at).set_value("small")
    at.button(key="train_start").click().run()
    run_until(at, lambda a: any("Saved" in t for t in texts(a, "success")) or a.error)
    assert not at.error, texts(at, "error")
    folder = models_dir / "movie-1"
    series = snapshots.read_snapshots(folder)
    assert series.epochs == kept and series.unreadable == 0  # every 2nd epoch and the last
    assert (folder / "snapshots").is_dir() == bool(kept)
    assert json.loads((folder / "train.json").read_text())["config"]["snapshot_every"] == every
    assert ui_training.resume_settings(models.load_model(folder), 6).snapshot_every == every


def test_cancel_keeps_the_last_finished_epoch(page, models_dir, tiny_models_dir):
    at = page
    shutil.copytree(tiny_models_dir / "digits-tiny", models_dir / "older")
    at.run()
    at.selectbox(key="train_target").set_value(str(models_dir / "older")).run()  # looking at another model
    at.selectbox(key="train_dataset").set_value("digits")
    at.number_input(key="train_epochs").set_value(40)
    at.select_slider(key="train_batch").set_value(128)
    size_widget(at).set_value("small")
    at.button(key="train_start").click().run()
    assert at.button(key="train_start").disabled, "one run at a time per session"
    run_until(at, lambda a: bool(a.get("plotly_chart")))  # loss curves appear once an epoch is saved
    cancel = next(b for b in at.button if b.key and b.key.startswith("cancel_"))
    cancel.click().run()
    run_until(at, lambda a: any("Cancelled" in t for t in texts(a, "warning")))
    kept = json.loads((models_dir / "digits-z16-1" / "train.json").read_text())["history"]
    assert 1 <= len(kept) < 40
    assert f"epoch {len(kept)} was kept" in texts(at, "warning")[0]
    assert (models_dir / "digits-z16-1" / "model.safetensors").is_file()
    # the run's end moved the saved-model box to the model just kept
    assert Path(at.selectbox(key="train_target").value).resolve() == (models_dir / "digits-z16-1").resolve()


def test_cancel_before_the_first_epoch_keeps_nothing(page, models_dir):
    at = page
    at.selectbox(key="train_dataset").set_value("digits")
    at.number_input(key="train_epochs").set_value(3)
    at.select_slider(key="train_batch").set_value(16)  # a long first epoch: the cancel lands inside it
    size_widget(at).set_value("large")
    at.button(key="train_start").click().run()
    cancel = next(b for b in at.button if b.key and b.key.startswith("cancel_"))
    cancel.click().run()
    run_until(at, lambda a: any("Cancelled" in t for t in texts(a, "info") + texts(a, "warning")))
    assert any("nothing was saved" in t for t in texts(at, "info")), texts(at, "warning")
    assert list(models_dir.iterdir()) == []  # the reserved folder was given back


def test_a_missing_picture_folder_is_a_message(page, models_dir, tmp_path):
    at = page
    at.selectbox(key="train_dataset").set_value("Your own pictures…").run()
    at.text_input(key="train_folder").set_value(str(tmp_path / "no-such-folder"))
    at.button(key="train_start").click().run()
    assert not at.exception
    assert any("no-such-folder" in t for t in texts(at, "error")), texts(at, "error")
    assert list(models_dir.iterdir()) == [] and not at.get("progress")


def test_delete_needs_confirmation_and_broken_folders_are_listed(page, models_dir, tiny_models_dir):
    at = page
    shutil.copytree(tiny_models_dir / "digits-tiny", models_dir / "doomed")
    (models_dir / "broken").mkdir()
    (models_dir / "broken" / "config.json").write_text("{not json")
    at.run()
    assert any("broken" in t and "config.json" in t for t in texts(at, "warning"))
    table = at.dataframe[0]
    assert table.value[table.value["name"] == "broken"].iloc[0].isna().any()  # its numbers are missing…
    assert table.proto.placeholder == "–"  # …and drawn as a dash, not the literal "None" (issue 22, fault 11)
    target = str(models_dir / "doomed")
    at.selectbox(key="train_target").set_value(target).run()
    at.button(key="delete_listed").click().run()
    assert (models_dir / "doomed").is_dir(), "one click only asks"
    assert any("cannot be undone" in t for t in texts(at, "warning"))
    at.button(key="delete_keep").click().run()
    assert (models_dir / "doomed").is_dir() and not any("cannot be undone" in t for t in texts(at, "warning"))
    at.button(key="delete_listed").click().run()
    at.button(key="delete_confirm").click().run()
    assert not (models_dir / "doomed").exists()
    assert any("Deleted doomed" in t for t in texts(at, "success"))
    assert "doomed" not in list(at.dataframe[0].value["name"])
    assert (models_dir / "broken").is_dir()


def test_a_shipped_model_cannot_be_deleted(page, models_dir, tiny_models_dir):
    at = page
    shipped = paths.PRETRAINED_DIR / "digits-shipped"
    shutil.copytree(tiny_models_dir / "digits-tiny", shipped)
    at.run()
    at.selectbox(key="train_target").set_value(str(shipped)).run()
    assert at.button(key="delete_listed").disabled
    assert any("cannot be deleted" in t for t in texts(at, "caption"))
    # Even a forced confirmation is refused by the library, and the page says so.
    at.session_state["train_confirm"] = str(shipped)
    at.run()
    at.button(key="delete_confirm").click().run()
    assert shipped.is_dir() and (shipped / "model.safetensors").is_file()
    assert any("cannot be deleted" in t for t in texts(at, "error")), texts(at, "error")


def test_the_form_says_how_long_a_run_is_and_when_it_is_too_short(page, models_dir):
    """Issue 22, fault 2: the batch follows the dataset (auto), and a run too short to learn is named beforehand."""
    at = page
    at.selectbox(key="train_dataset").set_value("digits")
    at.number_input(key="train_epochs").set_value(2).run()
    assert at.select_slider(key="train_batch").value == "auto"
    assert any("Batch **16** (auto) · 1,497 training images · 94 steps per epoch, 188 in all" in t
               for t in texts(at, "caption"))
    assert not [t for t in texts(at, "warning") if "too few" in t]
    at.select_slider(key="train_batch").set_value(128).run()
    warning = next(t for t in texts(at, "warning") if "too few to learn" in t)
    assert warning.startswith("24 optimiser steps (2 × 12)") and "try 10 epochs or batch 16" in warning


def test_the_proposed_name_is_the_name_saved(page, models_dir):
    """Issue 22, fault 11: the form proposed "fashion-mnist-z16" (the shipped model's name) and saved "…-1"."""
    at = page
    at.selectbox(key="train_dataset").set_value("digits").run()
    assert at.text_input(key="train_name").placeholder == "digits-z16-1"
    (models_dir / "digits-z16-1").mkdir()
    at.run()
    assert at.text_input(key="train_name").placeholder == "digits-z16-2"
    at.text_input(key="train_name").set_value("my model").run()
    assert any("Saved as **my-model-1**" in t for t in texts(at, "caption"))
