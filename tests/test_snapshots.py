"""Training snapshots (models/snapshots.py, training/snapshots.py): written every K epochs with the epoch's own
numbers, read back, continued by a resume, never half-written, unreadable ones skipped and counted; training with
them gives the same weights; the registry deletes them with the folder and leaves them out of zips."""
import hashlib
import io
import json
import zipfile

import numpy as np
import pytest

from vae_core import cli, data, training
from vae_core.models import registry, snapshots
from vae_core.models.onnx.graph_checks import GraphError
from vae_core.models.torch_vae import checkpoint
from vae_core.models.torch_vae.model import VAEConfig

from tests.training_helpers import TINY, kill_9_mid_training


@pytest.fixture(scope="module")
def digits():
    return data.load_dataset("digits")


def tiny_config(dataset):
    return VAEConfig(image_shape=dataset.image_shape, latent_dim=4, channels=(8, 16), hidden=32, dataset="digits",
                     class_names=dataset.class_names)


def train(dataset, folder, epochs=3, resume=False, **run):
    return training.train_model(tiny_config(dataset), training.TrainConfig(epochs=epochs, batch_size=64, seed=0, **run),
                                dataset, folder, resume=resume)


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("snap") / "tiny"
    train(digits, folder)
    return folder


def test_a_snapshot_per_epoch_holds_that_epochs_encoder_means_and_numbers(trained, digits):
    series = snapshots.read_snapshots(trained)
    assert series.epochs == [1, 2, 3] and series.unreadable == 0
    history = json.loads((trained / "train.json").read_text())["history"]
    rows = snapshots.snapshot_rows(len(digits.test_images), training.TrainConfig().snapshot_images)
    assert len(rows) == len(digits.test_images) == 300  # digits' test split is smaller than 2,000: all of it
    for shot, epoch in zip(series.snapshots, history):
        assert shot.elbo == pytest.approx(epoch["test_elbo"]) and shot.kl == pytest.approx(epoch["test_kl"])
        assert shot.mu.shape == (300, 4) and np.array_equal(shot.rows, rows)
    last = series.snapshots[-1]
    metrics = json.loads((trained / "metrics.json").read_text())
    np.testing.assert_allclose(last.kl_per_dim, metrics["kl_per_dim"], rtol=1e-5)
    assert last.n_images == metrics["n_images"]
    model = checkpoint.load_checkpoint(trained).model
    mu, _ = model.encode_means(data.to_tensor(digits.test_images[last.rows]))
    np.testing.assert_allclose(last.mu, mu, rtol=2e-3, atol=2e-3)  # stored as float16
    pictures = snapshots.decode_images(last, mu[:50])
    assert np.abs(pictures.astype(int) - model.decode_images(mu[:50]).astype(int)).max() <= 1  # float16 weights
    assert 20_000 < (trained / "snapshots" / snapshots.file_name(3)).stat().st_size < 200_000


def test_snapshot_rows_are_the_same_seeded_rows_every_time():
    rows = snapshots.snapshot_rows(10_000, 2000)
    assert len(rows) == 2000 and len(set(rows.tolist())) == 2000 and (np.diff(rows) > 0).all()
    assert np.array_equal(rows, snapshots.snapshot_rows(10_000, 2000))


def test_snapshots_do_not_change_the_training(digits, tmp_path):
    train(digits, tmp_path / "without", snapshot_every=0)
    assert not (tmp_path / "without" / "snapshots").exists()
    digest = lambda folder: hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()  # noqa: E731
    train(digits, tmp_path / "with")
    assert snapshots.read_snapshots(tmp_path / "with").epochs == [1, 2, 3]
    assert digest(tmp_path / "without") == digest(tmp_path / "with")


def test_every_k_epochs_and_always_the_last(digits, tmp_path):
    train(digits, tmp_path / "m", epochs=5, snapshot_every=2)
    assert snapshots.read_snapshots(tmp_path / "m").epochs == [2, 4, 5]


def test_a_resume_continues_the_series_from_its_checkpoint(digits, tmp_path):
    folder = tmp_path / "m"
    train(digits, folder, epochs=2)
    first = snapshots.read_snapshots(folder).snapshots
    # a kill between a snapshot and its checkpoint leaves a snapshot ahead of the model: the resume takes it again
    snapshots.write_snapshot(folder, snapshots.Snapshot(3, first[0].rows, first[0].mu * 0, first[0].kl_per_dim,
                                                        0.0, 0.0, 0.0, 1), first[0].decoder_onnx())
    snapshots.write_snapshot(folder, snapshots.Snapshot(7, first[0].rows, first[0].mu, first[0].kl_per_dim,
                                                        0.0, 0.0, 0.0, 1), first[0].decoder_onnx())
    train(digits, folder, epochs=4, resume=True)
    series = snapshots.read_snapshots(folder)
    assert series.epochs == [1, 2, 3, 4] and series.unreadable == 0
    assert np.array_equal(series.snapshots[0].mu, first[0].mu)  # the kept ones are untouched
    assert np.abs(series.snapshots[2].mu).max() > 0  # epoch 3 was taken again
    history = json.loads((folder / "train.json").read_text())["history"]
    assert [s.elbo for s in series.snapshots] == pytest.approx([h["test_elbo"] for h in history])


def test_unreadable_snapshots_are_skipped_and_counted(trained, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(trained, folder)
    where = folder / "snapshots"
    whole = (where / snapshots.file_name(2)).read_bytes()
    (where / snapshots.file_name(2)).write_bytes(whole[: len(whole) // 2])   # truncated
    (where / snapshots.file_name(9)).write_bytes(b"not a snapshot")           # garbage
    (where / "epoch-3.safetensors").write_bytes(whole)                         # not a snapshot's name
    (where / snapshots.file_name(5)).write_bytes(whole)                        # epoch 2's file under epoch 5's name
    (where / ".epoch-00004.safetensors.x1y2.tmp").write_bytes(whole[:100])     # a kill's temp file: not counted
    series = snapshots.read_snapshots(folder)
    assert series.epochs == [1, 3] and series.unreadable == 4
    assert snapshots.read_snapshots(tmp_path / "nothing-here") == snapshots.SnapshotSeries([], 0)
    # the next write removes the temp file a kill left
    shot = series.snapshots[0]
    snapshots.write_snapshot(folder, shot, shot.decoder_onnx())
    assert not list(where.glob(".*.tmp"))


def test_a_decoder_that_is_not_a_plain_onnx_graph_is_refused(trained, tmp_path):
    import onnx

    shot = snapshots.read_snapshots(trained).snapshots[0]
    graph = onnx.load_from_string(shot.decoder_onnx())
    graph.graph.node[-1].domain = "com.evil"
    folder = tmp_path / "m"
    bad = snapshots.Snapshot(1, shot.rows, shot.mu, shot.kl_per_dim, shot.elbo, shot.recon, shot.kl, shot.n_images)
    snapshots.write_snapshot(folder, bad, graph.SerializeToString())
    with pytest.raises(GraphError, match="custom operator domain"):
        snapshots.read_snapshots(folder).snapshots[0].decoder_onnx()


def test_thinning_keeps_the_whole_run_at_a_coarser_step(tmp_path):
    where = tmp_path / "snapshots"
    where.mkdir()
    for epoch in range(1, 11):
        (where / snapshots.file_name(epoch)).write_bytes(b"x")
        snapshots.thin(tmp_path, 4)
    kept = sorted(int(p.name[6:11]) for p in where.iterdir())
    assert len(kept) == 4 and kept[0] == 1 and kept[-1] == 10
    assert max(np.diff(kept)) - min(np.diff(kept)) <= 2  # evenly spread, not the last four


def test_a_failed_snapshot_never_costs_the_checkpoint(digits, tmp_path, monkeypatch):
    from vae_core.training import snapshots as taking

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(taking.SnapshotTaker, "take", fail)
    with pytest.warns(UserWarning, match="snapshot of epoch 1 was not saved"):
        train(digits, tmp_path / "m", epochs=1)
    assert checkpoint.load_checkpoint(tmp_path / "m").metrics["epochs"] == 1


def test_the_registry_deletes_snapshots_with_the_folder_and_leaves_them_out_of_zips(trained, tmp_path):
    import shutil

    folder = tmp_path / "models" / "tiny"
    shutil.copytree(trained, folder)
    with zipfile.ZipFile(io.BytesIO(registry.zip_model(folder))) as archive:
        names = archive.namelist()
    assert "tiny/model.safetensors" in names and not any("/snapshots/" in n for n in names)
    registry.delete_model(folder)
    assert not folder.exists()


def test_the_cli_sets_the_snapshot_step(tmp_path, capsys):
    assert cli.main(["train", "--dataset", "digits", "--epochs", "2", "--snapshots", "0", "--out",
                     str(tmp_path / "none"), *TINY]) == 0
    assert not (tmp_path / "none" / "snapshots").exists()
    assert cli.main(["train", "--dataset", "digits", "--epochs", "3", "--snapshots", "2", "--out",
                     str(tmp_path / "two"), *TINY]) == 0
    assert snapshots.read_snapshots(tmp_path / "two").epochs == [2, 3]
    assert json.loads((tmp_path / "two" / "train.json").read_text())["config"]["snapshot_every"] == 2
    assert cli.main(["train", "--resume", "--epochs", "4", "--out", str(tmp_path / "two")]) == 0  # saved K kept
    assert snapshots.read_snapshots(tmp_path / "two").epochs == [2, 3, 4]
    assert cli.main(["train", "--dataset", "digits", "--snapshots", "-1", "--out", str(tmp_path / "x")]) == 2
    assert "--snapshots must be" in capsys.readouterr().err
    help_text = " ".join(cli.build_parser()._subparsers._group_actions[0].choices["train"].format_help().split())
    assert f"default {training.TrainConfig().snapshot_every}, at most {training.TrainConfig().snapshot_keep}" \
        in help_text


def test_kill_9_mid_training_leaves_whole_snapshots_and_the_resume_fills_the_series(tmp_path):
    out = tmp_path / "m"
    kill_9_mid_training(out, tmp_path / "models", lambda: len(list(out.glob("snapshots/epoch-*"))) >= 2,
                        "two snapshots", settle=0.5)
    series = snapshots.read_snapshots(out)
    done = checkpoint.load_checkpoint(out).metrics["epochs"]
    assert series.unreadable == 0 and series.epochs == list(range(1, len(series.epochs) + 1))
    assert len(series.epochs) in (done, done + 1)  # at most one snapshot ahead of the checkpoint
    assert cli.main(["train", "--resume", "--epochs", str(done + 2), "--out", str(out)]) == 0
    series = snapshots.read_snapshots(out)
    assert series.epochs == list(range(1, done + 3)) and series.unreadable == 0
