"""A zipped ONNX model folder (uploaded in the app) -> a checked model folder in the models directory.

What an import may do, as these checks enforce it:
- write only the files the contract names: vae.json, encoder.onnx, decoder.onnx, and the external data files their
  graphs point at (never more bytes of one than the graphs read from it). Any other file is refused by name; a
  metrics.json is left out (the numbers shown are the ones this app measures). Nothing lands in cache/.
- read its pictures only inside the data roots: a vae.json naming a dataset elsewhere is refused;
- use no more disk than it holds, checked against the free space before anything is written;
- stage everything in a hidden folder, load it with every check (graph checks, the probe in a child process), and
  only then rename it into the list; a refusal or an error leaves nothing, a kill at most a hidden staging folder,
  which the next start removes (registry.remove_leftovers).
The zip is read in memory by the same traversal- and bomb-proof rules as picture zips (zips.py).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path, PurePosixPath

from ... import paths
from ...data import roots
from ...errors import CheckpointError, DataError
from ...files import new_dir_mode
from ...zips import UploadLimits, ZipRefusal, members, read_member, size_text
from ..folder import IMPORT_STAGING, METRICS, unique_model_dir
from .graph_checks import MAX_EXTERNAL_BYTES, MAX_GRAPH_BYTES, external_data
from .loader import DECODER, ENCODER, MANIFEST, load_onnx_model, read_manifest
from .manifest import MAX_MANIFEST_BYTES, parse_manifest

ZIP_LIMITS = UploadLimits(max_files=100, max_file_bytes=max(MAX_GRAPH_BYTES, MAX_EXTERNAL_BYTES),
                          max_zip_members=100, max_zip_total_bytes=2 * MAX_GRAPH_BYTES + MAX_EXTERNAL_BYTES)
LEFT_OUT = {METRICS}          # written by our own zips; measured again here instead
DISK_MARGIN = 200_000_000     # free space left after an import, for caches and the next save
# Trained weights are nearly incompressible (float32 noise: ~1.1x); a member bigger than this that deflates more than
# MAX_RATIO times is padding, not a network (a 515 kB zip held a 480 MB graph of zeros and cost the server 3.7 GB).
RATIO_FROM_BYTES, MAX_RATIO = 10_000_000, 20
CAPS = {MANIFEST: MAX_MANIFEST_BYTES, ENCODER: MAX_GRAPH_BYTES, DECODER: MAX_GRAPH_BYTES}


def _refused(name: str, problem: str) -> CheckpointError:
    return CheckpointError(f"{name}: {problem} Nothing was imported.")


def _root(name: str, listed: dict) -> PurePosixPath:
    """The folder holding vae.json: the model's root (a zip often wraps everything in one top folder)."""
    found = [path.parent for path in listed if path.name == MANIFEST]
    if len(found) != 1:
        raise _refused(name, f"it must hold exactly one model folder with {ENCODER}, {DECODER} and {MANIFEST} "
                             f"(found {len(found)} {MANIFEST} files).")
    return found[0]


def _plan(name: str, data: bytes) -> tuple[dict[str, bytes], dict[str, tuple]]:
    """({contract file: bytes}, {external data file: (ZipInfo, bytes its graphs read)}), every member accounted for
    (metrics.json left out: measured here); raises a CheckpointError naming the first thing refused."""
    archive, listed = members(name, data, ZIP_LIMITS)
    for path, info in listed.items():
        if info.file_size > RATIO_FROM_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _refused(name, f"{path} unpacks to {size_text(info.file_size)} from {size_text(info.compress_size)} "
                                 f"({info.file_size / max(info.compress_size, 1):,.0f} times): trained weights barely "
                                 "compress, so it is mostly padding.")
    root = _root(name, listed)
    inside = {str(path.relative_to(root)): info for path, info in listed.items() if path.is_relative_to(root)}
    outside = sorted(str(path) for path in listed if not path.is_relative_to(root))
    missing = [file for file in CAPS if file not in inside]
    if missing:
        raise _refused(name, f"its model folder has no {', '.join(missing)}.")
    contract = {file: read_member(archive, inside[file], f"{name}/{file}", CAPS[file]) for file in CAPS}
    wanted = {**external_data(contract[ENCODER]), **external_data(contract[DECODER])}  # file -> bytes read from it
    foreign = outside + sorted(f for f in inside if f not in CAPS and f not in wanted and f not in LEFT_OUT)
    if foreign:
        raise _refused(name, f"it holds {', '.join(foreign[:5])}{' …' if len(foreign) > 5 else ''}, not part of an "
                             f"ONNX model folder ({MANIFEST}, {ENCODER}, {DECODER} and the external data their graphs "
                             "read).")
    externals = {}
    for file, needed in wanted.items():
        if file not in inside:
            continue  # the graph check names a missing external file, with the tensor that needs it
        if inside[file].file_size > needed:
            raise _refused(name, f"{file} is {size_text(inside[file].file_size)}, but its graphs read only "
                                 f"{size_text(needed)} of it.")
        externals[file] = (inside[file], needed)
    return contract, {file: (archive, *entry) for file, entry in externals.items()}


def _check_dataset(name: str, manifest_text: bytes) -> None:
    """The pictures it names must be readable here: inside the data roots (located as the loader would)."""
    config = parse_manifest(manifest_text.decode("utf-8", errors="replace"))
    try:
        roots.check_app_dataset(config.dataset)
    except DataError as err:
        raise _refused(name, f"its {MANIFEST} names the dataset {config.dataset!r}: {err}") from None


def _check_disk(name: str, parent: Path, total: int) -> None:
    free = shutil.disk_usage(parent).free
    if free < total + DISK_MARGIN:
        raise _refused(name, f"it needs {size_text(total)} on disk and {parent} has {size_text(free)} free.")


def import_zip(name: str, data: bytes, parent=None) -> Path:
    """Check and install an uploaded model zip; returns the new model folder. Raises CheckpointError on refusal
    (an OSError on the way, a full disk or a name too long, becomes one too)."""
    parent = Path(parent) if parent is not None else paths.models_dir()
    try:
        contract, externals = _plan(name, data)
        _check_dataset(name, contract[MANIFEST])
        parent.mkdir(parents=True, exist_ok=True)
        _check_disk(name, parent, sum(map(len, contract.values())) + sum(n for _, _, n in externals.values()))
        return _install(name, parent, contract, externals)
    except ZipRefusal as err:
        raise _refused(name, str(err)) from None
    except OSError as err:
        raise _refused(name, f"it could not be written ({err.strerror or err}).") from None


def _install(name: str, parent: Path, contract: dict, externals: dict) -> Path:
    staging = Path(tempfile.mkdtemp(prefix=IMPORT_STAGING, dir=parent))  # hidden: never listed while checked
    try:
        staging.chmod(new_dir_mode())  # mkdtemp's 0700: a model folder is like every other
        for file, content in contract.items():
            (staging / file).write_bytes(content)
        for file, (archive, info, needed) in externals.items():
            target = staging / file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(read_member(archive, info, f"{name}/{file}", needed))
        try:
            load_onnx_model(staging)
        except CheckpointError as err:  # name the upload, not the hidden staging folder
            raise CheckpointError(str(err).replace(str(staging), name)) from None
        folder = unique_model_dir(PurePosixPath(name).stem or "onnx-model", parent)
        folder.rmdir()
        staging.rename(folder)
        read_manifest(folder)  # it is where it should be
        return folder
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
