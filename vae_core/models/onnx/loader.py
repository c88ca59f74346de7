"""An ONNX model folder (encoder.onnx, decoder.onnx, vae.json) -> a LoadedModel every page can use.

Order of the checks at load: the manifest's schema, each graph read safely (graph_checks.py), then a dummy batch
through both graphs in a child process bounded in time and memory (probe.py), and only then the real sessions.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from ...errors import CheckpointError
from .. import folder as folder_files
from ..base import LoadedModel, ModelInfo
from ..contract import DECODER_FILE as DECODER
from ..contract import ENCODER_FILE as ENCODER
from ..contract import MANIFEST_FILE as MANIFEST
from ..folder import METRICS
from . import graph_checks, layouts
from ..contract import NAMES
from .manifest import MAX_MANIFEST_BYTES, ManifestError, OnnxConfig, parse_manifest
from .runtime import OnnxVAE

OWN_SUFFIXES = (".onnx", ".json", ".data", ".bin", ".weights", ".pb")  # graphs, their external data, the manifest
PROBE_SCRIPT = Path(__file__).with_name("probe.py")
PROBE_TIMEOUT_S = 60.0            # import onnxruntime + one tiny batch: ~1 s; a minute even on a crowded machine
PROBE_MEMORY_BYTES = 3_000_000_000  # address space of the child, on top of 3x the graphs' size
TRAIN_REFUSAL = ("{name} is an ONNX model (vae.json): it was trained elsewhere and cannot be trained or resumed "
                 "here. Train one of ours on the same data instead: python -m vae_core train --dataset {dataset} "
                 "(or the Train page)")


def is_onnx_folder(folder) -> bool:
    return (Path(folder) / MANIFEST).is_file()


def train_refusal(folder) -> str:
    """The plain 'cannot train this' message, with the command that trains one of ours on the same data."""
    try:
        dataset = read_manifest(folder).dataset or "<dataset>"
    except CheckpointError:
        dataset = "<dataset>"
    return TRAIN_REFUSAL.format(name=Path(folder).name, dataset=dataset)


def read_manifest(folder) -> OnnxConfig:
    """vae.json, read defensively (a regular file within its cap: a FIFO named vae.json must not block the server),
    then parsed against the schema."""
    path = Path(folder) / MANIFEST
    try:
        text = folder_files.read_text(path, MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        raise ManifestError(f"{path} is missing; an ONNX model folder needs encoder.onnx, decoder.onnx and "
                            "vae.json") from None
    except CheckpointError as err:
        raise ManifestError(str(err)) from None
    return parse_manifest(text)


def dummy_run(config: OnnxConfig, encoder: bytes, decoder: bytes, names: dict | None = None) -> dict:
    """Run a small batch through both graphs in a child process: {"batch": their fixed batch sizes (None = free),
    "warnings": [...]} (a Gaussian decoder far outside input_range), or a CheckpointError saying what failed."""
    timeout_s, memory_bytes = PROBE_TIMEOUT_S, PROBE_MEMORY_BYTES  # read per call: a test may shorten them
    limit = int(memory_bytes + 3 * (len(encoder) + len(decoder)))
    spec = {"names": names or config.tensor_names, "image_shape": list(config.image_shape),
            "latent_dim": config.latent_dim, "likelihood": config.likelihood,
            "input_range": list(config.input_range), "memory_bytes": limit,
            "encoder_bytes": len(encoder), "decoder_bytes": len(decoder)}
    payload = json.dumps(spec).encode() + b"\n" + encoder + decoder
    try:
        done = subprocess.run([sys.executable, "-I", str(PROBE_SCRIPT)], input=payload, capture_output=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise CheckpointError(f"the test run of the model took longer than {timeout_s:.0f} s and was stopped; "
                              "a VAE's encoder and decoder run in milliseconds: check the exported graphs") from None
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {}
    if result.get("error") == "memory" or (not result and done.returncode != 0 and (
            b"MemoryError" in done.stderr or b"bad_alloc" in done.stderr or b"allocat" in done.stderr.lower())):
        raise CheckpointError(f"the test run of the model needed more than {limit / 1e9:.1f} GB of memory and was "
                              "stopped; a test batch of two images needs far less: check the exported graphs")
    if result.get("error"):
        error = result["error"]  # a question already names the fix; otherwise say where it lies
        raise CheckpointError(error if error.endswith("?") else f"{error}. Fix the export or vae.json")
    if not result.get("ok"):
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        raise CheckpointError(f"the test run of the model failed ({tail[0][:300]}); check the exported graphs")
    return result


def load_onnx_model(folder) -> LoadedModel:
    """All the checks, then the model. Raises a CheckpointError whose message names the problem and the fix."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"model folder {folder} does not exist; pick one from the model list")
    config = read_manifest(folder)
    encoder, decoder, names, notes = contract_graphs(folder, config)
    probed = dummy_run(config, encoder, decoder, names)
    model = OnnxVAE(encoder, decoder, config, probed["batch"], names=names).eval()
    return LoadedModel(model=model, metrics=folder_files.read_metrics(folder)[0], train_info={}, path=folder,
                       weights_hash=folder_hash(folder), notes=notes + probed.get("warnings", []))


def contract_graphs(folder: Path, config: OnnxConfig) -> tuple[bytes, bytes, dict, list[str]]:
    """(encoder, decoder, tensor names, notes): both graphs read safely and, when they are not in the contract's
    layout and names (vae.json's "layout"; names taken by position), adapted to it (layouts.py)."""
    graphs = {role: graph_checks.read_graph(folder / name) for role, name in (("encoder", ENCODER),
                                                                              ("decoder", DECODER))}
    for role, graph in graphs.items():
        layouts.resolve_names(graph, role, config.tensor_names)  # a graph whose names can't be resolved: refused
        hint = layouts.layout_hint(graph, role, config.layout, config.image_shape)
        if hint:
            raise graph_checks.GraphError(hint)
    if not any(layouts.needs_adapting(g, role, config.layout, config.tensor_names) for role, g in graphs.items()):
        return (graphs["encoder"].SerializeToString(), graphs["decoder"].SerializeToString(), config.tensor_names,
                [])
    notes = []
    for role, graph in graphs.items():
        found, by_position = layouts.resolve_names(graph, role, config.tensor_names)
        if by_position:
            named = ", ".join(f"{k} = {v}" for k, v in found.items())
            notes.append(f"{role}.onnx's tensors taken by position: {named}")
        graphs[role] = layouts.adapt_graph(graph, config.layout, role, config.image_shape, config.tensor_names)
    if config.layout != "NCHW":
        notes.append(f"graphs in layout {config.layout}, adapted to (N, C, H, W) at load")
    return graphs["encoder"].SerializeToString(), graphs["decoder"].SerializeToString(), dict(NAMES), notes


def folder_hash(folder) -> str:
    """16 hex digits over the folder's files (graphs, external weights, and the manifest, which decides what the
    numbers mean): the key of its cache/, like the weights hash of ours. metrics.json and cache/ are left out."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.name != METRICS:
            digest.update(path.name.encode() + b"\0")
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


_checked: dict[tuple, tuple[str | None, list[str]]] = {}  # file stats -> (refusal or None, notes): the list is
# redrawn often, and a load runs the probe


def _stats_key(folder: Path) -> tuple:
    key = [str(folder.resolve())]
    for name in (MANIFEST, ENCODER, DECODER):
        try:
            stat = (folder / name).stat()
            key.append((name, stat.st_size, stat.st_mtime_ns))
        except OSError:
            key.append((name, None))
    return tuple(key)


def check_folder(folder) -> tuple[str | None, list[str]]:
    """(None when the folder loads, else the message why not; what loading noted), remembered until one of its
    files changes."""
    folder = Path(folder)
    key = _stats_key(folder)
    if key not in _checked:
        try:
            _checked[key] = (None, load_onnx_model(folder).notes)
        except CheckpointError as err:
            _checked[key] = (str(err), [])
    return _checked[key]


def describe(folder) -> ModelInfo:
    """A model-list entry; a folder that fails any load check is listed with its problem, not hidden."""
    folder = Path(folder)
    newest = max(((folder / n).stat().st_mtime for n in (MANIFEST, ENCODER, DECODER) if (folder / n).exists()),
                 default=folder.stat().st_mtime)
    info = ModelInfo.blank(folder, OnnxVAE.kind, kind_label="ONNX", trainable=False)
    info.read_only, info.modified = folder_files.is_read_only(folder), newest
    try:
        config = read_manifest(folder)
        info.dataset, info.latent_dim = config.dataset, config.latent_dim
        info.metrics, info.notes = folder_files.read_metrics(folder)
    except CheckpointError as err:
        info.error = str(err)
        return info
    info.error, notes = check_folder(folder)
    info.notes += notes
    return info


class OnnxFormat:
    """An ONNX folder, as models/registry.py sees it."""
    kind, marker, required = OnnxVAE.kind, MANIFEST, (MANIFEST, ENCODER, DECODER)

    @staticmethod
    def own_file(name: str) -> bool:
        return name.endswith(OWN_SUFFIXES) or name == folder_files.CACHE

    load = staticmethod(load_onnx_model)
    read_config = staticmethod(read_manifest)
    describe = staticmethod(describe)
    weights_hash = staticmethod(folder_hash)
    training_refusal = staticmethod(train_refusal)


FORMAT = OnnxFormat()
