"""Helpers for the tests that train from the command line (tests only)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the smallest model the CLI trains: an epoch of digits in well under a second
TINY = ["--latent-dim", "3", "--channels", "8", "16", "--hidden", "32", "--test-limit", "100"]


def kill_9_mid_training(out: Path, models_dir, ready, what: str, settle: float) -> None:
    """Train a TINY digits model for 100 epochs into `out` and SIGKILL it `settle` s after `ready()` holds (somewhere
    in a later epoch, or in the middle of a save): what a crash leaves behind. `what` names `ready` in the failure."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VAE_MODELS_DIR": str(models_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "vae_core", "train", "--dataset", "digits", "--epochs", "100",
                             "--out", str(out), *TINY], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not ready():
            assert proc.poll() is None and time.monotonic() < deadline, f"no {what}"
            time.sleep(0.02)
        time.sleep(settle)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
