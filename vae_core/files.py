"""Writing files safely, and turning the library's values into JSON: one implementation each, for every module."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

TEMP_PREFIX, TEMP_SUFFIX = ".", ".tmp"  # ".model.safetensors.abc123.tmp": hidden, recognisable, removable


def atomic_write(path: Path | str, data: bytes | Callable[[BinaryIO], None], *, replace: bool = True,
                 durable: bool = False) -> Path:
    """Write `data` (bytes, or a function writing to a binary handle) so no reader ever sees half a file.

    A hidden temp file in the same folder, then `os.replace` (replace=True) or `os.link`, which raises
    FileExistsError instead of replacing someone's file (replace=False). durable=True also fsyncs the bytes
    (checkpoints: a power cut must not leave a renamed but empty file); caches skip it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX + path.name + ".", suffix=TEMP_SUFFIX)
    try:
        os.fchmod(fd, new_file_mode())  # the umask's permissions, not mkstemp's 0600
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def to_builtin(value):
    """json.dumps(default=...) hook: numpy/torch scalars and arrays become numbers and lists, paths strings."""
    if hasattr(value, "tolist") and hasattr(value, "ndim"):  # numpy arrays and scalars, torch tensors
        return value.item() if value.ndim == 0 else value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def current_umask() -> int:
    """The process umask, read from /proc (os.umask can only be read by setting it, which races with other threads
    creating files)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _UMASK_AT_IMPORT


def new_file_mode() -> int:
    """0o666 less the umask: what open() would give a new file. tempfile.mkstemp creates 0600 files, which made saved
    models and caches unreadable to the group (a shared lab folder, a web server user)."""
    return 0o666 & ~current_umask()


def new_dir_mode() -> int:
    """0o777 less the umask: what mkdir() would give; tempfile.mkdtemp's staging folders are 0700."""
    return 0o777 & ~current_umask()


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK_AT_IMPORT = _read_umask()  # fallback where /proc is missing; import time is early and single-threaded
