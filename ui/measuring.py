"""Model folders measured in the background: one job per (folder, weights), shared by every session, each a child
process (vae_core.measure.measure_folder: bounded in memory and time, cancellable) followed by a thread.

A folder dropped into models/ by hand, or just imported, has no metrics.json: the model list starts its measurement
once and shows its progress; every page keeps working meanwhile. A job started by an import belongs to that browser
session: closing the tab stops it (a reconnect within GRACE_S does not). A stopped or failed measurement is
remembered with its reason, and is only started again by the "Measure" button.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from vae_core import models
from vae_core.data import roots
from vae_core.errors import VAEError
from vae_core.measure import MeasureError, measure_folder

log = logging.getLogger("vae_explorer")
GRACE_S = 10.0  # a session away this long (its tab closed, not a network blip) stops the measurement it started
RUNNING, DONE, FAILED = "measuring", "measured", "not measured"


@dataclass
class MeasureJob:
    folder: Path
    key: tuple                       # (folder, weights hash): new weights are a new job
    owner: str | None = None         # the session that started it (an import), or None (the model list)
    status: str = RUNNING
    fraction: float = 0.0
    message: str = "starting"
    error: str | None = None
    started: float = field(default_factory=time.time)
    cancelled: threading.Event = field(default_factory=threading.Event)
    away_since: float | None = None  # when its owner's session was last seen gone

    @property
    def running(self) -> bool:
        return self.status == RUNNING


class Measurements:
    """Every measurement of this server: at most one running at a time per folder, MAX_RUNNING in all."""

    MAX_RUNNING = 1  # one child measuring at a time: two cores are shared with every page and any training

    def __init__(self):
        self.jobs: dict[tuple, MeasureJob] = {}
        self.lock = threading.Lock()

    def job_for(self, folder) -> MeasureJob | None:
        folder = str(Path(folder))
        with self.lock:
            found = [job for key, job in self.jobs.items() if key[0] == folder]
        return found[-1] if found else None

    def start(self, folder, owner: str | None = None, again: bool = False) -> MeasureJob | None:
        """Measure `folder` unless it is (or was) already: `again` measures once more after a stop or a failure.
        Returns the job, or None when its dataset is not readable here (then there is nothing to measure on)."""
        folder = Path(folder)
        try:
            roots.check_app_dataset(models.read_config(folder).dataset)  # cheap first: the hash reads every weight
            key = (str(folder), models.weights_hash(folder))
        except VAEError:
            return None
        with self.lock:
            job = self.jobs.get(key)
            if job is not None and (job.running or not again):
                return job
            if sum(j.running for j in self.jobs.values()) >= self.MAX_RUNNING:
                return None  # the next listing starts it
            job = self.jobs[key] = MeasureJob(folder, key, owner)
        threading.Thread(target=self._run, args=(job,), name=f"measure-{folder.name}", daemon=True).start()
        return job

    def _run(self, job: MeasureJob) -> None:
        def progress(fraction: float, message: str) -> None:
            job.fraction, job.message = fraction, message

        try:
            measure_folder(job.folder, progress, lambda: job.cancelled.is_set() or self._owner_gone(job))
            job.status, job.fraction = DONE, 1.0
        except MeasureError as err:
            job.status, job.error = FAILED, str(err)
        except Exception as err:  # a job must end with a status the page can show, never a crash
            log.exception("measuring %s failed", job.folder)
            job.status, job.error = FAILED, f"{type(err).__name__}: {err}"

    def _owner_gone(self, job: MeasureJob) -> bool:
        """The session that started the job has been away for GRACE_S: its tab was closed."""
        if job.owner is None:
            return False
        from streamlit import runtime

        if not runtime.exists() or runtime.get_instance().is_active_session(job.owner):
            job.away_since = None
            return False
        job.away_since = job.away_since or time.monotonic()
        return time.monotonic() - job.away_since > GRACE_S

    def cancel(self, folder) -> None:
        job = self.job_for(folder)
        if job is not None and job.running:
            job.cancelled.set()


@st.cache_resource(show_spinner=False)
def shared_measurements() -> Measurements:
    return Measurements()


def measure_unmeasured(listed: list[models.ModelInfo]) -> None:
    """Start measuring every listed folder without numbers (dropped in by hand) whose dataset is here."""
    from .training import shared_registry  # local: training imports the page's heavy pieces

    jobs, trainings = shared_measurements(), shared_registry()
    for info in listed:
        # a folder with a job (running, failed or stopped) is left alone: this runs on every rerun of every page,
        # and start() hashes the folder's weights (an imported zip: up to 512 MB); Measure again retries one
        if (info.error is None and not info.read_only and "elbo" not in info.metrics
                and jobs.job_for(info.path) is None and not trainings.is_training(info.path)):
            jobs.start(info.path)


def session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else None


def status_text(info: models.ModelInfo) -> str | None:
    """"measuring 40 %" / "not measured: why" for a listed model, or None when there is nothing to say."""
    job = shared_measurements().job_for(info.path)
    if job is None or "elbo" in info.metrics and not job.running:
        return None
    if job.running:
        return f"{RUNNING} {job.fraction:.0%}"
    return f"{FAILED}: {job.error}" if job.status == FAILED else None


def progress_panel(folder, where: str) -> None:
    """While `folder` is being measured: its progress and a Cancel button, redrawn every second (a fragment);
    when it ends, the whole page runs again so every list shows the numbers (or why there are none). `where` keeps
    the widgets of two panels for one folder (the sidebar's, a page's) apart."""
    job = shared_measurements().job_for(folder)
    if job is None or not job.running:
        return

    @st.fragment(run_every=1.0)
    def panel() -> None:
        current = shared_measurements().job_for(folder)
        if current is None or not current.running:
            st.rerun()
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.progress(min(max(current.fraction, 0.0), 1.0),
                      text=f"Measuring {Path(folder).name} on its test split: {current.message}")
        right.button("Cancel", key=f"measure_cancel::{where}::{folder}", on_click=shared_measurements().cancel,
                     args=(folder,), help="Stop measuring; the model stays usable, without numbers")
    panel()
