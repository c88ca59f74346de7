"""`python -m vae_core`: train, eval, export, bring and datasets from a shell (train also under `torchrun`).

Errors a user can fix (missing data, a refused checkpoint, bad arguments) end as one line on stderr and a
non-zero exit code, never a traceback. `eval` prints exactly one JSON object on stdout so it can be piped.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np

from .errors import VAEError

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 1, 2, 130, 141  # 141: as shells report SIGPIPE
HEADLINE = ("elbo", "recon", "kl", "iwae_bound", "iwae_k", "iwae_n", "nll", "active_units")


class UsageError(Exception):
    """A bad command line: argparse's own error() would print usage and exit; we want one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m vae_core", description="Train and evaluate the explorer's VAEs.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a VAE and save it as a model folder")
    train.add_argument("--dataset", default=None, help="fashion-mnist, mnist, digits or folder:<path> "
                                                       "(default: fashion-mnist if found, else digits)")
    train.add_argument("--out", type=Path, default=None, help="model folder (default: a new one in models/)")
    train.add_argument("--resume", action="store_true", help="continue the model in --out from its last epoch")
    train.add_argument("--data-dir", default=None, help="folder holding the dataset's files")
    train.add_argument("--download", action="store_true", help="download the dataset if it is missing")
    # None = "not given": a fresh run takes the defaults below, --resume takes the saved run's settings
    from .models.torch_vae.model import VAEConfig  # local: torch loads only when a parser is built
    from .training import TrainConfig
    from .training.trainer import BATCH_RANGE, STEPS_PER_EPOCH

    # Every default shown in the help is read from TrainConfig / VAEConfig: the one place defaults live.
    run, net = TrainConfig(), VAEConfig()
    train.add_argument("--epochs", type=int, default=None, help=f"total epochs (default {run.epochs})")
    train.add_argument("--batch-size", type=int, default=None,
                       help=f"default: from the training set's size ({BATCH_RANGE[0]} to {BATCH_RANGE[1]}, at least "
                            f"{STEPS_PER_EPOCH} steps per epoch)")
    train.add_argument("--lr", type=float, default=None, help=f"learning rate (default {run.lr:g})")
    train.add_argument("--seed", type=int, default=None, help=f"default {run.seed}; same seed, same weights (CPU)")
    train.add_argument("--device", default=None, help=f"{run.device} (default), cpu, cuda, cuda:1, mps")
    train.add_argument("--optimizer", choices=("adam", "adamax"), default=None)
    train.add_argument("--test-limit", type=int, default=None, help="test images evaluated per epoch")
    train.add_argument("--snapshots", type=int, default=None, metavar="K",
                       help=f"keep a snapshot for the training movie every K epochs and at the last (0 = none; "
                            f"default {run.snapshot_every}, at most {run.snapshot_keep} kept)")
    model = train.add_argument_group("model (ignored with --resume: the saved config is used)")
    model.add_argument("--latent-dim", type=int, default=None, help=f"default {net.latent_dim}")
    model.add_argument("--channels", type=int, nargs=2, default=None, metavar=("C1", "C2"),
                       help=f"conv widths (default {net.channels[0]} {net.channels[1]})")
    model.add_argument("--hidden", type=int, default=None, help=f"FC width (0 = none; default {net.hidden})")
    model.add_argument("--beta", type=float, default=None, help=f"KL weight (default {net.beta:g})")
    model.add_argument("--warmup-epochs", type=float, default=None,
                       help=f"KL warm-up 0 -> beta over this many epochs (default {net.warmup_epochs:g})")
    model.add_argument("--free-bits", type=float, default=None,
                       help=f"per-dimension KL floor while training, nats (default {net.free_bits:g})")
    model.add_argument("--binarize", action="store_true", help="dynamic binarisation (for NLL numbers)")

    evaluate = commands.add_parser("eval", help="print a model's test metrics as one JSON object")
    evaluate.add_argument("model_dir", type=Path)
    evaluate.add_argument("--iw-samples", type=int, default=0, help="importance samples for the IWAE bound")
    evaluate.add_argument("--limit", type=int, default=None, help="evaluate the first N test images only")
    evaluate.add_argument("--data-dir", default=None)

    export = commands.add_parser("export", help="write one of our models as encoder.onnx + decoder.onnx + vae.json")
    export.add_argument("model_dir", type=Path)
    export.add_argument("--out", type=Path, required=True, help="folder to write (created)")

    measure = commands.add_parser("measure", help="measure a model folder's test metrics into its metrics.json")
    measure.add_argument("model_dir", type=Path)
    measure.add_argument("--data-dir", default=None)
    measure.add_argument("--progress-json", action="store_true",
                         help="progress as JSON lines on stdout (how the app follows a measurement it started)")

    datasets = commands.add_parser("datasets", help="where each dataset is found, or how to get it")
    datasets.add_argument("--download", choices=("fashion-mnist", "mnist"), default=None,
                          help="fetch that dataset's four files into the project's data/ folder (checked by MD5)")
    _bring_parser(commands)
    return parser


def _bring_parser(commands) -> None:
    bring = commands.add_parser("bring", help="a VAE written elsewhere (a torch module you build) -> a model folder")
    bring.add_argument("builder", help="module:function that returns the model (e.g. my_pkg.my_module:build_vae), "
                                       "importable from the current folder")
    bring.add_argument("--weights", type=Path, default=None, help="its state_dict: .safetensors, or .pt/.pth read "
                                                                  "with torch.load(weights_only=True)")
    bring.add_argument("--out", type=Path, required=True, help="the new model folder (never overwritten)")
    bring.add_argument("--image-shape", type=int, nargs=3, required=True, metavar=("C", "H", "W"))
    bring.add_argument("--dataset", required=True, help="fashion-mnist, mnist, digits, folder:<path> or npz:<path>")
    bring.add_argument("--encode", default="encode", help="the encoder's method name (default encode)")
    bring.add_argument("--decode", default="decode", help="the decoder's method name (default decode)")
    bring.add_argument("--layout", default="auto", choices=("auto", "NCHW", "NHWC", "flat"))
    bring.add_argument("--likelihood", default="auto",
                       choices=("auto", "bernoulli_logits", "bernoulli_probs", "gaussian"))
    bring.add_argument("--sigma", type=float, default=None, help="a Gaussian decoder's fixed σ (README: from the loss)")
    bring.add_argument("--input-range", type=float, nargs=2, default=(0, 1), metavar=("LO", "HI"),
                       help="the scale the model takes images on: 0 1 (default) or -1 1")
    bring.add_argument("--class-names", nargs="+", default=None)
    bring.add_argument("--description", default=None)


# --- train ---------------------------------------------------------------------------------------
def _train_config(args, saved: dict):
    from .training import TrainConfig

    values = {f.name: getattr(TrainConfig(), f.name) for f in fields(TrainConfig)}
    values.update({k: v for k, v in saved.items() if k in values})  # --resume: the saved run's settings
    given = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
             "device": args.device, "optimizer": args.optimizer, "test_limit": args.test_limit,
             "snapshot_every": args.snapshots}
    values.update({k: v for k, v in given.items() if v is not None})
    if values["epochs"] < 1 or (values["batch_size"] is not None and values["batch_size"] < 1) or not values["lr"] > 0:
        raise UsageError("--epochs and --batch-size must be ≥ 1 and --lr > 0")
    if values["snapshot_every"] < 0:
        raise UsageError("--snapshots must be ≥ 0 (0 keeps none)")
    return TrainConfig(**values)


def _model_config(args, dataset):
    from .models.torch_vae.model import VAEConfig

    defaults = VAEConfig()
    given = lambda name: getattr(defaults, name) if getattr(args, name) is None else getattr(args, name)  # noqa: E731
    try:
        return VAEConfig(image_shape=dataset.image_shape, latent_dim=given("latent_dim"),
                         channels=tuple(args.channels or defaults.channels), hidden=given("hidden"),
                         beta=given("beta"), warmup_epochs=given("warmup_epochs"), free_bits=given("free_bits"),
                         binarize=args.binarize, dataset=dataset.name, class_names=list(dataset.class_names))
    except ValueError as err:  # VAEConfig's message names the bad value and the allowed range
        raise UsageError(str(err)) from None


class _ProgressBar:
    """A tqdm bar on stderr advanced by the trainer's callback; created on the first step so an early error
    prints only its message. `note` (a run too short to learn) is printed above it, once training has begun."""

    def __init__(self, note: str = ""):
        self.bar, self.note = None, note

    def __call__(self, progress):
        from tqdm import tqdm

        if self.bar is None:
            if self.note:
                print(self.note, file=sys.stderr)
            # a resumed run starts at its first new epoch: tqdm's rate and time left count from there
            self.bar = tqdm(total=progress.steps * progress.epochs, initial=(progress.first_epoch - 1) * progress.steps,
                            unit="step", dynamic_ncols=True, file=sys.stderr)
        self.bar.n = (progress.epoch - 1) * progress.steps + progress.step
        self.bar.set_description(f"epoch {progress.epoch}/{progress.epochs}", refresh=False)
        if progress.epoch_end:
            self.bar.write(progress.message, file=sys.stderr)
        else:
            self.bar.set_postfix(loss=f"{progress.losses['loss']:.2f}", refresh=False)
            self.bar.update(0)  # redraws at most every 0.1 s

    def close(self):
        if self.bar is not None:
            self.bar.close()


def cmd_train(args) -> int:
    from . import data, models
    from .training import train_model
    from .training.trainer import too_short

    rank = int(os.environ.get("RANK", "0"))
    saved = {}
    if args.resume:
        if args.out is None:
            raise UsageError("--resume needs --out, the model folder to continue")
        if models.holds_model(args.out):
            saved_info = models.load_for_training(args.out).train_info
            saved = dict(saved_info.get("config", {}))
            args.dataset = args.dataset or saved_info.get("dataset")
    dataset = data.load_dataset(args.dataset or data.default_dataset_name(), data_dir=args.data_dir,
                                download=args.download)
    train_config = _train_config(args, saved).for_images(len(dataset.train_images))
    model_config = _model_config(args, dataset)
    short = too_short(len(dataset.train_images), train_config.batch_size, train_config.epochs)
    note = (f"warning: {short} (batch {train_config.batch_size}, {len(dataset.train_images):,} training images)"
            if short and not args.resume else "")
    created = args.out is None
    if created:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise UsageError("under torchrun give --out, so every process writes to the same folder")
        name = f"{dataset.name.replace(':', '-').replace('/', '-')}-z{model_config.latent_dim}"
        args.out = models.unique_model_dir(name)
    bar = _ProgressBar(note) if rank == 0 else None  # under torchrun only rank 0 reports
    try:
        result = train_model(model_config, train_config, dataset, args.out, callback=bar, resume=args.resume)
    finally:
        if bar is not None:
            bar.close()
        if created and args.out.is_dir() and not any(args.out.iterdir()):
            args.out.rmdir()  # a run that saved nothing leaves no empty folder in the model list
    if args.resume and rank == 0:
        models.prune_stale_caches(args.out)  # maps and encodings of the weights it started from
    if result.stopped == "diverged":
        print(f"error: {result.message}", file=sys.stderr)
        return EXIT_ERROR
    if rank == 0:
        numbers = {k: result.metrics[k] for k in HEADLINE if k in result.metrics}
        print(f"saved {result.path} ({result.epochs_done} epochs)")
        print(json.dumps(_jsonable(numbers)))
    return 0


# --- eval / datasets -----------------------------------------------------------------------------
def _jsonable(value):
    """numpy -> Python; NaN/inf -> None so stdout is strict JSON."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in np.asarray(value).tolist()] if isinstance(value, np.ndarray) \
            else [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def cmd_eval(args) -> int:
    from . import data, metrics, models

    if args.iw_samples < 0 or (args.limit is not None and args.limit < 1):
        raise UsageError("--iw-samples must be ≥ 0 and --limit ≥ 1")
    loaded = models.load_model(args.model_dir)  # ours or an ONNX folder: the same JSON either way
    dataset = data.load_dataset(loaded.config.dataset or data.default_dataset_name(), data_dir=args.data_dir,
                                image_shape=loaded.config.image_shape)
    if dataset.image_shape != loaded.config.image_shape:
        raise VAEError(f"{dataset.name} images are {dataset.image_shape}, the model expects "
                       f"{loaded.config.image_shape}")
    result = metrics.evaluate(loaded.model, dataset.test_images, iw_samples=args.iw_samples, limit=args.limit)
    result = {"model": str(loaded.path), "dataset": dataset.name, "weights_hash": loaded.weights_hash, **result}
    if not math.isfinite(result["elbo"]):  # a Gaussian decoder without sigma: say why instead of a number
        from .models.likelihoods import NO_SIGMA
        result["note"] = f"ELBO and reconstruction term {NO_SIGMA}"
    print(json.dumps(_jsonable(result), allow_nan=False))
    return 0


def cmd_measure(args) -> int:
    """metrics.json for any model folder (ours, ONNX, brought); with --progress-json each line on stdout is one JSON
    object: {"fraction", "message"} while it runs, then {"result": metrics} or {"error": message}."""
    from . import data, models
    from .measure import record_metrics

    def say(**message) -> None:
        if args.progress_json:
            print(json.dumps(_jsonable(message)), flush=True)

    try:
        loaded = models.load_model(args.model_dir)
        dataset = data.load_dataset(loaded.config.dataset, data_dir=args.data_dir,
                                    image_shape=loaded.config.image_shape)
        if dataset.image_shape != tuple(loaded.config.image_shape):
            raise VAEError(f"{dataset.name} images are {dataset.image_shape}, the model expects "
                           f"{tuple(loaded.config.image_shape)}")
        result = record_metrics(loaded, dataset, lambda f, m: say(fraction=round(float(f), 4), message=m))
    except VAEError as err:
        if not args.progress_json:
            raise
        say(error=str(err))
        return EXIT_ERROR
    say(result=result)
    if not args.progress_json:
        print(json.dumps(_jsonable(result)))
    return 0


def cmd_export(args) -> int:
    from . import models
    from .models.contract import DECODER_FILE, ENCODER_FILE, MANIFEST_FILE
    from .models.torch_vae.export import export_model

    loaded = models.load_for_training(args.model_dir)  # ours only: an ONNX folder already is the contract
    out = export_model(loaded.model, args.out, description=f"exported from {loaded.path.name}")
    written = (ENCODER_FILE, DECODER_FILE, MANIFEST_FILE)
    print("wrote " + ", ".join(str(out / name) for name in written))
    return 0


def _build(spec: str, weights: Path | None):
    """The user's model: `module:function` called with no arguments, then its state_dict loaded (strictly)."""
    import importlib

    import torch

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"builder must be module:function, got {spec!r}")
    sys.path.insert(0, os.getcwd())  # the user's own modules, as `python -c "import my_pkg"` would find them
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as err:
        raise UsageError(f"cannot import {spec}: {err}") from None
    model = target() if callable(target) and not isinstance(target, torch.nn.Module) else target
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"{spec} gave a {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        try:
            if weights.suffix == ".safetensors":
                from safetensors.torch import load_file
                state = load_file(str(weights))
            else:
                state = torch.load(weights, map_location="cpu", weights_only=True)  # tensors only: no code runs
        except Exception as err:  # noqa: BLE001 - missing, damaged, or a whole pickled model: one clear line
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise VAEError(f"{weights} cannot be read as a state_dict ({reason}); save one with "
                           "torch.save(model.state_dict(), PATH) or safetensors") from None
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        try:
            model.load_state_dict(state)
        except (RuntimeError, TypeError) as err:
            raise VAEError(f"{weights} does not fit {spec}'s model: {str(err).splitlines()[0]}") from None
    return model


def cmd_bring(args) -> int:
    from .bringing import bring

    bar = _StepBar()
    try:
        out = bring(_build(args.builder, args.weights), args.out, tuple(args.image_shape), args.dataset,
                    encode=args.encode, decode=args.decode, layout=args.layout, likelihood=args.likelihood,
                    sigma=args.sigma, input_range=tuple(args.input_range), class_names=args.class_names,
                    description=args.description, progress=bar)
    finally:
        bar.close()
    print(f"brought {out}")
    return 0


class _StepBar:
    """A tqdm bar on stderr for a progress(fraction, message) callback."""

    def __init__(self):
        self.bar = None

    def __call__(self, fraction: float, message: str) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=100, dynamic_ncols=True, file=sys.stderr, bar_format="{l_bar}{bar}| {desc}")
        self.bar.n = int(round(100 * fraction))
        self.bar.set_description_str(message[:80], refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_datasets(args) -> int:
    from . import data

    if args.download:
        from .data.download import download_dataset

        print(f"{args.download}: {download_dataset(args.download)}")
    for source in data.list_sources():
        state = "available" if source.available else "missing"
        print(f"{source.name:14s} {state:9s} {source.where}")
        if not source.available:
            print(f"{'':14s} how to get it: {source.how_to_get}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        command = {"train": cmd_train, "eval": cmd_eval, "export": cmd_export,
                   "datasets": cmd_datasets, "bring": cmd_bring, "measure": cmd_measure}[args.command]
        code = command(args)
        sys.stdout.flush()  # here, where a closed pipe is caught below, not at exit
        return code
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except VAEError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted; the last finished epoch (if any) is saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """`… | head`: the reader left. Point stdout at /dev/null so the interpreter's final flush cannot raise
    again (Python's documented recipe), and end quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE
