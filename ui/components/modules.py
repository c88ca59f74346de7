"""The components' JavaScript: ES modules (*.mjs beside their Python wrappers), served to the page as they are.

`make assets` runs this file (`python3 ui/components/modules.py`): it copies every ui/components/**/*.mjs to
static/components/<version>/ (git-ignored; Streamlit serves static/ at /app/static/), where <version> is a hash of
all of them. Each component registers a few-line `loader(entry)` as its JS; Streamlit runs that as a blob module,
where relative imports do not resolve, so it imports its entry by absolute URL, and the entry imports the rest by
relative paths inside the same version folder.

Why a folder per version and not `?v=<hash>` on the entry: a query versions only the entry; the modules it imports
keep plain URLs, and Streamlit's static files carry no Cache-Control, so a browser may reuse an old copy of them.

Standard library only, and no import of the `ui` package: make runs it before (and without) the virtual
environment.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATIC = HERE.parents[1] / "static" / "components"  # <repo>/static/components
URL_PREFIX = "app/static/components/"


def sources() -> list[Path]:
    return sorted(HERE.rglob("*.mjs"))


@cache
def version() -> str:
    """16 hex digits of sha256 over every module's path and bytes: any edit moves every URL."""
    digest = hashlib.sha256()
    for path in sources():
        digest.update(path.relative_to(HERE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def url(path: str) -> str:
    """URL path (relative to the page's base) of a module, e.g. url("map/points.mjs")."""
    return f"{URL_PREFIX}{version()}/{path}"


def install(prune: bool = False) -> Path:
    """Copy the modules to static/components/<version>/ unless that folder exists. The copy is made in a temporary
    folder and renamed into place, so a page never imports half a version. prune: remove the other versions."""
    target = STATIC / version()
    if not target.is_dir():
        STATIC.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=STATIC))
        for path in sources():
            copy = staging / path.relative_to(HERE)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
        os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide it from a server run by another user
        try:
            os.rename(staging, target)
        except OSError:  # another process installed the same version meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    if prune:
        for other in STATIC.iterdir():
            if other.is_dir() and other != target:
                shutil.rmtree(other, ignore_errors=True)
    return target


# The JS each component registers. A failed import says so in the page, once per mount, instead of a blank space.
_LOADER = """// Streamlit runs this as a blob module: import the component by absolute URL (ui/components/modules.py).
const url = new URL(__URL__, document.baseURI).href;
let loaded = null;
const loading = import(url).then((module) => (loaded = module));

export default function (component) {
  if (loaded) return loaded.default(component);
  let cleanup = null, gone = false;
  loading.then((module) => { if (!gone) cleanup = module.default(component); }, (err) => {
    const note = document.createElement("div");
    note.textContent = `This part of the page could not load its script (${err.message}): run "make assets".`;
    component.parentElement.appendChild(note);
  });
  return () => { gone = true; if (cleanup) cleanup(); };
}
"""


def loader(entry: str) -> str:
    """The registered JS of a component whose module is `entry` (a path under ui/components/)."""
    return _LOADER.replace("__URL__", json.dumps(url(entry)))


if __name__ == "__main__":
    print(f"{install(prune=True).relative_to(HERE.parents[1])}: {len(sources())} modules", file=sys.stderr)
