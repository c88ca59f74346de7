"""Reading an .onnx file someone sent us, safely: size caps, a protobuf parse (never a pickle), no custom operator
domains, an opset this onnxruntime runs, external weights only from inside the model folder, then ONNX's checker.

ONNX is data, not code: parsing it runs nothing of the sender's. What could still hurt is native code in custom
operators (refused) and external-data paths that point elsewhere on disk (checked before any file is opened; the
weights are then read by us, so onnxruntime never follows a path).
"""
from __future__ import annotations

import functools
from pathlib import Path, PurePosixPath, PureWindowsPath

from ...errors import CheckpointError

MAX_GRAPH_BYTES = 512_000_000     # one .onnx file; our 3.5 MB models are far below
MAX_EXTERNAL_BYTES = 1_000_000_000  # all external weights of one graph together
STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml"}
MIN_OPSET = 7


class GraphError(CheckpointError):
    """An .onnx file is unreadable, unsafe or not runnable here."""


def _refuse(path: Path, problem: str) -> GraphError:
    return GraphError(f"{path.name} (in {path.parent}) {problem}")


def _read_capped(path: Path, cap: int) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as err:
        raise _refuse(path, f"cannot be read ({err.strerror or err})") from None
    if size == 0:
        raise _refuse(path, "is empty (0 bytes); copy or export it again")
    if size > cap:
        raise _refuse(path, f"is {size / 1e6:.0f} MB, over the {cap / 1e6:.0f} MB limit")
    try:
        return path.read_bytes()
    except OSError as err:
        raise _refuse(path, f"cannot be read ({err.strerror or err})") from None


def _sniff(data: bytes) -> str | None:
    """Name a well-known wrong format, so the message says what the file really is."""
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle (never loaded here: unpickling runs code)"
    if data[:4] == b"PK\x03\x04":
        return "a zip archive (a torch.save .pt/.pth file is one: its pickles are never loaded here)"
    if data[:8] == b"\x89HDF\r\n\x1a\n":
        return "an HDF5 file (Keras .h5)"
    return None


@functools.lru_cache(maxsize=1)
def max_supported_opset() -> int:
    """The newest default-domain opset the installed onnxruntime officially runs (asked once, a few ms)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info("a", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["a"], ["b"])], "probe", [value],
                              [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])])
    options = ort.SessionOptions()
    options.log_severity_level = 4
    for version in range(onnx.defs.onnx_opset_version(), MIN_OPSET, -1):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", version)])
        model.ir_version = 8  # old enough for any onnxruntime of the last years
        try:
            ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
            return version
        except Exception:  # noqa: BLE001 - "under development" / "not supported": try the one before
            continue
    return MIN_OPSET


def _graphs(model):
    """The main graph and every subgraph (If/Loop/Scan bodies), those inside local functions included."""
    stack = [model.graph, *_subgraphs(node for function in model.functions for node in function.node)]
    while stack:
        graph = stack.pop()
        yield graph
        stack.extend(_subgraphs(graph.node))


def _subgraphs(nodes):
    for node in nodes:
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield attribute.g
            yield from attribute.graphs


def _all_nodes(model):
    for graph in _graphs(model):
        yield from graph.node
    for function in model.functions:
        yield from function.node


def _tensors(model):
    """Every stored tensor (initializers and Constant/attribute tensors), where external data can hide."""
    for graph in _graphs(model):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield sparse.values
            yield sparse.indices
    for node in _all_nodes(model):
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors


def _check_domains(path: Path, model) -> None:
    allowed = STANDARD_DOMAINS | {function.domain for function in model.functions}  # local functions: standard ops
    for node in _all_nodes(model):
        if node.domain not in allowed:
            raise _refuse(path, f"uses the custom operator domain '{node.domain}' (operator {node.op_type}); custom "
                                "operators run native code outside the ONNX standard and are refused. Export with "
                                "standard operators only")


def _check_opset(path: Path, model) -> None:
    versions = {entry.domain or "ai.onnx": entry.version for entry in model.opset_import}
    version = versions.get("ai.onnx")
    if version is None:
        raise _refuse(path, "declares no default-domain opset; export it again with opset 13–17")
    newest = max_supported_opset()
    if not MIN_OPSET <= version <= newest:
        raise _refuse(path, f"uses opset {version}; the installed onnxruntime runs opsets {MIN_OPSET}–{newest}. "
                            f"Export again with opset_version={min(17, newest)}")


def _inline_external_data(path: Path, model) -> None:
    """Read external weights ourselves, from inside the model folder only, and put them into the model."""
    from onnx import TensorProto

    folder = path.parent.resolve()
    budget = MAX_EXTERNAL_BYTES
    for tensor in _tensors(model):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        posix, windows = PurePosixPath(location), PureWindowsPath(location)
        if not location or posix.is_absolute() or windows.is_absolute() or windows.drive or ".." in posix.parts \
                or ".." in windows.parts:
            raise _refuse(path, f"has a tensor '{tensor.name}' that points at external data {location!r}: only "
                                "files inside the model folder are read (no absolute paths, no '..'); "
                                "it was not opened")
        target = (folder / location).resolve()
        if not target.is_relative_to(folder) or not target.is_file():
            raise _refuse(path, f"has a tensor '{tensor.name}' that points at external data {location!r}, not a file "
                                "inside the model folder (a link out of it, or missing); it was not opened")
        try:
            offset, length = int(info.get("offset", 0)), int(info.get("length", -1))
        except ValueError:
            raise _refuse(path, f"has a malformed external-data offset/length for tensor '{tensor.name}'") from None
        size = target.stat().st_size
        length = size - offset if length < 0 else length
        if offset < 0 or offset + length > size:
            raise _refuse(path, f"has a tensor '{tensor.name}' reading past the end of {location!r} (truncated file?)")
        if length > budget:
            raise _refuse(path, f"has external data over the {MAX_EXTERNAL_BYTES / 1e6:.0f} MB limit")
        budget -= length
        with open(target, "rb") as handle:
            handle.seek(offset)
            tensor.raw_data = handle.read(length)
        tensor.data_location = TensorProto.DEFAULT
        del tensor.external_data[:]


def external_data(graph: bytes) -> dict[str, int]:
    """{file: bytes the graph reads from it (offset + length, at most; the cap when a tensor reads to the end)} for
    every external-data file a serialized graph points at, before any file is opened (an import writes only these)."""
    import onnx
    from google.protobuf.message import DecodeError
    from onnx import TensorProto

    model = onnx.ModelProto()
    try:
        model.ParseFromString(graph)
    except (DecodeError, RuntimeError, ValueError):
        return {}  # not a graph: read_graph says so at load, with the reason
    needed: dict[str, int] = {}
    for tensor in _tensors(model):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        try:
            offset, length = int(info.get("offset", 0)), int(info.get("length", -1))
        except ValueError:
            continue  # read_graph refuses it, naming the tensor
        end = MAX_EXTERNAL_BYTES if length < 0 else offset + length
        location = str(PurePosixPath(info.get("location", "")))
        needed[location] = min(MAX_EXTERNAL_BYTES, max(needed.get(location, 0), end))
    return needed


def read_graph(path: Path):
    """A checked, self-contained onnx.ModelProto from `path`, or a GraphError naming the problem and the fix."""
    path = Path(path)
    if not path.is_file():
        raise _refuse(path, "is missing; an ONNX model folder needs encoder.onnx, decoder.onnx and vae.json")
    if not path.resolve().is_relative_to(path.parent.resolve()):
        raise _refuse(path, "is a link to a file outside the model folder; it was not opened. Copy the file in")
    return parse_graph(_read_capped(path, MAX_GRAPH_BYTES), path)


def parse_graph(data: bytes, path: Path, external: bool = True):
    """`data` (the bytes of `path`, named in messages) as a checked onnx.ModelProto. external=True reads external
    weights from inside path's folder; external=False refuses any (a graph stored inside another file: a snapshot)."""
    import onnx
    from google.protobuf.message import DecodeError

    wrong = _sniff(data)
    if wrong:
        raise _refuse(path, f"is {wrong}, not an ONNX model. Export with torch.onnx.export (see the README)")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as err:
        raise _refuse(path, f"is not a readable ONNX model (truncated or another format: {err}). "
                            "Copy or export it again") from None
    if not model.graph.node or not model.graph.output or not model.opset_import:
        raise _refuse(path, "is not a complete ONNX model (no graph, outputs or opset: truncated or another format). "
                            "Copy or export it again")
    _check_domains(path, model)
    _check_opset(path, model)
    if external:
        _inline_external_data(path, model)
    elif any(tensor.data_location == onnx.TensorProto.EXTERNAL for tensor in _tensors(model)):
        raise _refuse(path, "points at external data; a graph stored inside another file must hold its weights")
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise _refuse(path, f"fails the ONNX checker ({first}). Export it again") from None
    return model
