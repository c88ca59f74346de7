"""Models: one written interface (base.py's VAEModel) and the formats behind it.

    base.py         VAEModel (the interface and its shared code), LoadedModel, ModelInfo, ModelFormat
    likelihoods.py  the one log p(x | x_hat) per likelihood, the Gaussian KL, pixel means
    contract.py     the ONNX folder contract: file and tensor names, torch module -> ONNX bytes
    folder.py       a model folder's files read defensively; the layout every format shares
    registry.py     list / describe / load / delete / zip / weights hash, dispatching over the formats
    torch_vae/      our VAE: network, checkpoint format, training state, export to the contract
    onnx/           anyone's VAE as an ONNX pair: manifest, graph checks, probe, runtime, loading, importing

Only this package knows which kind a model is: everything else calls VAEModel.
"""
from .base import LoadedModel, ModelInfo, VAEModel
from .folder import is_read_only, next_model_name, unique_model_dir
from .registry import (delete_model, describe, holds_model, import_zip, list_models, load_for_training, load_model,
                       prune_stale_caches, read_config, remove_leftovers, training_refusal, weights_hash,
                       zip_model)

__all__ = ["LoadedModel", "ModelInfo", "VAEModel", "delete_model", "describe", "holds_model", "import_zip",
           "is_read_only", "list_models", "load_for_training", "load_model", "prune_stale_caches", "read_config",
           "next_model_name", "remove_leftovers", "training_refusal", "unique_model_dir", "weights_hash", "zip_model"]
