"""Anyone's VAE as ONNX: an encoder/decoder pair with its vae.json, behind the same interface as ours.

    manifest.py      vae.json's schema (the documented field names) -> OnnxConfig
    graph_checks.py  an .onnx file read safely: size caps, no pickle, no custom domains, opset, external data, checker
    probe.py         the dummy run in a child process bounded in time and memory
    runtime.py       OnnxVAE: onnxruntime sessions behind models/base.py's VAEModel
    display.py       the display decoder: the decoder graph with x_hat -> pixel means appended
    loader.py        folder -> LoadedModel; model-list entries; the format as the registry sees it
    importing.py     a zipped model folder uploaded in the app -> checked, then a folder in the models directory

Our VAE exports to the same contract (models/torch_vae/export.py); the contract itself is models/contract.py.
"""
