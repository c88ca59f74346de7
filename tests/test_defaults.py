"""Defaults live in one place (VAEConfig / TrainConfig): the CLI's help and the Train page's initial values read
them, and a run with them trains a working model (no posterior collapse) on digits, started from the Train page."""
import json
import time
from dataclasses import fields


from vae_core import cli
from vae_core.models.torch_vae.model import VAEConfig
from vae_core.training.trainer import TrainConfig

PAGE = "pages/train.py"


def test_the_cli_help_states_the_config_defaults():
    help_text = " ".join(cli.build_parser()._subparsers._group_actions[0].choices["train"].format_help().split())
    net, run = VAEConfig(), TrainConfig()
    for phrase in (f"default {net.channels[0]} {net.channels[1]}", f"default {net.hidden})",
                   f"(default {net.latent_dim}", f"(default {net.warmup_epochs:g})", f"(default {run.lr:g})",
                   f"(default {run.epochs})", "default: from the training set's size"):
        assert phrase.replace("(", "") in help_text.replace("(", ""), phrase


def test_the_cli_builds_the_config_defaults():
    from vae_core import data

    args = cli.build_parser().parse_args(["train", "--dataset", "digits"])
    built = cli._model_config(args, data.load_dataset("digits"))
    defaults = VAEConfig()
    for field in fields(VAEConfig):
        if field.name not in ("image_shape", "dataset", "class_names"):
            assert getattr(built, field.name) == getattr(defaults, field.name), field.name
    assert cli._train_config(args, {}) == TrainConfig()


def test_a_two_epoch_default_digits_run_on_the_train_page_keeps_half_its_units_active(app, models_dir):
    """Issue 22, fault 2: Train → digits → Epochs 2 → Start gave 0 of 16 active units (24 steps at batch 128); the
    batch now follows the training set's size."""
    app.switch_page(PAGE)
    app.run()
    app.selectbox(key="train_dataset").set_value("digits")
    app.run()
    net, run = VAEConfig(), TrainConfig()
    assert app.slider(key="train_latent").value == net.latent_dim
    assert app.number_input(key="train_epochs").value == run.epochs
    assert app.select_slider(key="train_lr").value == run.lr
    assert app.number_input(key="train_warmup").value == net.warmup_epochs
    assert app.select_slider(key="train_batch").value == "auto"
    app.number_input(key="train_epochs").set_value(2)
    app.button(key="train_start").click().run()
    start = time.monotonic()
    while not any("Saved" in str(s.value) for s in app.success) and not app.error:
        assert time.monotonic() - start < 600, "the default run did not finish in 10 minutes"
        time.sleep(1.0)
        app.run()
    assert not app.error, [e.value for e in app.error]
    folder = next(models_dir.iterdir())
    config = json.loads((folder / "config.json").read_text())
    assert (tuple(config["channels"]), config["hidden"]) == (net.channels, net.hidden)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["active_units"] >= net.latent_dim / 2, metrics
    assert json.loads((folder / "train.json").read_text())["config"]["batch_size"] == 16  # saved as used
