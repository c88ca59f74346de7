"""The display decoder of an ONNX model: its decoder graph with the nodes that turn x_hat into pixel means in [0, 1]
appended (Sigmoid for logits, an affine map and a clip for images on [-1, 1]), so the browser runs the sender's own
graph and never a hand-written copy of the network. The same maps as models/likelihoods.pixel_means.
"""
from __future__ import annotations

from ..contract import NAMES


def means_decoder(decoder: bytes, likelihood: str, input_range=(0, 1), names: dict | None = None) -> bytes:
    """A decoder graph whose single output is the pixel means in [0, 1] (N, C, H, W), for display.

    `decoder` is a contract decoder's bytes; one node is appended after x_hat according to the likelihood.
    """
    import onnx
    from onnx import helper

    names = {**NAMES, **(names or {})}
    graph_model = onnx.load_from_string(decoder)
    graph = graph_model.graph
    x_hat = names["x_hat"]
    lo, hi = float(input_range[0]), float(input_range[1])
    nodes = []
    if likelihood == "bernoulli_logits":
        nodes.append(helper.make_node("Sigmoid", [x_hat], ["means"]))
    elif (lo, hi) != (0.0, 1.0):  # probabilities or Gaussian means on another scale -> [0, 1]
        scale = helper.make_tensor("means_scale", onnx.TensorProto.FLOAT, [], [1.0 / (hi - lo)])
        shift = helper.make_tensor("means_shift", onnx.TensorProto.FLOAT, [], [-lo])
        zero = helper.make_tensor("means_zero", onnx.TensorProto.FLOAT, [], [0.0])
        one = helper.make_tensor("means_one", onnx.TensorProto.FLOAT, [], [1.0])
        graph.initializer.extend([scale, shift, zero, one])
        nodes += [helper.make_node("Add", [x_hat, "means_shift"], ["means_shifted"]),
                  helper.make_node("Mul", ["means_shifted", "means_scale"], ["means_raw"]),
                  helper.make_node("Clip", ["means_raw", "means_zero", "means_one"], ["means"])]
    else:
        nodes.append(helper.make_node("Identity", [x_hat], ["means"]))
    graph.node.extend(nodes)
    old = next(o for o in graph.output if o.name == x_hat)
    out = helper.make_tensor_value_info("means", onnx.TensorProto.FLOAT, None)
    out.type.CopyFrom(old.type)
    del graph.output[:]
    graph.output.append(out)
    return graph_model.SerializeToString()
