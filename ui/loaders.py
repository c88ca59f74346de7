"""Cached loaders, shared by every page: datasets, models, and the heavy results built from them (encoded splits,
projections, placers), plus `Current`, one selection's lazy access to them (ui/selection.py builds it).

Big read-only things live in `st.cache_resource` or `memo`: shared across sessions, never copied. Keys include the
model's weights hash, so a retrained model invalidates them. No session state is read here.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import streamlit as st

from vae_core import data, models
from vae_core.data import roots
from vae_core.errors import VAEError
from vae_core.map import encodings, projection
from vae_core.map.cache import Cache
from vae_core.map.placement import Placer
from vae_core.map.projection import ProjectionSpec

from . import preload
from .jobs import Job, shared_jobs


@st.cache_resource(show_spinner="Loading dataset…", max_entries=4)
def get_dataset(name: str, image_shape: tuple = (1, 28, 28)) -> data.Dataset:
    """`image_shape` only matters for folder datasets: their pictures are fitted to the model's input."""
    roots.check_app_dataset(name)  # folders and zips only from the data roots (a config names any path)
    return data.load_dataset(name, image_shape=tuple(image_shape))


def dataset_for(loaded: models.LoadedModel, name: str | None = None) -> data.Dataset:
    """The dataset a model was made for (`name` when its config names none), checked to hold images of the model's
    input shape: a VAEError naming both otherwise."""
    shape = tuple(loaded.config.image_shape)
    name = loaded.config.dataset or name
    dataset = get_dataset(name, shape)
    if dataset.image_shape != shape:
        raise VAEError(f"Model {loaded.path.name} expects images of shape {shape} but dataset {name} has "
                       f"{dataset.image_shape}.")
    return dataset


@st.cache_resource(show_spinner="Loading model…", max_entries=8)
def _load_model(path: str, mtime: float) -> models.LoadedModel:
    loaded = models.load_model(path)  # ours or an ONNX pair: the same interface from here on
    loaded.model.eval()
    return loaded


def get_model(path: str | Path) -> models.LoadedModel:
    """The model in `path`; newer weights (retrained, resumed, a replaced ONNX file) reload it."""
    files = [Path(path) / name for name in ("model.safetensors", "encoder.onnx", "decoder.onnx", "vae.json")]
    mtime = max((f.stat().st_mtime for f in files if f.exists()), default=0.0)
    return _load_model(str(path), mtime)


class _Results:
    """Heavy results shared by all sessions: {key: value}, with one lock per key being computed. Two sessions asking
    for the same result wait for one computation; different results run side by side (one global lock made a
    small model's map wait minutes behind another session's 70k-point UMAP)."""

    def __init__(self):
        self.values: dict = {}
        self._locks: dict = {}
        self._guard = threading.Lock()  # held only for dict bookkeeping, never while computing

    def lock_for(self, key) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(key, threading.RLock())

    def put(self, key, value) -> None:
        with self._guard:
            if len(self.values) >= MAX_RESULTS:
                self.values.pop(next(iter(self.values)))
            self.values[key] = value
            self._locks.pop(key, None)  # waiters still hold it; later callers find the value


@st.cache_resource(show_spinner=False)
def _results() -> _Results:
    """A plain store, not a cached function per result, so a progress bar can be drawn while computing (cached
    functions replay their elements on a hit)."""
    return _Results()


MAX_RESULTS = 48


def _urls(value) -> set[str]:
    """The static files' URLs a memoised result holds (strings, in dicts, lists and tuples)."""
    if isinstance(value, str):
        return {value} if value.startswith("app/static/") else set()
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return set().union(*(_urls(item) for item in value)) if value else set()
    return set()


def forget_model(path) -> set[str]:
    """Drop every result computed for the model in `path` (a deleted model); returns the URLs of the files only
    those results used (ui/components/served.forget deletes them; a file another model still uses stays)."""
    store, path = _results(), str(path)
    with store._guard:
        gone = {key: value for key, value in store.values.items() if path in key}
        for key in gone:
            del store.values[key]
        kept = _urls(list(store.values.values()))
    return _urls(list(gone.values())) - kept


def memo(key: tuple, compute, title: str | None = None):
    """`compute(progress)` once per key across sessions; with a progress bar titled `title` while it runs. A caller
    arriving while a background job (`memo_or_start`) computes the key waits for that job, showing its progress."""
    store = _results()
    if key in store.values:
        return store.values[key]
    job = shared_jobs().get(key)
    if title and job is not None and job.running and not preload.holding():  # (else: the job waits for us)
        _wait_for(job, title)
    with store.lock_for(key):
        value = store.values.get(key, _MISSING)
        if value is _MISSING:
            value = _with_progress(title, compute) if title else compute(None)
            store.put(key, value)
        return value


_MISSING = object()


def memo_or_start(key: tuple, compute, title: str, cached=None) -> tuple[object | None, Job | None]:
    """(value, None) when the result is ready: memoised, or found by `cached()` (a cache file: milliseconds); else
    (None, the background job computing it), started here unless one runs for this key already, in any session.
    `compute(progress)` runs in the job's thread: give it plain values, not Streamlit calls. A failed job is returned
    as it is (its error shown by the page) until `retry(key)`."""
    store = _results()
    if key in store.values:
        return store.values[key], None
    job = shared_jobs().get(key)
    if job is None or not job.running:
        found = cached() if cached is not None else None
        if found is not None:
            store.put(key, found)
            return found, None

    def run(progress) -> None:
        with store.lock_for(key):  # a synchronous `memo` of this key meanwhile waits here, then finds the value
            if key not in store.values:
                store.put(key, compute(progress))
    job = shared_jobs().start(key, run, title)
    if key in store.values:  # it ended between the two looks
        return store.values[key], None
    return None, job


def retry(key: tuple) -> None:
    """Start a failed job again (a page's "Try again" button); the next run finds it running."""
    job = shared_jobs().get(key)
    if job is not None and not job.running:
        shared_jobs().start(key, job.compute, job.title, again=True)


def _wait_for(job: Job, title: str) -> None:
    """Block until `job` ends, with its progress drawn here (the bar disappears when it is done)."""
    holder = st.empty()
    try:
        while not job.ended.wait(0.25):
            holder.progress(job.fraction, text=f"{title}: {job.message}")
    finally:
        holder.empty()


def _encoded(path: str, weights_hash: str, dataset_name: str, split: str) -> encodings.EncodedSplit:
    return memo(("encoded", path, weights_hash, dataset_name, split),
                lambda cb: encodings.encode_split(get_model(path), _dataset_for(path, dataset_name), split,
                                                  progress=cb),
                "Encoding the dataset with the model")


def _fit_map(cache: Cache, name: str, latents: np.ndarray, spec: ProjectionSpec):
    """The projection as a compute(progress) of plain values (it may run in a background job's thread)."""
    def compute(cb) -> np.ndarray:
        coords = projection.cached_projection(cache, name, latents, spec, progress=cb)
        coords.setflags(write=False)
        return coords
    return compute


def _projection(path: str, weights_hash: str, dataset_name: str, split: str, spec: ProjectionSpec) -> np.ndarray:
    def compute(cb):
        encoded = _encoded(path, weights_hash, dataset_name, split)
        name = projection.split_map_name(dataset_name, split)
        return _fit_map(Cache.of(get_model(path)), name, encoded.mu, spec)(cb)
    return memo(("projection", path, weights_hash, dataset_name, split, spec), compute,
                f"Computing the {spec.method.upper()} map")


# Shown while a slow projection is computed in the background: PCA is one SVD (~0.1 s for 70,000 points), and it
# keeps the map's rows, so a pick and a selection mean the same points once the requested map replaces it.
STAND_IN = "pca"
SLOW_METHODS = ("umap",)


def _map_now(cur: Current, spec: ProjectionSpec) -> tuple[ProjectionSpec, Job | None]:
    """`spec` when its map is ready (computed, or in the model's cache: a shipped map is used as it is), else the
    stand-in's spec and the job computing `spec`'s map (started here, or the one another session started)."""
    if spec.method not in SLOW_METHODS:
        return spec, None
    key = ("projection", *cur.key, spec)
    loaded, name = cur.loaded, projection.split_map_name(cur.dataset.name, cur.split)
    mu = cur.encoded().mu
    found, job = memo_or_start(key, _fit_map(Cache.of(loaded), name, mu, spec),
                               f"The {spec.dims}-D {spec.method.upper()} map",
                               cached=lambda: projection.cached_only(Cache.of(loaded), name, mu, spec))
    if found is not None:
        return spec, None
    return ProjectionSpec(method=STAND_IN, dims=spec.dims), job


def _placer(path: str, weights_hash: str, dataset_name: str, split: str, spec: ProjectionSpec) -> Placer:
    return memo(("placer", path, weights_hash, dataset_name, split, spec),
                lambda cb: Placer(_encoded(path, weights_hash, dataset_name, split).mu,
                                  _projection(path, weights_hash, dataset_name, split, spec)))


def _dataset_for(path: str, dataset_name: str) -> data.Dataset:
    return get_dataset(dataset_name, tuple(get_model(path).config.image_shape))


@dataclass(frozen=True)
class Current:
    """What the sidebar and the Map selected, with lazy access to the heavy cached pieces. Built once per run,
    after the page's own choices are known (`current(spec, split)`); never changed afterwards."""
    loaded: models.LoadedModel
    dataset: data.Dataset
    split: str
    spec: ProjectionSpec                    # the map shown: the one asked for, or the stand-in while it is computed
    requested: ProjectionSpec | None = None  # the map asked for, while `spec` stands in for it (see `with_map_now`)

    @property
    def key(self) -> tuple:
        return (str(self.loaded.path), self.loaded.weights_hash, self.dataset.name, self.split)

    def images(self) -> tuple[np.ndarray, np.ndarray]:
        # memo: the "all" split concatenates 70,000 images (~55 MB); done once, not on every page rerun
        return memo(("images", self.dataset.name, self.split),
                    lambda cb: encodings.split_images(self.dataset, self.split))

    def encoded(self) -> encodings.EncodedSplit:
        return _encoded(*self.key)

    def coords(self, spec: ProjectionSpec | None = None) -> np.ndarray:
        return _projection(*self.key, spec or self.spec)

    def placer(self, spec: ProjectionSpec | None = None) -> Placer:
        return _placer(*self.key, spec or self.spec)

    def map_now(self, spec: ProjectionSpec) -> tuple[ProjectionSpec, Job | None]:
        """`spec` if its map is ready, else (the stand-in's spec, the background job computing `spec`'s map)."""
        return _map_now(self, spec)

    def with_map_now(self) -> Current:
        """This selection showing the map that is ready now: its own, or the stand-in while its own is computed."""
        shown, job = _map_now(self, self.spec)
        return self if job is None else replace(self, spec=shown, requested=self.spec)

    @property
    def pending(self) -> Job | None:
        """The background job computing the requested map, while the stand-in is shown."""
        return shared_jobs().get(("projection", *self.key, self.requested)) if self.requested else None


def _with_progress(title: str, compute):
    """Run a cached computation with a progress bar that disappears when done (and is never seen on a hit)."""
    holder = st.empty()
    bar = {}

    def report(fraction: float, message: str = ""):
        if "bar" not in bar:
            bar["bar"] = holder.progress(0.0, text=title)
        bar["bar"].progress(min(max(float(fraction), 0.0), 1.0), text=f"{title}: {message}" if message else title)

    try:
        return compute(report)
    finally:
        holder.empty()


def rows_in_split(dataset_name: str, split: str) -> int:
    """How many rows a split has, without building it (the "all" split would concatenate 70,000 images)."""
    dataset = get_dataset(dataset_name)
    return len(dataset.test_labels) + (len(dataset.train_labels) if split == "all" else 0)


def n_classes(dataset_name: str) -> int:
    return len(get_dataset(dataset_name).class_names)
