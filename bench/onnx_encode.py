"""ONNX vs torch: encode 10,000 images with the same model, exported, in the same run.

    python bench/onnx_encode.py [--model FOLDER] [--images 10000] [--threads 1 2] [--repeats 3]

Takes the shipped Fashion-MNIST model (else the first shipped one), exports it with `onnx_export.export_model`,
loads the folder as an ONNX model (every load check included) and times `encode` of the whole batch, chunked the
same way, by torch and by onnxruntime, at each thread count (torch and onnxruntime get the same number). Prints
medians and the ratio onnxruntime / torch (below 1: onnxruntime is faster), plus the largest difference in mu.
Target: onnxruntime not slower (ratio ≤ 1.0 at every thread count); exit status 1 if missed.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from vae_core import data, models
from vae_core.models.torch_vae import checkpoint
from vae_core.models.torch_vae import export as onnx_export
from vae_core.models.onnx.runtime import OnnxVAE
from vae_core.paths import PRETRAINED_DIR

TARGET_RATIO = 1.0


def shipped_model() -> Path:
    listed = [m for m in models.list_models([PRETRAINED_DIR]) if m.error is None]
    listed.sort(key=lambda m: m.dataset != "fashion-mnist")
    if not listed:
        raise SystemExit(f"no model in {PRETRAINED_DIR}; give --model")
    return listed[0].path


def images_for(dataset_name: str, count: int) -> torch.Tensor:
    dataset = data.load_dataset(dataset_name)
    pool = np.concatenate([dataset.test_images, dataset.train_images])
    return data.to_tensor(np.resize(pool, (count, *pool.shape[1:])))  # repeats a small set up to `count`


def median_s(work, repeats: int) -> float:
    work()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    ours = checkpoint.load_checkpoint(args.model or shipped_model())
    with tempfile.TemporaryDirectory() as tmp:
        folder = onnx_export.export_model(ours.model, Path(tmp) / "exported")
        onnx = models.load_model(folder)
        x = images_for(ours.config.dataset or "digits", args.images)
        print(f"model {ours.path.name} ({ours.config.dataset}), {len(x):,} images {tuple(x.shape[1:])}, "
              f"chunks of 1024, median of {args.repeats}")
        print(f"{'threads':>7} | {'torch s':>8} | {'onnxruntime s':>13} | {'ratio ort/torch':>15} | {'max |Δmu|':>9}")
        missed = False
        for threads in args.threads:
            torch.set_num_threads(threads)
            runtime = OnnxVAE(onnx.model.encoder_graph, onnx.model.decoder_graph, onnx.config, threads=threads)
            torch_s = median_s(lambda: ours.model.encode_means(x), args.repeats)
            ort_s = median_s(lambda runtime=runtime: runtime.encode_means(x), args.repeats)
            diff = float(np.abs(ours.model.encode_means(x)[0] - runtime.encode_means(x)[0]).max())
            ratio = ort_s / torch_s
            missed |= ratio > TARGET_RATIO
            print(f"{threads:>7} | {torch_s:>8.3f} | {ort_s:>13.3f} | {ratio:>15.2f} | {diff:>9.1e}")
    print(f"target: ratio ≤ {TARGET_RATIO} at every thread count: {'missed' if missed else 'met'}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
