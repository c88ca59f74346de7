"""Bring your own VAE: any encoder/decoder exported to ONNX, explored like our own models.

    manifest.py      vae.json's schema (the documented field names) -> OnnxConfig
    graph_checks.py  an .onnx file read safely: size caps, no pickle, no custom domains, opset, external data, checker
    probe.py         the dummy run in a child process bounded in time and memory
    runtime.py       OnnxVAE: onnxruntime sessions behind our VAE's interface (encode, decode, decode_images, ...)
    loader.py        folder -> LoadedModel; model-list entries; the display decoder for the browser
    importing.py     a zipped model folder uploaded in the app -> checked, then a folder in the models directory

Export of our models into the same contract is vae_core/onnx_export.py.
"""
from .loader import display_decoder_bytes, is_onnx_folder, load_onnx_model, train_refusal

__all__ = ["display_decoder_bytes", "is_onnx_folder", "load_onnx_model", "train_refusal"]
