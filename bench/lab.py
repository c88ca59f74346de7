"""Latent lab timings: decode a 20-step interpolation strip, and build its animated GIF.

    python bench/lab.py [--model FOLDER] [--repeats 30]

Uses the first model shipped in pretrained/, else trains a small digits model once with the CLI into
/tmp/vae-bench-lab. Each number is the median (p50) over repeats, printed next to a reference measured in the same
run on the same machine: decoding the 20 latents one at a time (what a naive page would do), the same batch on one
torch thread (shows when the machine is so busy that the thread pool hurts), and a PNG strip of the same frames.
Targets (CPU): strip decode ≤ 100 ms, GIF ≤ 300 ms. Exit status 1 if a target is missed.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/lab.py` works like `-m bench.lab`
from bench.timing import p50_ms
from vae_core import animation, data, latent, models
from vae_core.models.torch_vae import checkpoint
from vae_core.paths import PRETRAINED_DIR

STEPS = 20
GIF_SCALE, FRAME_MS = 4, 120   # what the page offers by default: 112 px frames for 28×28 images
TARGETS_MS = {"decode 20-step strip (batched)": 100.0, "build GIF (ping-pong, 4×)": 300.0}
FALLBACK = Path("/tmp/vae-bench-lab/digits-z8")


def find_model(explicit: Path | None) -> Path:
    if explicit:
        return explicit
    shipped = [m for m in models.list_models([PRETRAINED_DIR]) if m.error is None]
    if shipped:
        return shipped[0].path
    if not (FALLBACK / checkpoint.WEIGHTS).exists():
        print(f"no model in {PRETRAINED_DIR}: training a small digits model into {FALLBACK} …", flush=True)
        subprocess.run([sys.executable, "-m", "vae_core", "train", "--dataset", "digits", "--latent-dim", "8",
                        "--epochs", "5", "--out", str(FALLBACK)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return FALLBACK


def one_thread(work):
    """Run with one intra-op thread: on a busy machine torch's thread pool can cost more than it gains."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return work()
    finally:
        torch.set_num_threads(threads)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)

    folder = find_model(args.model)
    loaded = checkpoint.load_checkpoint(folder)
    model = loaded.model.eval()
    dataset = data.load_dataset(loaded.config.dataset)
    mu, _ = model.encode_means(data.to_tensor(dataset.test_images[:2]))
    path = latent.slerp(mu[0], mu[1], STEPS)
    frames = model.decode_images(path)

    results = {
        "decode 20-step strip (batched)": p50_ms(lambda: model.decode_images(path), args.repeats),
        "reference: 20 decodes one at a time": p50_ms(lambda: [model.decode_images(z) for z in path], args.repeats),
        "reference: batched, 1 torch thread": one_thread(lambda: p50_ms(lambda: model.decode_images(path),
                                                                         args.repeats)),
        "build GIF (ping-pong, 4×)": p50_ms(lambda: animation.strip_gif(frames, GIF_SCALE, FRAME_MS, True),
                                           args.repeats),
        "reference: PNG strip of the same frames (4×)": p50_ms(lambda: animation.strip_png(frames, GIF_SCALE),
                                                             args.repeats),
    }
    gif_kb = len(animation.strip_gif(frames, GIF_SCALE, FRAME_MS, True)) / 1024

    print(f"model {folder} (z={loaded.config.latent_dim}, images {tuple(loaded.config.image_shape)}), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"p50 of {args.repeats} repeats")
    failed = False
    for name, ms in results.items():
        target = TARGETS_MS.get(name)
        verdict = "" if target is None else ("PASS" if ms <= target else "FAIL")
        failed |= verdict == "FAIL"
        limit = f"target ≤ {target:.0f} ms" if target else ""
        print(f"  {name:46s} {ms:8.2f} ms  {limit:18s} {verdict}")
    speedup = results["reference: 20 decodes one at a time"] / results["decode 20-step strip (batched)"]
    print(f"  batching the strip is {speedup:.1f}× faster than decoding step by step; "
          f"GIF size {gif_kb:.0f} KB ({2 * STEPS - 2} frames)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
