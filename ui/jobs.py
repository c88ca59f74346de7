"""Background jobs every session sees: one thread per key, its progress readable by any session, its failure kept as
a message.

A new model's first UMAP held its page for 98 s (10k points; 152 s for 70k). Now the page shows a quick stand-in
(the PCA map) and the UMAP is computed here: a second session asking for the same key gets the same job, never a
second computation, and can show its progress (`watch`). ui/loaders.memo_or_start puts a job's value among the shared
results, where every page's `memo` finds it. The compute function runs outside any script run: it gets plain values,
never calls Streamlit, and reports through `progress(fraction, message)`, the library's one progress shape.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import streamlit as st

from vae_core.errors import VAEError

from . import preload

log = logging.getLogger("vae_explorer")
RUNNING, DONE, FAILED = "running", "done", "failed"


@dataclass
class Job:
    key: tuple
    title: str                       # what it computes, as a page names it ("The UMAP map")
    status: str = RUNNING
    fraction: float = 0.0
    message: str = "starting"
    error: str | None = None         # why it failed, as a message for the page (the log keeps the traceback)
    started: float = field(default_factory=time.monotonic)
    ended_at: float | None = None
    ended: threading.Event = field(default_factory=threading.Event)
    compute: Callable | None = field(default=None, repr=False)  # kept so a failed job can be started again

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    @property
    def seconds(self) -> float:
        return (self.ended_at or time.monotonic()) - self.started

    def report(self, fraction: float, message: str = "") -> None:
        """The progress callback handed to the computation (any thread may read what it sets)."""
        self.fraction = min(max(float(fraction), 0.0), 1.0)
        if message:
            self.message = message


class Jobs:
    """Every job of this server, by key: at most one running per key."""

    KEEP = 64  # ended jobs remembered (a failure is shown until someone asks again); the oldest go first

    def __init__(self):
        self._jobs: dict[tuple, Job] = {}
        self._lock = threading.Lock()  # held for bookkeeping only, never while computing

    def get(self, key: tuple) -> Job | None:
        with self._lock:
            return self._jobs.get(key)

    def running(self) -> list[Job]:
        with self._lock:
            return [job for job in self._jobs.values() if job.running]

    def wait_all(self, timeout: float) -> bool:
        """Wait for every running job to end (tests; a clean exit); False when one still runs after `timeout` s."""
        deadline = time.monotonic() + timeout
        return all(job.ended.wait(max(0.0, deadline - time.monotonic())) for job in self.running())

    def start(self, key: tuple, compute: Callable[[Callable], object], title: str, again: bool = False) -> Job:
        """Run `compute(progress)` in a thread, unless a job for `key` is running (that one is returned) or failed
        (returned too, with its error, until `again`). A job that ended well is started afresh: its caller asks
        again only when the value it made is gone."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and (job.running or job.status == FAILED and not again):
                return job
            job = self._jobs[key] = Job(key, title, compute=compute)
            ended = [k for k, j in self._jobs.items() if not j.running]
            for old in ended[:max(0, len(ended) - self.KEEP)]:
                del self._jobs[old]
        threading.Thread(target=self._run, args=(job, compute), name=f"job {title}", daemon=True).start()
        return job

    @staticmethod
    def _run(job: Job, compute) -> None:
        try:
            preload.import_heavy_modules()  # under its lock: a job's imports (umap: sklearn) race no page's
            compute(job.report)
            job.fraction, job.status = 1.0, DONE
        except VAEError as err:  # the library's own messages say what to do
            job.error, job.status = str(err), FAILED
        except Exception as err:  # a job ends with a status a page can show, never a lost thread
            log.exception("%s failed", job.title)
            job.error, job.status = f"{type(err).__name__}: {err}", FAILED
        finally:
            job.ended_at = time.monotonic()
            job.ended.set()


@st.cache_resource(show_spinner=False)
def shared_jobs() -> Jobs:
    return Jobs()


def watch(jobs: list[Job], every: float = 1.0) -> None:
    """A progress bar per running job, redrawn every `every` seconds by a fragment (the rest of the page does not run
    again); when one ends, the whole page runs again to show what it made, or why it could not."""
    keys = [job.key for job in jobs if job is not None and job.running]
    if not keys:
        return

    @st.fragment(run_every=every)
    def progress() -> None:
        current = [shared_jobs().get(key) for key in keys]
        if any(job is None or not job.running for job in current):
            st.rerun()
        for job in current:
            st.progress(job.fraction, text=f"{job.title}: {job.message}")
    progress()
