"""A titled placeholder that lists a page's preparation steps as they run, where the result will be drawn.

A first map on a fresh server takes seconds (the dataset, the encoding, the projection, the page's files); a blank
area for that long reads as broken. Each step is ticked off with its time; a step that reports progress (loaders.memo)
draws its own bar under the list. The box goes when the steps are done.
"""
from __future__ import annotations

import contextlib
import time

import streamlit as st


class Steps:
    def __init__(self, title: str, names: list[str], shown: bool = True):
        """`names`: every step, in order (the ones to come are listed too). `shown`: False draws nothing (a page
        whose result is already there: the box would only flash)."""
        self.title, self.names, self.shown = title, names, shown
        self.seconds: dict[str, float] = {}
        self.current: str | None = None
        self.slot = st.empty() if shown else None
        self._draw()

    @contextlib.contextmanager
    def step(self, name: str):
        self.current = name
        self._draw()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - start
            self.current = None

    def close(self) -> None:
        if self.slot is not None:
            self.slot.empty()

    def _draw(self) -> None:
        if self.slot is None:
            return
        lines = []
        for name in self.names:
            if name in self.seconds:
                lines.append(f"- ✅ {name} · {self.seconds[name]:.1f} s")
            elif name == self.current:
                lines.append(f"- ⏳ **{name}**…")
            else:
                lines.append(f"- ▫️ {name}")
        with self.slot.container(border=True):
            st.markdown(f"**{self.title}**\n\n" + "\n".join(lines))
