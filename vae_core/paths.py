"""Where things live on disk. Every folder can be moved with an environment variable."""
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Small models shipped in git; read-only from the app's point of view (never deleted or overwritten).
PRETRAINED_DIR = PROJECT_ROOT / "pretrained"


def models_dir() -> Path:
    """Where trained models are saved: $VAE_MODELS_DIR, else <project>/models."""
    return Path(os.environ.get("VAE_MODELS_DIR") or PROJECT_ROOT / "models")


def cache_dir() -> Path:
    """Scratch space (numba JIT cache, upload staging): $VAE_CACHE_DIR, else <project>/.cache."""
    return Path(os.environ.get("VAE_CACHE_DIR") or PROJECT_ROOT / ".cache")


def data_dir() -> Path:
    """The project's own data folder, searched after $VAE_DATA_DIR."""
    return PROJECT_ROOT / "data"


def setup_numba_cache() -> Path:
    """Point numba's JIT cache into the project so UMAP's cold compile is paid once, not per run.

    Must run before `import umap` (numba reads the variable at import time).
    """
    folder = cache_dir() / "numba"
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(folder))
    return Path(os.environ["NUMBA_CACHE_DIR"])
