"""Our VAE: the network (model.py), its folder format (checkpoint.py), its training state (state_codec.py) and its
export to the ONNX contract (export.py)."""
