"""A model folder's measured numbers: the test split's ELBO split and IWAE bound written into its metrics.json, as
after our trainings, for a model that arrived from elsewhere (an uploaded zip, `bring`, a folder dropped in).
Numbers shown in the app are numbers this app measured.
"""
from __future__ import annotations

import json
import math

from . import metrics
from .data import Dataset
from .files import atomic_write
from .models import LoadedModel
from .models.folder import METRICS


def record_metrics(loaded: LoadedModel, dataset: Dataset) -> dict:
    """metrics.final_report on `dataset`'s test split into <folder>/metrics.json (atomic); numbers that can't be
    computed (a Gaussian without σ) are saved as null. Returns what was written."""
    result = metrics.final_report(loaded.model, dataset.test_images)
    result["dataset"] = dataset.name
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in result.items()}
    atomic_write(loaded.path / METRICS, json.dumps(clean, indent=2).encode())
    loaded.metrics = clean
    return clean
