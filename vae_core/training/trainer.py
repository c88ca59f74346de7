"""A model-agnostic training loop (`Trainer`); the VAE glue the CLI and the app call is training/vae.py.

Like minGPT's trainer, `Trainer` only needs `model.loss(x, epoch_progress)["loss"]`; the other keys of that dict
are averaged and reported. It is seeded, cancellable between steps, hands each finished epoch to a `save` callback
(the glue writes one atomic checkpoint, so `kill -9` never leaves half a model and a run can resume), stops cleanly
on a NaN/inf loss, and runs under `torchrun` with DistributedDataParallel. Everything model-specific (saving, test
metrics, preview reconstructions) comes in through callbacks.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from ..errors import TrainingError


# The batch follows the training set's size: a first model must have learned something. Measured on digits (1,497
# training images, bench/first_training.py): 2 epochs at batch 128 are 24 optimiser steps and keep 0 of 16 active
# units; 94 steps keep 2-3; 120 steps (10 epochs at 128) and 188 (2 epochs at batch 16) keep 16 of 16, the
# latter with a better ELBO (−170.3 against −175.6).
BATCH_RANGE = (16, 128)   # the automatic batch is a power of two in this range (128: fastest at equal time here)
STEPS_PER_EPOCH = 90      # ... the largest that still gives this many steps per epoch
MIN_STEPS = 120           # fewer steps in a whole run have not learned yet (94: 2-3 active, 120: 16): said beforehand


def batch_size_for(n_train: int) -> int:
    """The default batch for a training set of n_train images: the largest power of two in BATCH_RANGE that gives
    at least STEPS_PER_EPOCH steps per epoch (digits: 16; Fashion-MNIST: 128)."""
    batch = BATCH_RANGE[1]
    while batch > BATCH_RANGE[0] and math.ceil(n_train / batch) < STEPS_PER_EPOCH:
        batch //= 2
    return batch


def too_short(n_train: int, batch_size: int, epochs: int) -> str | None:
    """Why a run of `epochs` at `batch_size` is too short to learn from n_train images, with what to try; None when
    it is long enough."""
    per_epoch = max(1, math.ceil(n_train / batch_size))
    steps = per_epoch * epochs
    if steps >= MIN_STEPS:
        return None
    tries = [f"{math.ceil(MIN_STEPS / per_epoch)} epochs"]
    smaller = BATCH_RANGE[0]
    if batch_size > smaller and math.ceil(n_train / smaller) * epochs >= MIN_STEPS:
        tries.append(f"batch {smaller}")
    return (f"{steps:,} optimiser steps ({epochs} × {per_epoch:,}): too few to learn (a model needs about "
            f"{MIN_STEPS}); try {' or '.join(tries)}")


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int | None = None   # None: batch_size_for(the training set's size), fixed when a run starts
    lr: float = 2e-3                # beat 1e-3 and 3e-3 at equal time (bench/train_vs_reference.py)
    seed: int = 0
    device: str = "auto"            # auto -> cuda, mps, cpu (in that order); or an explicit name
    test_limit: int | None = None   # test images evaluated per epoch (None = all)
    recon_batch: int = 8            # fixed test images reconstructed at each epoch end, for the UI
    optimizer: str = "adam"         # "adam" or "adamax" (Adamax was 5 nats worse after 60 s)
    # The training movie (training/snapshots.py; the Trainer itself never reads these: the VAE glue does):
    snapshot_every: int = 1         # keep a snapshot every K epochs, and the last one (0 = none); ~1 MB and ~0.3 s each
    snapshot_keep: int = 50         # at most this many kept, thinned evenly over the run
    snapshot_images: int = 2000     # the fixed seeded test rows encoded in each (the movie's points)

    def for_images(self, n_train: int) -> TrainConfig:
        """This config with its batch size fixed for a training set of n_train images (saved as used)."""
        return self if self.batch_size else replace(self, batch_size=batch_size_for(n_train))


@dataclass
class Progress:
    """What the callback receives after every step (cheap fields) and at each epoch end."""
    epoch: int                      # 1-based epoch being trained
    epochs: int
    step: int                       # 1-based step within the epoch
    steps: int
    elapsed: float                  # seconds since fit() started
    losses: dict[str, float]        # this step's loss dict (this rank's batch)
    history: list[dict]             # one dict per finished epoch (shared, do not mutate)
    recon_images: np.ndarray | None = None  # (2, recon_batch, H, W[, C]) uint8 originals/reconstructions
    epoch_end: bool = False
    message: str = ""
    first_epoch: int = 1            # the epoch this run began with (a resumed run: the one after those saved)

    @property
    def run_fraction(self) -> float:
        """The share of this run's own steps done: a resumed run's saved epochs are not this run's work (counting
        them made a resume's first step read 384,034 img/s, ETA 0 s)."""
        done = (self.epoch - self.first_epoch) * self.steps + self.step
        return min(1.0, done / max(1, (self.epochs - self.first_epoch + 1) * self.steps))


@dataclass
class TrainResult:
    path: Path | None
    epochs_done: int
    history: list[dict]
    stopped: str                    # "finished" | "cancelled" | "diverged"
    message: str = ""
    metrics: dict = field(default_factory=dict)  # test metrics of the last finished epoch


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """"auto" -> cuda, mps, cpu (first available); under torchrun each process gets cuda:LOCAL_RANK."""
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainingError(f"device {name!r} is unknown; use auto, cpu, cuda, cuda:N or mps") from None
    if (device.type == "cuda" and not torch.cuda.is_available()) or (device.type == "mps" and not mps):
        raise TrainingError(f"device {name!r} is not available here; use --device cpu (or auto)")
    return torch.device("cuda", local_rank) if device.type == "cuda" and device.index is None else device


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    kinds = {"adam": torch.optim.Adam, "adamax": torch.optim.Adamax}
    if config.optimizer not in kinds:
        raise ValueError(f"optimizer {config.optimizer!r} is unknown; use one of {sorted(kinds)}")
    return kinds[config.optimizer](params, lr=config.lr)


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _LossModule(nn.Module):
    """DDP synchronises gradients only for what runs through its forward(), so forward() is model.loss."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x, epoch_progress):
        return self.model.loss(x, epoch_progress)


class Trainer:
    def __init__(self, model: nn.Module, config: TrainConfig, callback: Callable[[Progress], None] | None = None,
                 should_stop: Callable[[], bool] | None = None):
        self.model, self.config = model, config
        self.callback, self.should_stop = callback, should_stop
        self.rank, self.world = _rank_world()
        self.device = resolve_device(config.device, int(os.environ.get("LOCAL_RANK", self.rank)))

    def fit(self, train_x: torch.Tensor, test_x: torch.Tensor, out_dir: Path | None = None, start_epoch: int = 0,
            *, history: list[dict] | None = None, training_state: dict | None = None,
            evaluate: Callable | None = None, preview: Callable | None = None,
            train_info: dict | None = None, save: Callable | None = None) -> TrainResult:
        """Train epochs start_epoch+1 .. config.epochs on float tensors (N, C, H, W).

        evaluate(model, test_x, final) -> dict of test metrics (default: the loss dict averaged over test_x);
        preview(model) -> uint8 (2, n, ...) originals/reconstructions; train_info: extra train.json fields;
        save(out_dir, model, metrics=, train_info=, training_state=) writes a finished epoch (needed with out_dir);
        history/training_state: what a resumed run had. Only rank 0 evaluates, reports and saves.
        """
        cfg = self.config = self.config.for_images(len(train_x))
        if out_dir is not None and save is None:
            raise ValueError("an out_dir needs a save callback (training/vae.py gives ours)")
        self.save = save
        self.model.to(self.device)
        self.step_fn = _LossModule(self.model)
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.step_fn = DistributedDataParallel(self.step_fn, device_ids=ids)
        self.optimizer = make_optimizer(self.model.parameters(), cfg)
        self._restore(training_state, start_epoch)
        # DistributedSampler semantics (seed + epoch shuffles, rank-strided shards), also for one process
        sampler = DistributedSampler(range(len(train_x)), num_replicas=self.world, rank=self.rank, seed=cfg.seed)
        self.steps = steps = max(1, math.ceil(len(sampler) / cfg.batch_size))
        self.history, self.metrics, self.started = list(history or []), {}, time.perf_counter()
        self.first_epoch = start_epoch + 1
        for epoch in range(start_epoch, cfg.epochs):
            sampler.set_epoch(epoch)
            epoch_start = time.perf_counter()
            sums, count, stopped, message = self._train_epoch(train_x, torch.tensor(list(sampler)), epoch, steps)
            if stopped:
                return self._result(out_dir, stopped, message)
            means, images = _epoch_means(sums, count, self.device, self.world)
            seconds = time.perf_counter() - epoch_start
            entry = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in means.items()},
                     "seconds": seconds, "images_per_s": images / seconds}
            if self.rank == 0:
                self._finish_epoch(entry, test_x, out_dir, evaluate or _average_loss, preview, train_info)
            else:
                self.history.append(entry)  # keeps epochs_done right on every rank
            if self.world > 1:
                dist.barrier()  # rank 0's evaluation and save finish before anyone moves on
        return self._result(out_dir, "finished", f"Finished {len(self.history)} epoch(s).")

    def _restore(self, training_state: dict | None, start_epoch: int) -> None:
        state = training_state or {}
        if state.get("optimizer"):
            self.optimizer.load_state_dict(state["optimizer"])
        if self.rank == 0 and state.get("rng") is not None:  # the same noise as an uninterrupted run
            torch.set_rng_state(state["rng"])
            if state.get("cuda_rng") is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        else:
            torch.manual_seed(self.config.seed + 1000 * start_epoch + self.rank)  # ranks draw different noise

    def _train_epoch(self, train_x, order, epoch: int, steps: int):
        """One pass over this rank's shard -> (loss sums, images, stopped or None, message)."""
        sums: dict[str, float] = {}
        count, batch = 0, self.config.batch_size
        self.model.train()
        for step in range(steps):
            idx = order[step * batch:(step + 1) * batch]
            stop = bool(self.should_stop and self.rank == 0 and self.should_stop())
            out = self.step_fn(train_x[idx].to(self.device, non_blocking=True), epoch + step / steps)
            loss = out["loss"]
            bad = not bool(torch.isfinite(loss))
            if self.world > 1:  # every rank must take the same branch, or the others hang in all-reduce
                flags = torch.tensor([float(stop), float(bad)], device=self.device)
                dist.all_reduce(flags, op=dist.ReduceOp.MAX)
                stop, bad = bool(flags[0]), bool(flags[1])
            if bad:
                return sums, count, "diverged", _diverged_message(loss, epoch, step, steps, self.config.lr,
                                                                  len(self.history))
            if stop:
                return sums, count, "cancelled", (f"Cancelled during epoch {epoch + 1}; "
                                                  f"{len(self.history)} finished epoch(s) kept.")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            losses = {k: float(v.detach()) for k, v in out.items()}
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v * len(idx)
            count += len(idx)
            if self.callback and self.rank == 0:
                self.callback(Progress(epoch + 1, self.config.epochs, step + 1, steps, self._elapsed(), losses,
                                       self.history, first_epoch=self.first_epoch))
        return sums, count, None, ""

    def _finish_epoch(self, entry: dict, test_x, out_dir, evaluate, preview, train_info) -> None:
        """Rank 0: test metrics, the atomic checkpoint, the epoch-end report."""
        final = entry["epoch"] == self.config.epochs
        self.metrics = _without_grad(self.model, self.device, lambda: evaluate(self.model, test_x, final))
        entry.update({f"test_{k}": float(v) for k, v in self.metrics.items()  # the same terms as for train
                      if f"train_{k}" in entry and isinstance(v, (int, float))})
        self.history.append(entry)
        if out_dir is not None:
            state = {"epoch": entry["epoch"], "optimizer": self.optimizer.state_dict(), "rng": torch.get_rng_state()}
            if self.device.type == "cuda":
                state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
            self.save(out_dir, self.model,
                      metrics={**self.metrics, "epochs": entry["epoch"], "images_per_s": entry["images_per_s"]},
                      train_info={**(train_info or {}), "config": asdict(self.config), "history": self.history},
                      training_state=state)
        if self.callback:
            pictures = _without_grad(self.model, self.device, lambda: preview(self.model)) if preview else None
            means = {k[len("train_"):]: v for k, v in entry.items() if k.startswith("train_")}
            self.callback(Progress(entry["epoch"], self.config.epochs, self.steps, self.steps, self._elapsed(),
                                   means, self.history, pictures, epoch_end=True, message=_epoch_message(entry),
                                   first_epoch=self.first_epoch))

    def _elapsed(self) -> float:
        return time.perf_counter() - self.started

    def _result(self, out_dir, stopped: str, message: str) -> TrainResult:
        return TrainResult(path=out_dir if out_dir is not None and self.history else None,
                           epochs_done=len(self.history), history=self.history, stopped=stopped,
                           message=message, metrics=self.metrics)


def _without_grad(model: nn.Module, device: torch.device, fn: Callable):
    """Evaluation in eval mode, without touching the training RNG stream (keeps resume bit-identical)."""
    model.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            return fn()
    finally:
        model.train()


def _average_loss(model: nn.Module, test_x: torch.Tensor, final: bool, batch_size: int = 1000) -> dict:
    device = next(model.parameters()).device
    sums: dict[str, float] = {}
    for start in range(0, len(test_x), batch_size):
        x = test_x[start:start + batch_size]
        for k, v in model.loss(x.to(device)).items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(x)
    return {k: v / max(1, len(test_x)) for k, v in sums.items()}


def _epoch_means(sums: dict, count: int, device, world: int) -> tuple[dict, int]:
    """Per-image epoch means over all ranks (one all-reduce), and the number of images seen."""
    keys = sorted(sums)
    totals = torch.tensor([sums[k] for k in keys] + [float(count)], dtype=torch.float64, device=device)
    if world > 1:
        dist.all_reduce(totals)
    totals = totals.tolist()
    return {k: totals[i] / max(1.0, totals[-1]) for i, k in enumerate(keys)}, int(totals[-1])


def _diverged_message(loss, epoch, step, steps, lr, epochs_done: int) -> str:
    kept = f"the model of epoch {epochs_done} was kept" if epochs_done else "no epoch had finished, nothing was saved"
    return (f"Training diverged: the loss became {float(loss.detach())} at epoch {epoch + 1}, step {step + 1} "
            f"of {steps}; {kept}. Try a lower learning rate (now {lr:g}, e.g. {lr / 10:g}).")


def _epoch_message(entry: dict) -> str:
    test = f", test -ELBO {-entry['test_elbo']:.2f}" if "test_elbo" in entry else ""
    return (f"epoch {entry['epoch']}: train -ELBO {-entry.get('train_elbo', float('nan')):.2f}{test} "
            f"({entry['images_per_s']:.0f} img/s)")
