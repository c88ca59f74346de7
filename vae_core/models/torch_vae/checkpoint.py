"""A model is a self-describing folder; this module saves, loads, lists, deletes and zips such folders.

    config.json            VAEConfig.to_json()
    model.safetensors      the state_dict (safetensors only: loading never runs pickle)
    metrics.json           evaluation numbers (dict)
    train.json             training settings + per-epoch "history"
    optimizer.safetensors  optional resume state (tensors + JSON skeleton in the metadata: state_codec.py)
    cache/<weights-hash>/  derived data (latents, projections), keyed by the weights so it can never go stale

Every file is written atomically (temp file in the same folder, fsync, os.replace), so a crash or kill -9
mid-save leaves the previous epoch's files intact.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from . import folder_files, paths
from .errors import CheckpointError
from .files import TEMP_PREFIX, TEMP_SUFFIX, atomic_write, to_builtin
from .model import VAE, VAEConfig
from .state_codec import decode_training_state, encode_training_state

CONFIG, WEIGHTS, METRICS, TRAIN, OPTIMIZER, CACHE = (
    "config.json", "model.safetensors", "metrics.json", "train.json", "optimizer.safetensors", "cache")
ONNX_MANIFEST = "vae.json"  # marks an ONNX model folder (onnx_vae/): listed and loaded, never trained
ONNX_OWN_SUFFIXES = (".onnx", ".json", ".data", ".bin", ".weights", ".pb")  # what onnx_vae.importing writes
KNOWN_ENTRIES = {CONFIG, WEIGHTS, METRICS, TRAIN, OPTIMIZER, CACHE}


@dataclass
class LoadedModel:
    model: VAE
    config: VAEConfig
    metrics: dict
    train_info: dict
    path: Path
    weights_hash: str

    @property
    def cache_folder(self) -> Path:
        """Where derived data for exactly these weights is written; callers create it when they first write there.
        A shipped (read-only) model's new caches go to $VAE_CACHE_DIR, never into pretrained/."""
        if self.read_only:
            return paths.cache_dir() / "shipped" / self.path.name / self.weights_hash
        return self.path / CACHE / self.weights_hash

    @property
    def cache_folders(self) -> list[Path]:
        """Where cached data is looked for, first hit wins: a shipped model's own cache (read, never written), then
        `cache_folder`."""
        shipped = [self.path / CACHE / self.weights_hash] if self.read_only else []
        return shipped + [self.cache_folder]

    @property
    def read_only(self) -> bool:
        return is_read_only(self.path)


@dataclass
class ModelInfo:
    path: Path
    name: str
    dataset: str
    latent_dim: int
    epochs: int
    metrics: dict
    read_only: bool
    modified: float
    error: str | None = None  # a broken folder is listed with its problem, not hidden
    notes: list[str] = field(default_factory=list)  # fields of metrics.json / train.json that were ignored
    source: str = "ours"      # "ours" (config.json + safetensors) or "onnx" (vae.json + two graphs, trained elsewhere)


def holds_model(folder) -> bool:
    """A model (or the start of one) is saved in `folder`: training there must resume or choose another folder."""
    folder = Path(folder)
    return any((folder / name).exists() for name in (CONFIG, WEIGHTS, ONNX_MANIFEST))  # an ONNX model's folder too


def is_read_only(folder) -> bool:
    """Pretrained models ship with the app: never overwritten or deleted from it."""
    return Path(folder).resolve().is_relative_to(Path(paths.PRETRAINED_DIR).resolve())


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


def _read_json(path: Path) -> dict:
    """metrics.json / train.json: a missing file is {}, a corrupt one is an error naming it."""
    return folder_files.read_json_object(path)


def _read_metrics(folder: Path) -> tuple[dict, list[str]]:
    return folder_files.clean_metrics(_read_json(folder / METRICS))


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


def load_model(folder) -> LoadedModel:
    """A model folder of either kind: ours, or an ONNX encoder/decoder pair with its vae.json."""
    from . import onnx_vae  # local: onnx_vae builds on this module

    return onnx_vae.load_onnx_model(folder) if onnx_vae.is_onnx_folder(folder) else load_checkpoint(folder)


def load_checkpoint(folder, device: str = "cpu") -> LoadedModel:
    """One of our models, e.g. to train it further; an ONNX folder is refused with what to do instead."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"model folder {folder} does not exist; pick one from the model list")
    if (folder / ONNX_MANIFEST).is_file():
        from .onnx_vae import train_refusal

        raise CheckpointError(train_refusal(folder))
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
    return LoadedModel(model=model, config=config, metrics=_read_metrics(folder)[0],
                       train_info=_read_json(folder / TRAIN), path=folder,
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
    if (Path(folder) / ONNX_MANIFEST).is_file():  # an ONNX folder: the hash of its graphs and manifest
        from .onnx_vae.loader import folder_hash

        return folder_hash(folder)
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
def _describe(folder: Path) -> ModelInfo:
    """One folder's entry. Never raises: whatever is wrong with the folder becomes its `error`, so one bad
    folder cannot take the list (and with it every page's sidebar) down."""
    info = ModelInfo(path=folder, name=folder.name, dataset="", latent_dim=0, epochs=0, metrics={},
                     read_only=False, modified=0.0)
    try:
        info.read_only = is_read_only(folder)
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
        info.metrics, notes = _read_metrics(folder)
        info.epochs, epoch_notes = folder_files.epochs_trained(_read_json(folder / TRAIN))
        info.notes = notes + epoch_notes
    except CheckpointError as err:
        info.error = str(err)
    except Exception as err:  # noqa: BLE001 - anything else a hand-made folder can trigger is still its own fault
        info.error = f"{folder} cannot be read as a model ({type(err).__name__}: {err})"
    return info


def _describe_any(folder: Path) -> ModelInfo:
    """One folder's entry, ours or ONNX. Never raises: one bad folder must not take the list (every page) down."""
    if (folder / ONNX_MANIFEST).exists():
        from .onnx_vae import loader

        try:
            return loader.describe(folder)
        except Exception as err:  # noqa: BLE001 - whatever is wrong becomes the entry's error
            return ModelInfo(path=folder, name=folder.name, dataset="", latent_dim=0, epochs=0, metrics={},
                             read_only=False, modified=0.0, error=f"{type(err).__name__}: {err}", source="onnx")
    return _describe(folder)


def list_models(dirs: list[Path] | None = None) -> list[ModelInfo]:
    """Model folders (those holding config.json or model.safetensors) in `dirs`, newest first per dir."""
    found: list[ModelInfo] = []
    for parent in dirs if dirs is not None else [paths.models_dir(), paths.PRETRAINED_DIR]:
        parent = Path(parent)
        try:
            folders = [p for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")
                       and ((p / CONFIG).exists() or (p / WEIGHTS).exists() or (p / ONNX_MANIFEST).exists())]
        except OSError:  # missing or unreadable: nothing to list there
            continue
        found.extend(sorted((_describe_any(p) for p in folders), key=lambda m: (-m.modified, m.name)))
    return found


# --- delete / zip / naming -----------------------------------------------------------------------
def delete_model(folder) -> None:
    """Delete a user's model folder; refuse pretrained folders and anything that is not a model folder."""
    folder = Path(folder)
    if is_read_only(folder):
        raise CheckpointError(f"{folder} is a pretrained model shipped with the app; it cannot be deleted")
    if folder.is_symlink() or not folder.is_dir():
        raise CheckpointError(f"{folder} is not a model folder (missing or a link); nothing was deleted")
    entries = {p.name for p in folder.iterdir()}
    if ONNX_MANIFEST in entries:  # an imported ONNX folder: its graphs and their external weights are its own
        entries = {n for n in entries if not n.endswith(ONNX_OWN_SUFFIXES)} | {CONFIG}
    foreign = sorted(n for n in entries - KNOWN_ENTRIES
                     if not (n.startswith(TEMP_PREFIX) and n.endswith(TEMP_SUFFIX)))
    if not entries & {CONFIG, WEIGHTS} or foreign:
        why = f"it holds other files ({', '.join(foreign[:5])})" if foreign and entries & {CONFIG, WEIGHTS} \
            else f"it has no {CONFIG}/{WEIGHTS}"
        raise CheckpointError(f"{folder} does not look like a model folder: {why}; nothing was deleted, "
                              "remove it by hand if you are sure")
    shutil.rmtree(folder)


def zip_model(folder) -> bytes:
    """The folder as a zip (entries under "<name>/"), without cache/ and optimizer state: for sharing."""
    folder = Path(folder)
    onnx = (folder / ONNX_MANIFEST).is_file()
    for required in (ONNX_MANIFEST, "encoder.onnx", "decoder.onnx") if onnx else (CONFIG, WEIGHTS):
        if not (folder / required).is_file():
            raise CheckpointError(f"{folder / required} is missing; only complete model folders can be zipped")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if (not path.is_file() or relative.parts[0] in (CACHE, OPTIMIZER)
                    or any(part.startswith(".") for part in relative.parts)):
                continue
            archive.write(path, f"{folder.name}/{relative.as_posix()}")
    return buffer.getvalue()


def _safe_name(base_name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in base_name.strip()).strip(".-")
    return cleaned or "model"


def unique_model_dir(base_name: str, parent=None) -> Path:
    """A new, empty folder `<parent>/<base>-<n>` with the smallest free n ≥ 1, created now.

    Creating it reserves the name, so two trainings started at once never share (and overwrite) a folder.
    """
    parent = Path(parent) if parent is not None else paths.models_dir()
    parent.mkdir(parents=True, exist_ok=True)
    base = _safe_name(base_name)
    for n in range(1, 100_000):
        candidate = parent / f"{base}-{n}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise CheckpointError(f"no free folder name for {base!r} in {parent}; delete some old models")


def prune_stale_caches(folder) -> list[str]:
    """Delete cache/<hash>/ folders of weights the folder no longer holds (a resumed model's old maps and
    encodings); returns the names removed. Nothing is removed when the current weights cannot be read."""
    cache = Path(folder) / CACHE
    try:
        current = weights_hash(folder)
        stale = [p for p in cache.iterdir() if p.is_dir() and not p.is_symlink() and p.name != current]
    except (CheckpointError, OSError):
        return []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in stale]
