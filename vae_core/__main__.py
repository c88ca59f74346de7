"""`python -m vae_core …` (and `torchrun … -m vae_core train …`): see cli.py.

The package's __init__ sets OMP_WAIT_POLICY=PASSIVE before torch loads (idle threads sleep instead of spinning).
"""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
