"""The dummy run of a new ONNX model, in a child process with a memory limit and a deadline.

Run as a plain script (`python probe.py`, not `-m`): it imports only numpy and onnxruntime, so it starts fast and
a hostile graph (a huge constant, an endless Loop) can only exhaust this child, which the parent then kills.
stdin: one JSON line (the spec below) followed by the encoder and decoder bytes; stdout: one JSON line,
{"ok": true, "batch": {...}} or {"error": "..."}.
"""
import json
import resource
import sys


def _session(ort, data: bytes):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _out_of_memory(err: Exception) -> bool:
    text = str(err).lower()
    return isinstance(err, MemoryError) or "allocate" in text or "bad_alloc" in text


def _message(err: Exception) -> str:
    """onnxruntime's whole message on one line (its useful part is often not the last line), capped."""
    return " ".join(str(err).split())[:1500]


def _batch_of(io) -> int | None:
    first = io.shape[0] if io.shape else None
    return first if isinstance(first, int) and first > 0 else None


def _check_io(what, session, inputs, outputs, ranks):
    found_in = {i.name: i for i in session.get_inputs()}
    found_out = {o.name: o for o in session.get_outputs()}
    for name in inputs:
        if name not in found_in:
            return None, (f"{what} has no input named '{name}' (it has {', '.join(found_in) or 'none'}); rename it "
                          "in the export or set tensor_names in vae.json")
    extra = [name for name in found_in if name not in inputs]
    if extra:
        return None, f"{what} has extra inputs {', '.join(extra)}; it must take only {', '.join(inputs)}"
    for name in outputs:
        if name not in found_out:
            return None, (f"{what} has no output named '{name}' (it has {', '.join(found_out)}); rename it in the "
                          "export or set tensor_names in vae.json")
    for name, rank in ranks.items():
        io = found_in.get(name) or found_out.get(name)
        if io.type != "tensor(float)":
            return None, f"{what}'s '{name}' is {io.type}; it must be float32"
        if io.shape is not None and len(io.shape) != rank:
            return None, f"{what}'s '{name}' has rank {len(io.shape)} (shape {io.shape}); it must have rank {rank}"
    return _batch_of(found_in[inputs[0]]), None


def probe(spec: dict, encoder: bytes, decoder: bytes) -> dict:
    import numpy as np
    import onnxruntime as ort

    names, shape, dim = spec["names"], tuple(spec["image_shape"]), spec["latent_dim"]
    try:
        enc = _session(ort, encoder)
    except Exception as err:  # noqa: BLE001 - onnxruntime's own message is the most precise one
        if _out_of_memory(err):
            return {"error": "memory"}
        return {"error": f"onnxruntime cannot load encoder.onnx: {_message(err)}"}
    try:
        dec = _session(ort, decoder)
    except Exception as err:  # noqa: BLE001
        if _out_of_memory(err):
            return {"error": "memory"}
        return {"error": f"onnxruntime cannot load decoder.onnx: {_message(err)}"}
    enc_batch, problem = _check_io("encoder.onnx", enc, [names["x"]], [names["mu"], names["logvar"]],
                                   {names["x"]: 4, names["mu"]: 2, names["logvar"]: 2})
    if problem:
        return {"error": problem}
    dec_batch, problem = _check_io("decoder.onnx", dec, [names["z"]], [names["x_hat"]],
                                   {names["z"]: 2, names["x_hat"]: 4})
    if problem:
        return {"error": problem}
    n_enc, n_dec = enc_batch or 2, dec_batch or 2
    lo, hi = spec["input_range"]
    x = (lo + (hi - lo) * np.random.default_rng(0).random((n_enc, *shape))).astype(np.float32)
    try:
        mu, logvar = enc.run([names["mu"], names["logvar"]], {names["x"]: x})
    except Exception as err:  # noqa: BLE001
        if _out_of_memory(err):
            return {"error": "memory"}
        return {"error": f"encoder.onnx fails on a batch of {n_enc} images of shape {list(shape)} (C, H, W) from "
                         f"vae.json: {_message(err)}"}
    for name, out in ((names["mu"], mu), (names["logvar"], logvar)):
        if out.shape != (n_enc, dim):
            return {"error": f"encoder.onnx's '{name}' came out {list(out.shape)} for {n_enc} images; vae.json's "
                             f"latent_dim {dim} means it must be [{n_enc}, {dim}]"}
        if not np.isfinite(out).all():
            return {"error": f"encoder.onnx's '{name}' is NaN/inf on a test batch: the exported weights are broken"}
    z = np.random.default_rng(1).standard_normal((n_dec, dim)).astype(np.float32)
    try:
        (x_hat,) = dec.run([names["x_hat"]], {names["z"]: z})
    except Exception as err:  # noqa: BLE001
        if _out_of_memory(err):
            return {"error": "memory"}
        return {"error": f"decoder.onnx fails on z of shape [{n_dec}, {dim}] (latent_dim {dim} from vae.json; does "
                         f"its input size match the encoder's?): {_message(err)}"}
    if x_hat.shape != (n_dec, *shape):
        return {"error": f"decoder.onnx's '{names['x_hat']}' came out {list(x_hat.shape)} for {n_dec} latents; "
                         f"vae.json's image_shape means it must be [{n_dec}, {', '.join(map(str, shape))}]"}
    if not np.isfinite(x_hat).all():
        return {"error": "decoder.onnx gives NaN/inf on a test batch: the exported weights are broken"}
    values = _prior_decodes(dec, names, dim, n_dec)
    problem, warnings = _likelihood_check(spec, values)
    if problem:
        return {"error": problem}
    return {"ok": True, "batch": {"encoder": enc_batch, "decoder": dec_batch}, "warnings": warnings}


PRIOR_SAMPLES = 64  # decoded to see what the decoder's outputs are: probabilities, logits or image means


def _prior_decodes(dec, names, dim: int, step: int):
    """The decoder's outputs on PRIOR_SAMPLES z ~ N(0, I), in chunks of its batch size."""
    import numpy as np

    n = max(step, PRIOR_SAMPLES // step * step)  # whole batches: a graph may have a fixed batch size
    z = np.random.default_rng(2).standard_normal((n, dim)).astype(np.float32)
    parts = [dec.run([names["x_hat"]], {names["z"]: z[i:i + step]})[0] for i in range(0, n, step)]
    return np.concatenate(parts)


def _likelihood_check(spec: dict, values) -> tuple[str | None, list[str]]:
    """(refusal, warnings) for what vae.json declares against what the decoder gives: probabilities read as logits
    score about twice as badly and nothing else would say so (pytorch/examples' VAE declared bernoulli_logits scored
    ELBO −542 instead of −254)."""
    import numpy as np

    if not values.size or not np.isfinite(values).all():
        return None, []
    lo, hi = float(values.min()), float(values.max())
    seen = f"on {PRIOR_SAMPLES} prior samples z ~ N(0, I) decoder.onnx gives values in [{lo:.4g}, {hi:.4g}]"
    kind = spec.get("likelihood")
    if kind == "bernoulli_logits" and lo >= 0.0 and hi <= 1.0:
        return (f"vae.json declares bernoulli_logits, but {seen}, all inside [0, 1]: these look like probabilities "
                "(a sigmoid at the decoder's end). Read as logits every number would be far too low. Did you mean "
                "\"likelihood\": \"bernoulli_probs\"?"), []
    if kind == "bernoulli_probs" and (lo < -1e-3 or hi > 1 + 1e-3):
        return (f"vae.json declares bernoulli_probs, but {seen}, outside [0, 1]: these are not probabilities. Did "
                "you mean \"likelihood\": \"bernoulli_logits\"?"), []
    if kind == "gaussian":
        low, high = spec["input_range"]
        span = high - low
        outside = float(((values < low - 0.5 * span) | (values > high + 0.5 * span)).mean())
        if outside > 0.05:
            return None, [f"the Gaussian decoder's means leave input_range [{low:g}, {high:g}] by far ({seen}; "
                          f"{outside:.0%} beyond half a range outside): check input_range and the output scale"]
    return None, []


def main() -> None:
    header = sys.stdin.buffer.readline()
    spec = json.loads(header)
    limit = int(spec["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    encoder = sys.stdin.buffer.read(spec["encoder_bytes"])
    decoder = sys.stdin.buffer.read(spec["decoder_bytes"])
    try:
        result = probe(spec, encoder, decoder)
    except MemoryError:
        result = {"error": "memory"}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
