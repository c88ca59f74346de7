"""Background training jobs for the Train page: one thread per run, kept in a registry every session can see.

One `JobRegistry` per server lives in `st.cache_resource` (`shared_registry`), so a run outlives reruns and page
reloads. The script thread only reads a job's fields; the trainer thread writes them, each write a single
attribute assignment, so a reader sees the old or the new value, never half of one. The trainer polls
`job.should_stop` between steps and keeps the last finished epoch on disk. Only `shared_registry` touches Streamlit.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from vae_core import models, training
from vae_core.data import Dataset
from vae_core.errors import TrainingError, VAEError
from vae_core.models.torch_vae.model import VAEConfig

log = logging.getLogger("vae_explorer")

RUNNING, FINISHED, CANCELLED, FAILED = "running", "finished", "cancelled", "failed"
LIMIT_VARIABLE = "VAE_MAX_TRAININGS"
SHUTDOWN_WAIT_S = 120.0  # at shutdown, how long the runs get to reach their next step boundary


def default_limit() -> int:
    """Concurrent training runs: $VAE_MAX_TRAININGS, else half the CPU cores, at least 1 (each run uses the cores
    torch gives it; more runs than that only slow every one of them down)."""
    try:
        return max(1, int(os.environ[LIMIT_VARIABLE]))
    except (KeyError, ValueError):
        return max(1, (os.cpu_count() or 1) // 2)


class TrainingBusy(TrainingError):
    """The server already runs as many trainings as it allows."""


@dataclass
class TrainJob:
    id: str
    folder: Path
    dataset: str
    n_train: int
    model_config: VAEConfig
    train_config: training.TrainConfig
    started: float = field(default_factory=time.time)
    owner: str = ""                            # id of the session that started it (cancelling asks the others)
    resumed: bool = False                      # continues a saved model rather than a new folder
    status: str = RUNNING
    message: str = ""                          # the trainer's last epoch line, or the final outcome
    progress: training.Progress | None = None     # the latest step
    recon_images: np.ndarray | None = None     # (2, n, H, W[, C]) originals / reconstructions of the last epoch
    result: training.TrainResult | None = None
    finished_at: float | None = None
    thread: threading.Thread | None = field(default=None, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def done(self) -> bool:
        return self.status != RUNNING

    @property
    def cancel_requested(self) -> bool:
        return self._stop.is_set()

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def cancel(self) -> None:
        self._stop.set()

    @property
    def history(self) -> list[dict]:
        """Finished epochs (a copy: the trainer appends to its own list while we read)."""
        if self.result is not None:
            return list(self.result.history)
        return list(self.progress.history) if self.progress else []

    @property
    def epochs_kept(self) -> int:
        return len(self.history)

    @property
    def fraction(self) -> float:
        p = self.progress
        if p is None:
            return 0.0
        return min(1.0, ((p.epoch - 1) * p.steps + p.step) / max(1, p.epochs * p.steps))

    @property
    def images_per_s(self) -> float | None:
        """This run's throughput so far (per-epoch evaluation time included, so slightly pessimistic); a resumed
        run counts only the images it has trained on itself."""
        p = self.progress
        if p is None or p.elapsed <= 0:
            return None
        seen = (p.epoch - p.first_epoch) * self.n_train + min(p.step * self.train_config.batch_size, self.n_train)
        return seen / p.elapsed

    @property
    def eta_s(self) -> float | None:
        """Seconds left, at this run's own pace (its elapsed time over its own share of steps done)."""
        p = self.progress
        if p is None or self.done or p.run_fraction <= 0:
            return None
        return p.elapsed * (1.0 - p.run_fraction) / p.run_fraction


def format_seconds(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class JobRegistry:
    """All training runs of this server process, newest last."""

    def __init__(self, limit: int | None = None):
        self._jobs: dict[str, TrainJob] = {}
        self._lock = threading.Lock()
        self.limit = limit if limit is not None else default_limit()

    def busy_message(self, running: int | None = None) -> str | None:
        """Why a new run cannot start now, or None when it can."""
        running = len(self.running()) if running is None else running
        if running < self.limit:
            return None
        return (f"The server is busy: {running} training run(s) already use its CPU (the limit is {self.limit}, "
                f"set by ${LIMIT_VARIABLE}). Start yours when one of them ends.")

    def start(self, model_config: VAEConfig, train_config: training.TrainConfig, dataset: Dataset,
              folder: Path, owner: str = "", resume: bool = False) -> TrainJob:
        """Train into `folder` (new and empty from models.unique_model_dir, or a saved model with resume=True)
        on a daemon thread. Raises TrainingBusy at the limit, TrainingError when that folder is already training."""
        job = TrainJob(id=uuid.uuid4().hex[:12], folder=Path(folder), dataset=dataset.name,
                       n_train=len(dataset.train_images), model_config=model_config,
                       train_config=train_config.for_images(len(dataset.train_images)), owner=owner, resumed=resume)
        with self._lock:  # the check and the insertion at once: two sessions cannot both take the last slot
            running = [j for j in self._jobs.values() if not j.done]
            if any(j.folder.resolve() == job.folder.resolve() for j in running):
                raise TrainingError(f"{job.name} is being trained already; watch that run instead")
            if len(running) >= self.limit:
                raise TrainingBusy(self.busy_message(len(running)))
            self._jobs[job.id] = job
        job.thread = threading.Thread(target=self._run, args=(job, dataset), name=f"train-{job.name}", daemon=True)
        job.thread.start()
        return job

    def get(self, job_id: str | None) -> TrainJob | None:
        return self._jobs.get(job_id) if job_id else None

    def jobs(self) -> list[TrainJob]:
        with self._lock:
            return list(self._jobs.values())

    def running(self) -> list[TrainJob]:
        return [job for job in self.jobs() if not job.done]

    def is_training(self, folder) -> bool:
        folder = Path(folder).resolve()
        return any(job.folder.resolve() == folder for job in self.running())

    def stop_all(self, timeout: float = 60.0) -> bool:
        """Cancel every running job and wait for the threads (tests; shutdown). True when all have ended."""
        running = self.running()
        for job in running:
            job.cancel()
        deadline = time.monotonic() + timeout
        for job in running:
            if job.thread is not None:
                job.thread.join(max(0.0, deadline - time.monotonic()))
        return not self.running()

    @staticmethod
    def _run(job: TrainJob, dataset: Dataset) -> None:
        def on_progress(progress: training.Progress) -> None:
            if progress.recon_images is not None:
                job.recon_images = progress.recon_images
            if progress.message:
                job.message = progress.message
            job.progress = progress

        try:
            result = training.train_model(job.model_config, job.train_config, dataset, job.folder,
                                       callback=on_progress, should_stop=job.should_stop, resume=job.resumed)
            job.result = result
            job.message = result.message
            job.status = {"finished": FINISHED, "cancelled": CANCELLED}.get(result.stopped, FAILED)
        except VAEError as err:
            job.message, job.status = str(err), FAILED
        except Exception as err:  # a crashed thread must still tell the page what happened
            log.exception("Training %s failed", job.name)
            job.message, job.status = f"Training failed: {type(err).__name__}: {err}", FAILED
        finally:
            if job.resumed:
                models.prune_stale_caches(job.folder)  # maps of the weights it started from are stale now
            else:
                _remove_if_empty(job.folder)
            job.finished_at = time.time()
            if job.status == RUNNING:  # only reached if the finally runs before a status was set
                job.status = FAILED


@st.cache_resource(show_spinner=False)
def shared_registry() -> JobRegistry:
    """The server's one registry, shared by every session and rerun. At shutdown (SIGTERM/SIGINT: Streamlit stops
    its server and the interpreter exits) every run is stopped between two steps, keeping its last epoch, before
    the interpreter tears the daemon threads down (that killed torch mid-step: "terminate called without an active
    exception", or a half-written save)."""
    registry = JobRegistry()
    _at_interpreter_exit(lambda: registry.stop_all(timeout=SHUTDOWN_WAIT_S))
    return registry


def _at_interpreter_exit(callback) -> None:
    """threading's own exit hook runs before daemon threads are abandoned (atexit runs too late for that)."""
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(callback)
    else:  # not CPython ≥ 3.9: the best we have
        import atexit
        atexit.register(callback)


def _remove_if_empty(folder: Path) -> None:
    """A run stopped before its first epoch leaves the reserved folder empty: give the name back."""
    try:
        folder.rmdir()  # only ever removes an empty directory
    except OSError:
        pass


def resume_settings(loaded: models.LoadedModel, epochs: int) -> training.TrainConfig:
    """The saved run's own training settings (train.json "config"), continued up to `epochs` in total."""
    saved = loaded.train_info.get("config")
    known = {f.name for f in dataclasses.fields(training.TrainConfig)}
    values = {k: v for k, v in saved.items() if k in known} if isinstance(saved, dict) else {}
    try:
        return dataclasses.replace(training.TrainConfig(**values), epochs=int(epochs))
    except (TypeError, ValueError):  # a hand-edited train.json: its settings are not usable, the defaults are
        return training.TrainConfig(epochs=int(epochs))
