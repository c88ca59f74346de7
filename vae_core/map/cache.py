"""The one file cache of derived data (encodings, projections, inverses), beside the model whose weights made it.

A model's cache is read from its folders in order, first hit wins: a shipped model's own cache/ (read, never
written), then the writable one ($VAE_CACHE_DIR for shipped models, <model>/cache/<weights hash>/ otherwise). Files
are written atomically; a corrupt or unreadable file is computed again, and an unwritable folder only costs the
next run a recomputation. Names carry everything that changes the result, so a file can never be stale.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, TypeVar

from ..files import atomic_write

T = TypeVar("T")


@dataclass(frozen=True)
class Cache:
    read_from: tuple[Path, ...]  # looked in, in order (the last one is `write_to`)
    write_to: Path

    @classmethod
    def of(cls, loaded) -> Cache:
        """The cache of a loaded model (models/base.py's LoadedModel)."""
        return cls(tuple(loaded.cache_folders), loaded.cache_folder)

    @classmethod
    def at(cls, folder) -> Cache:
        """One folder, read and written (tests, tools)."""
        return cls((Path(folder),), Path(folder))

    def load(self, name: str, read: Callable[[Path], T | None]) -> T | None:
        """`read(path)` of the first folder holding `name` that gives a value; None when none does. `read` returns
        None (or raises OSError/ValueError/KeyError/EOFError) for a file it will not use."""
        for folder in self.read_from:
            path = folder / name
            if not path.is_file():
                continue
            try:
                value = read(path)
            except (OSError, ValueError, KeyError, EOFError):
                value = None  # corrupt or foreign: computed again
            if value is not None:
                return value
        return None

    def save(self, name: str, data: bytes | Callable[[BinaryIO], None]) -> None:
        """Write `name` atomically into the writable folder; a read-only install keeps working without it."""
        try:
            atomic_write(self.write_to / name, data)
        except OSError:
            pass

    def get(self, name: str, read: Callable[[Path], T | None], compute: Callable[[], T],
            write: Callable[[T], bytes | Callable[[BinaryIO], None]]) -> T:
        """The cached value, or `compute()` it and save `write(value)`."""
        value = self.load(name, read)
        if value is None:
            value = compute()
            self.save(name, write(value))
        return value
