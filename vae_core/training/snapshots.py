"""The training movie's frames, taken at the end of every K-th epoch (TrainConfig.snapshot_every) and the last: the
encoder means of a fixed seeded subset of the test split, the display decoder, KL per dimension and the ELBO split,
written into the model folder's snapshots/ (the format: models/snapshots.py).

The model-agnostic Trainer knows nothing of them: the VAE glue (vae.py) wraps its `save` callback with
`saving_snapshots`, so a snapshot is written just before its epoch's checkpoint. A kill between the two leaves a
snapshot the checkpoint did not reach, which the resumed run removes and takes again (`remove_after`); a kill during
the write leaves only a hidden temp file (atomic writes), removed by the next write.

A snapshot works on a CPU copy of the model, without gradients and without touching any random number generator, so
training with snapshots gives the same weights as without (tests/test_snapshots.py). Cost on the shipped z16 model
(2,000 images): ~0.3 s and ~0.95 MB per snapshot.
"""
from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import data
from ..errors import VAEError
from ..models import snapshots
from .trainer import TrainConfig


class SnapshotTaker:
    """Takes the snapshots of one run: the test rows are chosen once (models/snapshots.snapshot_rows)."""

    def __init__(self, test_images, config: TrainConfig):
        if config.snapshot_every < 0 or config.snapshot_keep < 2 or config.snapshot_images < 4:
            raise VAEError(f"snapshots: every {config.snapshot_every} (>= 0), keep {config.snapshot_keep} (>= 2) "
                           f"and images {config.snapshot_images} (>= 4) are out of range")
        self.every, self.keep, self.last = config.snapshot_every, config.snapshot_keep, config.epochs
        self.rows = snapshots.snapshot_rows(len(test_images), config.snapshot_images)
        self.images = np.asarray(test_images[self.rows])

    def due(self, epoch: int) -> bool:
        return self.every > 0 and (epoch % self.every == 0 or epoch == self.last)

    def take(self, folder, model, epoch: int, metrics: dict) -> Path:
        """Write epoch's snapshot into folder/snapshots/ (thinned to `keep`); `metrics`: that epoch's test numbers."""
        copy_ = copy.deepcopy(getattr(model, "module", model)).cpu().eval()  # training's model stays untouched
        with torch.no_grad():
            mu, _ = copy_.encode_means(data.to_tensor(self.images))
            decoder = copy_.display_decoder_onnx()
        snapshot = snapshots.Snapshot(epoch, self.rows, mu, np.asarray(metrics["kl_per_dim"], dtype=np.float32),
                                      float(metrics["elbo"]), float(metrics["recon"]), float(metrics["kl"]),
                                      int(metrics["n_images"]))
        path = snapshots.write_snapshot(folder, snapshot, decoder)
        snapshots.thin(folder, self.keep)
        return path


def saving_snapshots(save, taker: SnapshotTaker):
    """The Trainer's `save` callback with a snapshot written first, when one is due. A snapshot that fails (a full
    disk, an exporter error) is a warning: it must never cost the epoch's checkpoint."""
    def save_with_snapshot(out_dir, model, metrics=None, train_info=None, training_state=None):
        epoch = int((metrics or {}).get("epochs", 0))
        if taker.due(epoch):
            try:
                taker.take(out_dir, model, epoch, metrics)
            except (OSError, VAEError, KeyError) as err:
                warnings.warn(f"the snapshot of epoch {epoch} was not saved ({err}); training goes on")
        return save(out_dir, model, metrics=metrics, train_info=train_info, training_state=training_state)
    return save_with_snapshot
