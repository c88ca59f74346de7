"""What a server does once when it starts: remove what earlier servers left behind. A kill during an import or a
bring leaves a hidden staging folder, a kill before a first epoch an empty model folder, and a stopped server its
published files (models/registry.remove_leftovers, components/served.prune_orphans)."""
from __future__ import annotations

import logging
import threading

from vae_core import models

from .components import served

log = logging.getLogger("vae_explorer")
_done = threading.Event()


def once_per_process() -> None:
    if _done.is_set():
        return
    _done.set()
    removed = models.remove_leftovers() + served.prune_orphans()
    if removed:
        log.info("removed what earlier servers left behind: %s", ", ".join(removed))


def forget_model(path) -> None:
    """After a model folder was deleted: drop its results and the files only they used (its display decoder, its
    maps, its lens, its atlas unless another model shows the same one)."""
    from . import loaders

    served.forget(loaders.forget_model(path))
