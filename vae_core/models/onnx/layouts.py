"""ONNX graphs as exporters write them -> the contract's: NCHW images, the contract's tensor names.

Keras's own export gives channels-last graphs with tensors named `keras_tensor`, '247', '241'; pytorch/examples'
MLP takes and gives flat (N, 784) rows. vae.json's `layout` says which ("NCHW" default, "NHWC", "flat"); names the
contract expects but the graph lacks are taken by position (encoder: one input, >= 2 outputs, mu then logvar;
decoder: one input, one output). `adapt_graph` then wraps the graph: its own tensors get a prefix (no name can
collide), one node goes in front (Identity, Transpose NCHW->NHWC, or Flatten) and one behind each output (Identity,
Transpose NHWC->NCHW, or Reshape to (N, C, H, W)), and outputs nothing needs (Keras's sampled z, with its random
number node) are dropped. These operators are the same in every opset from 13 up, so the graph keeps its own.
"""
from __future__ import annotations

from ..contract import LAYOUTS, NAMES, layout_shape
from .graph_checks import GraphError

PREFIX = "src/"


def _graph_inputs(graph):
    """Real inputs: graphs from IR < 4 list their initializers among the inputs too."""
    weights = {t.name for t in graph.initializer}
    return [i for i in graph.input if i.name not in weights]


def resolve_names(model, role: str, names: dict | None = None) -> tuple[dict, bool]:
    """({contract name: the graph's tensor name}, taken by position?). The contract's names (or vae.json's
    tensor_names) when the graph has them, else by position."""
    names = {**NAMES, **(names or {})}
    graph = model.graph
    inputs = [i.name for i in _graph_inputs(graph)]
    outputs = [o.name for o in graph.output]
    in_key, out_keys = ("x", ["mu", "logvar"]) if role == "encoder" else ("z", ["x_hat"])
    what = f"{role}.onnx"
    if len(inputs) != 1:
        raise GraphError(f"{what} has {len(inputs)} inputs ({', '.join(inputs) or 'none'}); it must take one, the "
                         f"{'images' if role == 'encoder' else 'latents'}")
    found = {in_key: names[in_key] if names[in_key] in inputs else inputs[0]}
    by_position = found[in_key] != names[in_key]
    if all(names[k] in outputs for k in out_keys):
        found.update({k: names[k] for k in out_keys})
    elif role == "encoder" and len(outputs) >= 2:
        found.update(mu=outputs[0], logvar=outputs[1])
        by_position = True
    elif role == "decoder" and len(outputs) == 1:
        found["x_hat"] = outputs[0]
        by_position = True
    else:
        need = "at least two outputs (mu, then logvar)" if role == "encoder" else "one output (x_hat)"
        raise GraphError(f"{what} has outputs {', '.join(outputs) or 'none'} and none named "
                         f"{', '.join(names[k] for k in out_keys)}; by position it needs {need}. Name them in the "
                         "export, or map them with tensor_names in vae.json")
    return found, by_position


def needs_adapting(model, role: str, layout: str, names: dict | None = None) -> bool:
    """Whether the graph differs from the contract: another layout, other names, or extra outputs."""
    found, by_position = resolve_names(model, role, names)
    extra = len(model.graph.output) != (2 if role == "encoder" else 1)
    return layout != "NCHW" or by_position or extra or any(found[k] != NAMES[k] for k in found)


def layout_hint(model, role: str, layout: str, image_shape) -> str | None:
    """When a graph declares a fixed image shape that fits another layout than vae.json's, the fix in one sentence;
    else None (symbolic sides fit any layout: the probe then says what fails)."""
    graph = model.graph
    value = _graph_inputs(graph)[0] if role == "encoder" else (graph.output[0] if graph.output else None)
    dims = _dims(value)[1:] if value is not None else []
    if not dims or not all(isinstance(d, int) for d in dims):
        return None
    if tuple(dims) == layout_shape(layout, tuple(image_shape), None)[1:]:
        return None
    for other in LAYOUTS:
        if tuple(dims) == layout_shape(other, tuple(image_shape), None)[1:]:
            where = "input" if role == "encoder" else "output"
            return (f"{role}.onnx's {where} is declared {['N', *dims]}: {other}"
                    f"{' (channels-last)' if other == 'NHWC' else ''}, not {layout}; add \"layout\": \"{other}\" to "
                    "vae.json")
    return None


def _dims(value_info) -> list:
    """Dims of a graph input/output: ints, dim_param strings, or None when unknown."""
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in shape.dim]


def _value_info(name: str, dims):
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [d if d is not None else "n" for d in dims])


def _check_image_dims(dims, layout, image_shape, what) -> None:
    """The graph's declared shape (where it declares one) against image_shape in `layout`."""
    expected_rank = 2 if layout == "flat" else 4
    if dims and len(dims) != expected_rank:
        raise GraphError(f"{what} has rank {len(dims)} ({dims}); layout {layout} means rank {expected_rank}. Check "
                         "\"layout\" in vae.json")
    want = layout_shape(layout, image_shape, None)[1:]
    for got, expected in zip(list(dims[1:]) if dims else [], want):
        if isinstance(got, int) and got != expected:
            raise GraphError(f"{what} is {dims}, but image_shape {list(image_shape)} in layout {layout} means "
                             f"{[dims[0], *want]}. Check image_shape and \"layout\" in vae.json")


def adapt_graph(model, layout: str, role: str, image_shape, names: dict | None = None):
    """An encoder or decoder onnx.ModelProto in `layout` -> the contract's NCHW graph with the contract's tensor names
    (x -> mu, logvar; z -> x_hat), extra outputs dropped. Returns a new, checked ModelProto."""
    import onnx
    from onnx import compose

    found, _ = resolve_names(model, role, names)
    model = compose.add_prefix(model, PREFIX, rename_functions=False)
    graph = model.graph
    src = {key: PREFIX + name for key, name in found.items()}
    old_in = next(i for i in graph.input if i.name == src["x" if role == "encoder" else "z"])
    old_outs = {o.name: o for o in graph.output}
    in_dims = _dims(old_in)
    batch = in_dims[0] if in_dims else None
    image_shape = tuple(int(v) for v in image_shape)
    if role == "encoder":
        _check_image_dims(in_dims, layout, image_shape, "encoder.onnx's input")
        front, new_input, back, new_outputs = _encoder_ends(graph, src, old_outs, layout, image_shape, batch)
    else:
        front, new_input, back, new_outputs = _decoder_ends(graph, src, old_in, old_outs, layout, image_shape)
    weights = [i for i in graph.input if i.name != old_in.name]  # IR < 4: initializers stay listed as inputs
    nodes = _needed([*front, *graph.node, *back], [o.name for o in new_outputs])
    used = {name for node in nodes for name in _node_inputs(node)}
    kept_weights = [t for t in graph.initializer if t.name in used]
    del graph.node[:], graph.input[:], graph.output[:], graph.initializer[:], graph.value_info[:]
    graph.node.extend(nodes)
    graph.initializer.extend(kept_weights)
    graph.input.extend([new_input, *(i for i in weights if i.name in used)])
    graph.output.extend(new_outputs)
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GraphError(f"{role}.onnx could not be adapted to the contract ({first})") from None
    return model


def _encoder_ends(graph, src, old_outs, layout, image_shape, batch):
    import onnx
    from onnx import helper

    op, attrs = {"NCHW": ("Identity", {}), "NHWC": ("Transpose", {"perm": [0, 2, 3, 1]}),
                 "flat": ("Flatten", {"axis": 1})}[layout]
    front = [helper.make_node(op, [NAMES["x"]], [src["x"]], name="contract/x", **attrs)]
    new_input = _value_info(NAMES["x"], [batch, *image_shape])
    back, outputs = [], []
    for key in ("mu", "logvar"):
        back.append(helper.make_node("Identity", [src[key]], [NAMES[key]], name=f"contract/{key}"))
        out = helper.make_tensor_value_info(NAMES[key], onnx.TensorProto.FLOAT, None)
        out.type.CopyFrom(old_outs[src[key]].type)
        outputs.append(out)
    return front, new_input, back, outputs


def _decoder_ends(graph, src, old_in, old_outs, layout, image_shape):
    import onnx
    from onnx import helper

    front = [helper.make_node("Identity", [NAMES["z"]], [src["z"]], name="contract/z")]
    new_input = helper.make_tensor_value_info(NAMES["z"], onnx.TensorProto.FLOAT, None)
    new_input.type.CopyFrom(old_in.type)
    out_dims = _dims(old_outs[src["x_hat"]])
    _check_image_dims(out_dims, layout, image_shape, "decoder.onnx's output")
    if layout == "flat":
        shape = helper.make_tensor("contract/x_hat_shape", onnx.TensorProto.INT64, [4], [0, *image_shape])  # 0: keep N
        graph.initializer.append(shape)
        back = [helper.make_node("Reshape", [src["x_hat"], shape.name], [NAMES["x_hat"]], name="contract/x_hat")]
    else:
        op, attrs = ("Identity", {}) if layout == "NCHW" else ("Transpose", {"perm": [0, 3, 1, 2]})
        back = [helper.make_node(op, [src["x_hat"]], [NAMES["x_hat"]], name="contract/x_hat", **attrs)]
    outputs = [_value_info(NAMES["x_hat"], [out_dims[0] if out_dims else None, *image_shape])]
    return front, new_input, back, outputs


def _node_inputs(node) -> set:
    """A node's inputs and every name its subgraphs (If/Loop bodies) read, which may come from the outer graph."""
    names = set(node.input)
    for attribute in node.attribute:
        for sub in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
            for inner in sub.node:
                names |= _node_inputs(inner)
    return names


def _needed(nodes, outputs) -> list:
    """The nodes the outputs depend on, in order: a dropped output (Keras's sampled z) takes its random-number nodes
    with it, so the graph neither samples for nothing nor carries operators the browser's runtime may lack."""
    needed, kept = set(outputs), []
    for node in reversed(nodes):
        if needed & set(node.output):
            kept.append(node)
            needed |= _node_inputs(node)
    return kept[::-1]
