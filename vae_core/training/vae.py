"""The VAE glue around the model-agnostic Trainer: what the CLI and the Train page call (`train_model`).

It builds (or resumes) one of our VAEs, saves each finished epoch in our checkpoint format, measures the test split
with the same terms as the reported metrics (metrics.py; the last epoch also gets the IWAE bound), previews
reconstructions for the progress callback, and keeps the training movie's snapshots (snapshots.py).
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from .. import data, metrics
from ..errors import CheckpointError
from ..models import registry
from ..models import snapshots as snapshot_files
from ..models.torch_vae import checkpoint
from ..models.torch_vae.model import VAE, VAEConfig
from .distributed import init_distributed
from .snapshots import SnapshotTaker, saving_snapshots
from .trainer import TrainConfig, Trainer, TrainResult


def train_model(model_config: VAEConfig, train_config: TrainConfig, dataset, out_dir, callback=None,
                should_stop=None, resume: bool = False) -> TrainResult:
    """Train a VAE on `dataset` (data.Dataset), saving each finished epoch to out_dir (None: keep in memory).

    A folder that already holds a model is continued with resume=True (its saved VAEConfig wins over
    model_config) and refused otherwise: a saved model is never overwritten by a new run.
    """
    out_dir = Path(out_dir) if out_dir is not None else None
    started_group = init_distributed(train_config.device)
    try:
        return _train(model_config, train_config, dataset, out_dir, callback, should_stop, resume)
    finally:
        if started_group:
            dist.destroy_process_group()


def _train(model_config, train_config, dataset, out_dir, callback, should_stop, resume) -> TrainResult:
    train_config = train_config.for_images(len(dataset.train_images))
    history, state, start_epoch = [], None, 0
    if out_dir is not None and registry.holds_model(out_dir):
        if not resume:
            raise CheckpointError(f"{out_dir} already holds a model; choose a new folder, or resume training it")
        loaded = registry.load_for_training(out_dir)
        if loaded.config.dataset and loaded.config.dataset != dataset.name:
            raise CheckpointError(f"{out_dir} was trained on {loaded.config.dataset!r}, not {dataset.name!r}; "
                                  "resume it on the same dataset")
        model, model_config = loaded.model, loaded.config
        history = list(loaded.train_info.get("history", []))
        state = checkpoint.load_training_state(out_dir)
        if state is None:
            warnings.warn(f"{out_dir} has no matching optimizer state; resuming with a fresh optimizer")
        start_epoch = int(state["epoch"]) if state else len(history)
        history = history[:start_epoch] + [{"epoch": n, "lost": "interrupted save"}  # killed mid-save
                                           for n in range(len(history) + 1, start_epoch + 1)]
        if start_epoch >= train_config.epochs:
            return TrainResult(out_dir, start_epoch, history, "finished",
                               f"Already trained for {start_epoch} epoch(s); ask for more epochs to continue.",
                               loaded.metrics)
    else:
        model_config = replace(model_config, image_shape=dataset.image_shape, dataset=dataset.name,
                               class_names=list(dataset.class_names))
        torch.manual_seed(train_config.seed)  # same seed -> same initial weights
        model = VAE(model_config)

    originals = dataset.test_images[:train_config.recon_batch]

    def evaluate(m, _test_x, final):
        report = metrics.final_report if final else metrics.evaluate
        return {**report(m, dataset.test_images, limit=train_config.test_limit), "dataset": dataset.name}

    def preview(m):
        x = data.to_tensor(originals).to(m.device)
        return np.stack([originals, m.decode_images(m.encode(x)[0].cpu())])

    save = checkpoint.save_checkpoint
    if out_dir is not None and train_config.snapshot_every > 0:
        snapshot_files.remove_after(out_dir, start_epoch)  # the series goes on from the checkpoint
        save = saving_snapshots(save, SnapshotTaker(dataset.test_images, train_config))
    trainer = Trainer(model, train_config, callback, should_stop)
    return trainer.fit(data.to_tensor(dataset.train_images), data.to_tensor(dataset.test_images), out_dir,
                       start_epoch, history=history, training_state=state, evaluate=evaluate, preview=preview,
                       train_info={"dataset": dataset.name}, save=save)
