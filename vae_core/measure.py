"""A model folder's measured numbers: the test split's ELBO split and IWAE bound written into its metrics.json, as
after our trainings, for a model that arrived from elsewhere (an uploaded zip, `bring`, a folder dropped in).
Numbers shown in the app are numbers this app measured.

`measure_folder` does it in a child process (`python -m vae_core measure`), like the probe: bounded in memory and in
time, with progress, cancellable, and stopped early when its first images predict a run past MAX_SECONDS (a decoder
that takes 30 s a call once kept a core busy for minutes without end).
"""
from __future__ import annotations

import json
import math
import queue
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from . import metrics
from .data import Dataset
from .errors import VAEError
from .files import atomic_write
from .models import LoadedModel
from .models.folder import METRICS

MAX_SECONDS = 600.0           # a measurement predicted (or running) past this is stopped, and says so
PREDICT_AFTER_S = 5.0         # the prediction needs this much of a run to be worth anything
MEMORY_BYTES = 4_000_000_000  # the child's address space: the test split, the model and onnxruntime, with room
POLL_S = 0.5                  # how often a silent child is checked on (cancel, bound)


def record_metrics(loaded: LoadedModel, dataset: Dataset, progress=None) -> dict:
    """metrics.final_report on `dataset`'s test split into <folder>/metrics.json (atomic); numbers that can't be
    computed (a Gaussian without σ) are saved as null. Returns what was written. progress(fraction, message)."""
    result = metrics.final_report(loaded.model, dataset.test_images, progress=progress)
    result["dataset"] = dataset.name
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in result.items()}
    atomic_write(loaded.path / METRICS, json.dumps(clean, indent=2).encode())
    loaded.metrics = clean
    return clean


class MeasureError(VAEError):
    """A measurement did not finish: stopped (cancelled, too slow, too big) or failed; the message says which."""


def measure_folder(folder, progress: Callable[[float, str], None] | None = None,
                   should_stop: Callable[[], bool] | None = None, max_seconds: float | None = None) -> dict:
    """The folder's metrics.json, measured in a child process; returns what it wrote. Raises MeasureError."""
    max_seconds = MAX_SECONDS if max_seconds is None else max_seconds
    command = [sys.executable, "-m", "vae_core", "measure", str(folder), "--progress-json"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_limit_memory,
                             cwd=str(Path(__file__).resolve().parent.parent))
    started = time.monotonic()
    try:
        return _follow(child, started, max_seconds, progress or (lambda f, m: None), should_stop or (lambda: False))
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def _lines(child) -> queue.Queue:
    """The child's stdout lines on a queue (None at the end), read by a thread: a child stuck in one slow decode
    prints nothing for a long while, and cancelling or the bound must not wait for it."""
    lines: queue.Queue = queue.Queue()

    def read():
        for line in child.stdout:
            lines.put(line)
        lines.put(None)
    threading.Thread(target=read, name="measure-reader", daemon=True).start()
    return lines


def _follow(child, started: float, max_seconds: float, progress, should_stop) -> dict:
    """Follow the child's progress until its result; stop it when asked, past the bound, or predicted past it."""
    lines, fraction = _lines(child), 0.0
    while True:
        try:
            line = lines.get(timeout=POLL_S)
        except queue.Empty:
            line = ""
        if line is None:
            break
        if line:
            message = json.loads(line)
            if "result" in message:
                return message["result"]
            if "error" in message:
                raise MeasureError(message["error"])
            fraction = float(message["fraction"])
            progress(fraction, message["message"])
        _check(time.monotonic() - started, fraction, max_seconds, should_stop)
    child.wait()
    tail = child.stderr.read().decode(errors="replace").strip().splitlines()[-1:] or [f"exit {child.returncode}"]
    if child.returncode < 0 or "MemoryError" in tail[0] or "bad_alloc" in tail[0]:
        raise MeasureError(f"measuring needed more than {MEMORY_BYTES / 1e9:.0f} GB of memory or was stopped "
                           f"({tail[0][:200]})")
    raise MeasureError(f"measuring failed ({tail[0][:300]})")


def _check(elapsed: float, fraction: float, max_seconds: float, should_stop) -> None:
    if should_stop():
        raise MeasureError("measuring was cancelled; the model stays unmeasured until it is measured again")
    predicted = elapsed / fraction if fraction > 0 else math.inf
    if elapsed > max_seconds or (elapsed > PREDICT_AFTER_S and fraction > 0 and predicted > max_seconds):
        shown = f"about {predicted / 60:.0f} min" if math.isfinite(predicted) else f"over {elapsed:.0f} s"
        raise MeasureError(f"measuring would take {shown}, over the {max_seconds / 60:.0f}-min bound, so it was "
                           "stopped: this model's decoder is too slow for the whole test split here")
