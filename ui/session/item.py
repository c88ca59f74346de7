"""The state model: every page declares the state it owns once (ui/session/items.py), as `Item`s; this module turns
those declarations into the address bar (`st.query_params`) and into view bundles, and back.

- An `Item` names one piece of state: its session key, its default, and how it travels (URL text, bundle fields).
  Widgets that show it are listed too: a restore drops them, so they are drawn again from the restored value.
- `restore_url()` turns a link's parameters into session values, each checked against what is installed (models,
  latent sizes, row counts); a bad one is named in one message and its page opens on the default (url.read calls
  it once per session, before any widget).
- `url_params()` is the view as the address bar's parameters (url.publish writes them after every run).
- `bundle_parts()` and `restore_bundle()` do the same for view bundles (bundles.py).
"""
from __future__ import annotations

import math
from collections import ChainMap
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from vae_core.errors import VAEError
from vae_core.models import ModelInfo

from ..text import md_escape
from .keys import DATASET, MODEL, SPLIT

MAX_URL_VALUE = 16_000   # characters: a 4096-dim z fits; 10 kB of junk is refused by its parser, not here
URL_READ = "page_state_url_read"       # the session read its link (once: later runs write the URL, never read it)
URL_PAGE = "page_state_page"           # url_path of the page this run shows: publish() writes its items


@dataclass
class Context:
    """What a URL value or a bundle part is checked against: installed models and the session so far."""
    models: dict[str, ModelInfo]                 # installed, usable models by name
    session: Mapping                                        # session values with the restore's updates on top
    datasets: list[str]                                     # dataset names the sidebar offers
    rows: Callable[[str, str], int]                         # (dataset, split) -> number of rows
    classes: Callable[[str], int]                           # dataset -> number of classes

    def model(self) -> ModelInfo | None:
        path = self.session.get(MODEL)
        return next((m for m in self.models.values() if str(m.path) == str(path)), None)

    def latent_dim(self) -> int | None:
        info = self.model()
        return info.latent_dim if info else None

    def n_rows(self) -> int | None:
        dataset = self.session.get(DATASET)
        return self.rows(dataset, self.session.get(SPLIT) or "test") if dataset else None

    def n_classes(self) -> int | None:
        dataset = self.session.get(DATASET)
        return self.classes(dataset) if dataset else None


@dataclass(frozen=True)
class Item:
    """One piece of page state, declared once. URL/bundle converters raise ValueError with a reason."""
    name: str                                   # the URL parameter, and the name every message uses
    key: str                                    # the session-state key holding the value
    page: str                                   # owning page's url_path; "" = shared by every page
    default: Any = None
    help: str = ""                              # what it holds, for readers and the closing note
    to_url: Callable[[Mapping], str | None] | None = None          # session -> text (None: not in the URL now)
    from_url: Callable[[str, Context], dict] | None = None         # text -> session updates
    to_bundle: Callable[[Mapping, int], dict] | None = None        # session, latent dim -> ViewBundle fields
    from_bundle: Callable[[Any, Context], dict] | None = None      # ViewBundle -> session updates
    widgets: tuple[str, ...] = field(default=())                   # widget keys drawn from this value

    @property
    def in_url(self) -> bool:
        return self.to_url is not None

    def get(self, session: Mapping):
        return session.get(self.key, self.default)


def clip(text: str, limit: int = 40) -> str:
    """A URL value (or a file name) with its whitespace folded, cut at `limit`: plain text, not escaped."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


def short(text: str, limit: int = 40) -> str:
    """clip(), escaped for markdown (ui/text.md_escape)."""
    return md_escape(clip(text, limit))


def fmt_floats(values, digits: int = 3) -> str:
    """Compact z: 3 significant digits (finer than any slider's step, which is 1% of its half-range)."""
    return ",".join(f"{float(v):.{digits}g}" for v in values)


def parse_floats(text: str, size: int | None, what: str = "numbers") -> list[float]:
    try:
        values = [float(p) for p in text.split(",")]
    except ValueError:
        raise ValueError(f"must be {what} separated by commas") from None
    if size is not None and len(values) != size:
        raise ValueError(f"has {len(values)} {what} but the model has {size} latent dimensions")
    if not all(math.isfinite(v) and abs(v) <= MAX_Z for v in values):  # inclusive: 9,999 is written 1e+04
        raise ValueError(f"holds a value that is not a finite number within ±{MAX_Z:,.0f}")
    return values


MAX_Z = 1e4  # the largest latent value a link may carry (any slider's range is far inside)
MAX_ROW_DIGITS = 9  # a billion rows: more digits are no row (and 5,000 of them made Python refuse the int)


def parse_row(text: str, n_rows: int | None) -> int:
    if not text.isdigit() or len(text) > MAX_ROW_DIGITS:
        raise ValueError("must be a row number (0, 1, 2, …)")
    row = int(text)
    if n_rows is not None and row >= n_rows:
        raise ValueError(f"is row {row:,} but the split has {n_rows:,} rows (0–{n_rows - 1:,})")
    return row


def choice(text: str, allowed: Mapping[str, Any] | list) -> str:
    if text not in allowed:
        raise ValueError(f"must be one of {', '.join(allowed)}")
    return text


# --- URL -----------------------------------------------------------------------------------------------------
def url_items(page: str, items: list[Item]) -> list[Item]:
    return [i for i in items if i.in_url and i.page in ("", page)]


def url_params(session: Mapping, page: str, items: list[Item]) -> dict[str, str]:
    """The address bar's parameters for `page` from the session: shared items, then the page's own."""
    params = {}
    for item in url_items(page, items):
        text = item.to_url(session)
        if text is not None:
            params[item.name] = text
    return params


def restore_url(params: Mapping[str, str], items: list[Item], ctx_of: Callable[[Mapping], Context],
                session: Mapping, page: str) -> tuple[dict, list[str]]:
    """Session updates from a link to `page`, item by item in declaration order (model before z, split before point).
    Only the shared items and `page`'s own are read: names are per page (Interpolate's `a` is an endpoint, Compare's
    a model), and a link holds only its page's items (url_params). A bad parameter is left out with a message naming
    it; the others still apply."""
    updates: dict = {}
    problems: list[str] = []
    items = [i for i in items if i.from_url and i.page in ("", page)]
    known = {i.name for i in items}
    for item in items:
        if item.name not in params:
            continue
        text = str(params[item.name])
        try:
            if len(text) > MAX_URL_VALUE:
                raise ValueError(f"is {len(text):,} characters long")
            part = item.from_url(text.strip(), ctx_of(ChainMap(updates, session)))
        except (ValueError, VAEError) as err:
            problems.append(f"**{item.name}** = {short(text)} {md_escape(err)}")  # errors quote installed names
            continue
        for widget in item.widgets:
            part.setdefault(widget, None)  # None: drop it, so the widget is drawn from the restored value
        updates.update(part)
    unknown = [name for name in params if name not in known and name != "view"]
    if unknown:
        problems.append("unknown parameter" + ("s " if len(unknown) > 1 else " ")
                        + ", ".join(f"**{short(n, 20)}**" for n in unknown[:3]) + (" …" if len(unknown) > 3 else ""))
    return updates, problems


def apply(session, updates: Mapping) -> None:
    """Write restored values; a None for a widget key removes it (the widget then shows the restored value)."""
    for key, value in updates.items():
        if value is None:
            session.pop(key, None)
        else:
            session[key] = value


# --- bundles -------------------------------------------------------------------------------------------------
def bundle_parts(session: Mapping, dim: int, items: list[Item]) -> dict:
    """Each item's part of a view bundle, merged field by field (two items may add to the same named field)."""
    fields_: dict = {}
    for item in items:
        if item.to_bundle is None:
            continue
        for name, value in item.to_bundle(session, dim).items():
            if isinstance(value, dict) and isinstance(fields_.get(name), dict):
                fields_[name] = {**fields_[name], **value}
            else:
                fields_[name] = value
    return fields_


def restore_bundle(bundle, items: list[Item], ctx_of: Callable[[Mapping], Context], session: Mapping) -> dict:
    """Session updates from a bundle, each item its part; a ValueError/VAEError stops the whole restore."""
    updates: dict = {}
    for item in items:
        if item.from_bundle is None:
            continue
        part = item.from_bundle(bundle, ctx_of(ChainMap(updates, session)))
        for widget in item.widgets:
            part.setdefault(widget, None)
        updates.update(part)
    return updates
