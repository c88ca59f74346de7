"""Training state (optimizer state_dict, RNG states, counters) <-> safetensors bytes, without pickle.

Tensors and arrays go into the safetensors file; everything else becomes a JSON skeleton with holes
({"__tensor__": key}) stored in the file's metadata, beside the hash of the weights it belongs to.
Reading it back therefore never runs pickle, so a shared model folder cannot execute code.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors_bytes

from ...errors import CheckpointError

FORMAT = "vae-explorer-training-state"


def _flatten_state(value, key: str, tensors: dict):
    """Tensors go to `tensors` under a dotted key; the rest becomes JSON with {"__tensor__": key} holes."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        is_numpy = isinstance(value, np.ndarray)
        name = key or "value"
        while name in tensors:  # two paths that dot to the same string (keys containing ".")
            name += "_"
        tensors[name] = torch.as_tensor(value).detach().cpu().contiguous().clone()
        return {"__ndarray__" if is_numpy else "__tensor__": name}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {"__dict__": {k: _flatten_state(v, f"{key}.{k}".lstrip("."), tensors) for k, v in value.items()}}
        # optimizer.state_dict()["state"] is keyed by int parameter ids, which JSON objects cannot keep
        return {"__items__": [[k, _flatten_state(v, f"{key}.{k}".lstrip("."), tensors)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        items = [_flatten_state(v, f"{key}.{i}".lstrip("."), tensors) for i, v in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CheckpointError(f"training_state holds a {type(value).__name__} at {key!r}, which cannot be saved "
                          "without pickle; store tensors, arrays, numbers, strings, lists or dicts")


def _unflatten_state(value, tensors: dict):
    if isinstance(value, list):
        return [_unflatten_state(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return tensors[value["__tensor__"]]
    if "__ndarray__" in value:
        return tensors[value["__ndarray__"]].numpy()
    if "__tuple__" in value:
        return tuple(_unflatten_state(v, tensors) for v in value["__tuple__"])
    if "__items__" in value:
        return {k: _unflatten_state(v, tensors) for k, v in value["__items__"]}
    return {k: _unflatten_state(v, tensors) for k, v in value["__dict__"].items()}


def encode_training_state(training_state: dict, weights_hash: str) -> bytes:
    """safetensors bytes holding `training_state`, tagged with the hash of the weights it was saved with.

    Raises CheckpointError (before anything is written) for values that would need pickle.
    """
    tensors: dict = {}
    skeleton = _flatten_state(training_state, "", tensors)
    metadata = {"format": FORMAT, "weights_hash": weights_hash, "state": json.dumps(skeleton)}
    return save_safetensors_bytes(tensors, metadata=metadata)


def decode_training_state(path) -> tuple[dict, str | None]:
    """(training_state, the weights hash it was saved with) from a file written by encode_training_state."""
    path = Path(path)
    try:
        with safe_open(path, "pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 - a safetensors handle, not a dict
        state = _unflatten_state(json.loads(metadata["state"]), tensors)
    except (SafetensorError, ValueError, RuntimeError, KeyError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{path.name} in {path.parent} is not a valid training state ({err}); delete it to "
                              "resume with a fresh optimizer") from None
    return state, metadata.get("weights_hash")
