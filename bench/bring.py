"""`bring` on the three kinds of VAE written elsewhere (tests/bring_models.py: a flat MLP with a sigmoid decoder, a
channels-last conv model, a colour 3×64×64 model with a tanh decoder), timed, and onnxruntime's encode throughput
against torch's on the same images, in the same run.

    python bench/bring.py [--images 2048] [--repeats 3]

For each model: the seconds `bring` spends exporting and checking the graphs (layout trials, export, the probe, the
likelihood check) and measuring the test split into metrics.json (digits' 300 test images for the grey models, 40
colour pictures for the colour one); then encode throughput (images/s, median of `--repeats`) of the torch module
and of the brought folder's onnxruntime session, one thread each, and their ratio (above 1: onnxruntime is faster).
A first, untimed `bring` of a tiny model pays the one-time imports (torch.onnx, onnxruntime, the probe's).
No pass/fail: a brought model runs as its exporter wrote it; the numbers say what that costs here.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from bring_models import ColourVAE, FlatMLP, KerasLikeVAE  # noqa: E402

from vae_core import bring, models  # noqa: E402

def colour_folder(root: Path, n: int = 40) -> str:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        (root / "pics" / str(i % 2)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / "pics" / str(i % 2) / f"{i}.png")
    return f"folder:{root / 'pics'}"


def kinds(tmp: Path):
    """(name, model, bring's arguments, torch encode on NCHW images in [0, 1])."""
    mlp, keras, colour = FlatMLP(), KerasLikeVAE(), ColourVAE()
    return [
        ("pytorch/examples-like MLP", mlp, dict(image_shape=(1, 28, 28), dataset="digits"),
         lambda x: mlp.encode(x.reshape(len(x), -1))),
        ("keras.io-like NHWC conv", keras, dict(image_shape=(1, 28, 28), dataset="digits", encode="encoder",
                                                 decode="decoder"), lambda x: keras.encoder(x.permute(0, 2, 3, 1))),
        ("VanillaVAE-like colour 64×64", colour, dict(image_shape=(3, 64, 64), dataset=colour_folder(tmp),
                                                      likelihood="gaussian", sigma=1.24, input_range=(-1, 1)),
         lambda x: colour.encode(2 * x - 1)),
    ]


def timed_bring(model, out: Path, arguments: dict) -> tuple[float, float]:
    """(seconds exporting and checking, seconds measuring), split where bring starts measuring."""
    marks = {"start": time.perf_counter()}

    def progress(fraction: float, message: str) -> None:
        if "measuring" in message and "measure" not in marks:
            marks["measure"] = time.perf_counter()
    bring(model, out, progress=progress, **arguments)
    end = time.perf_counter()
    measure_start = marks.get("measure", end)
    return measure_start - marks["start"], end - measure_start


def throughput(encode, x: torch.Tensor, repeats: int) -> float:
    """Images per second, median of `repeats` passes over x in batches of 256, after one warm-up pass."""
    def one_pass():
        with torch.no_grad():
            for start in range(0, len(x), 256):
                encode(x[start:start + 256])
    one_pass()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        one_pass()
        times.append(time.perf_counter() - began)
    return len(x) / statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"{'model':32s} {'export+checks':>14s} {'measuring':>10s} {'torch img/s':>12s} {'onnx img/s':>11s} "
          f"{'onnx/torch':>10s}")
    with tempfile.TemporaryDirectory() as tmp:
        bring(FlatMLP(hidden=8, latent=2), Path(tmp) / "warm-up", (1, 28, 28), "digits")  # the imports, once
        for name, model, arguments, torch_encode in kinds(Path(tmp)):
            exporting, measuring = timed_bring(model, Path(tmp) / name.split()[0], arguments)
            loaded = models.load_model(Path(tmp) / name.split()[0])
            x = torch.rand(args.images, *arguments["image_shape"])
            model.eval()
            ours = throughput(torch_encode, x, args.repeats)
            onnx = throughput(loaded.model.encode, x, args.repeats)
            print(f"{name:32s} {exporting:13.2f}s {measuring:9.2f}s {ours:12,.0f} {onnx:11,.0f} {onnx / ours:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
