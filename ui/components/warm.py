"""The browser warmed while the server starts: a component that draws nothing and imports what the Map will need
(warm.mjs says why)."""
from __future__ import annotations

from ui.components import renderer


def warm_up_map() -> None:
    renderer("vae_warm_up", "warm")(key="warm_up_map")
