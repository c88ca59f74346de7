"""Our model format: a self-describing folder that this module saves and loads (models/registry.py lists, deletes
and zips folders of every format).

    config.json            VAEConfig.to_json()
    model.safetensors      the state_dict (safetensors only: loading never runs pickle)
    metrics.json           evaluation numbers (dict)
    train.json             training settings + per-epoch "history"
    optimizer.safetensors  optional resume state (tensors + JSON skeleton in the metadata: state_codec.py)
    cache/<weights-hash>/  derived data (latents, projections), keyed by the weights so it can never go stale
    snapshots/             optional: the training's kept epochs, the movie's frames (models/snapshots.py)

Every file is written atomically (temp file in the same folder, fsync, os.replace), so a crash or kill -9
mid-save leaves the previous epoch's files intact.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from ...errors import CheckpointError
from ...files import TEMP_PREFIX, TEMP_SUFFIX, atomic_write, to_builtin
from .. import folder as folder_files
from ..base import LoadedModel, ModelInfo
from ..folder import CACHE, METRICS, SNAPSHOTS, TRAIN
from .model import VAE, VAEConfig
from .state_codec import decode_training_state, encode_training_state

CONFIG, WEIGHTS, OPTIMIZER = "config.json", "model.safetensors", "optimizer.safetensors"
OWN_FILES = {CONFIG, WEIGHTS, METRICS, TRAIN, OPTIMIZER, CACHE, SNAPSHOTS}


def _fsync_dir(folder: Path) -> None:
    try:  # makes the renames themselves durable; not every filesystem lets us open a directory
        fd = os.open(folder, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    except OSError:
        pass


def _to_json(data: dict) -> bytes:
    return json.dumps(data, indent=2, default=to_builtin).encode()


# --- save / load ---------------------------------------------------------------------------------
def save_checkpoint(folder, model: VAE, metrics: dict | None = None, train_info: dict | None = None,
                    training_state: dict | None = None) -> Path:
    """Write (or overwrite, file by file, atomically) a model folder and return its path.

    Order: optimizer state, weights, config, train.json, metrics.json, so metrics never describe weights that
    are not on disk. None for metrics/train_info writes {}: stale numbers must not sit beside new weights.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)  # a DDP-wrapped model saves the plain VAE's keys
    for stale in folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):  # left by an earlier kill -9
        stale.unlink(missing_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    weights = save_safetensors_bytes(state, metadata={"format": "pt"})
    new_hash = hashlib.sha256(weights).hexdigest()[:16]
    if training_state is not None:
        atomic_write(folder / OPTIMIZER, encode_training_state(training_state, new_hash), durable=True)
    atomic_write(folder / WEIGHTS, weights, durable=True)
    atomic_write(folder / CONFIG, model.config.to_json().encode(), durable=True)
    atomic_write(folder / TRAIN, _to_json(train_info or {}), durable=True)
    atomic_write(folder / METRICS, _to_json(metrics or {}), durable=True)
    _fsync_dir(folder)
    return folder


def _missing(path: Path) -> CheckpointError:
    return CheckpointError(f"{path} is missing; a model folder needs {CONFIG} and {WEIGHTS}")


def _read_config(folder: Path) -> VAEConfig:
    path = folder / CONFIG
    try:
        text = folder_files.read_text(path, folder_files.CONFIG_CAP)
    except FileNotFoundError:
        raise _missing(path) from None
    try:
        return VAEConfig.from_json(text)
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from None
    except RecursionError:
        raise CheckpointError(f"{path} is nested too deeply to be a config") from None


def _not_safetensors(folder: Path, err: Exception) -> CheckpointError:
    return CheckpointError(f"{WEIGHTS} in {folder} is not a valid safetensors file ({err}); only safetensors "
                           "weights are accepted (pickled .pt/.pth files are refused), re-save or re-train it")


def _check_shapes(folder: Path, expected: dict[str, tuple], found: dict[str, tuple]) -> None:
    """Name the first few mismatched keys, so a wrong config or a foreign file is easy to recognise."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    wrong = [f"{k} {tuple(found[k])} vs config {tuple(expected[k])}"
             for k in expected if k in found and tuple(found[k]) != tuple(expected[k])]
    problems = [f"{label}: {', '.join(items[:3])}{' …' if len(items) > 3 else ''}"
                for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
                if items]
    if problems:
        raise CheckpointError(f"{WEIGHTS} in {folder} does not match its {CONFIG} ({'; '.join(problems)}); "
                              "the weights belong to another configuration")


def load_checkpoint(folder, device: str = "cpu") -> LoadedModel:
    """One of our models (registry.load_for_training refuses other formats first, with what to do instead)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"model folder {folder} does not exist; pick one from the model list")
    config = _read_config(folder)
    weights_path = folder / WEIGHTS
    try:  # one read: the hash is of exactly the bytes we load
        data = folder_files.read_bytes(weights_path, folder_files.WEIGHTS_CAP)
    except FileNotFoundError:
        raise _missing(weights_path) from None
    try:
        state = load_safetensors_bytes(data)
    except (SafetensorError, ValueError, RuntimeError, TypeError) as err:
        raise _not_safetensors(folder, err) from None
    model = VAE(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    _check_shapes(folder, expected, {k: tuple(v.shape) for k, v in state.items()})
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{WEIGHTS} in {folder} holds NaN/inf values (in {', '.join(bad[:3])}); "
                              "the run diverged; train again with a lower learning rate")
    model.load_state_dict(state)
    model.to(device).eval()
    return LoadedModel(model=model, metrics=folder_files.read_metrics(folder)[0],
                       train_info=folder_files.read_json_object(folder / TRAIN), path=folder,
                       weights_hash=hashlib.sha256(data).hexdigest()[:16])


def load_training_state(folder) -> dict | None:
    """The training_state saved with the current weights, for resuming; None when absent.

    Also None (with a warning) when it was written for other weights, i.e. a save was interrupted between
    optimizer.safetensors and model.safetensors: resuming then needs a fresh optimizer, not a wrong one.
    """
    folder = Path(folder)
    path = folder / OPTIMIZER
    if not path.exists():
        return None
    folder_files.check_regular(path, folder_files.WEIGHTS_CAP)
    state, saved_for = decode_training_state(path)
    if saved_for != weights_hash(folder):
        warnings.warn(f"{path} belongs to other weights (interrupted save); ignoring it")
        return None
    return state


def weights_hash(folder) -> str:
    """First 16 hex digits of the sha256 of model.safetensors: the key of the folder's cache."""
    path = Path(folder) / WEIGHTS
    digest = hashlib.sha256()
    try:
        folder_files.check_regular(path, folder_files.WEIGHTS_CAP)
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        raise CheckpointError(f"{path} cannot be read ({err})") from None
    return digest.hexdigest()[:16]


# --- the model list ------------------------------------------------------------------------------
def describe(folder: Path) -> ModelInfo:
    """One folder's entry. Never raises: whatever is wrong with the folder becomes its `error`, so one bad
    folder cannot take the list (and with it every page's sidebar) down."""
    info = ModelInfo.blank(folder, VAE.kind)
    try:
        info.read_only = folder_files.is_read_only(folder)
        weights_path = folder / WEIGHTS
        info.modified = (weights_path if weights_path.exists() else folder).stat().st_mtime
        config = _read_config(folder)
        info.dataset, info.latent_dim = config.dataset, config.latent_dim
        try:
            folder_files.check_regular(weights_path, folder_files.WEIGHTS_CAP)
        except FileNotFoundError:
            raise _missing(weights_path) from None
        try:  # reads only the header: cheap even for many models
            with safe_open(weights_path, "pt") as handle:
                found = {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}  # noqa: SIM118 - a safetensors handle, not a dict
        except (SafetensorError, OSError, ValueError) as err:
            raise _not_safetensors(folder, err) from None
        with torch.device("meta"):  # shapes only: no memory, no init cost
            expected = {k: tuple(v.shape) for k, v in VAE(config).state_dict().items()}
        _check_shapes(folder, expected, found)
        info.metrics, notes = folder_files.read_metrics(folder)
        info.epochs, epoch_notes = folder_files.epochs_trained(folder_files.read_json_object(folder / TRAIN))
        info.notes = notes + epoch_notes
    except CheckpointError as err:
        info.error = str(err)
    except Exception as err:  # noqa: BLE001 - anything else a hand-made folder can trigger is still its own fault
        info.error = f"{folder} cannot be read as a model ({type(err).__name__}: {err})"
    return info


class TorchFormat:
    """Our format, as models/registry.py sees it."""
    kind, marker, required = VAE.kind, CONFIG, (CONFIG, WEIGHTS)

    @staticmethod
    def own_file(name: str) -> bool:
        return name in OWN_FILES

    load = staticmethod(load_checkpoint)
    read_config = staticmethod(lambda folder: _read_config(Path(folder)))
    describe = staticmethod(describe)
    weights_hash = staticmethod(weights_hash)

    @staticmethod
    def training_refusal(folder: Path) -> str | None:
        return None


FORMAT = TorchFormat()
