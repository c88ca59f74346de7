"""Showing user- or file-controlled text through Streamlit's markdown without it becoming markup.

A model folder named "[click](javascript:…)", a `?view=![x](https://evil.example/pixel.png)` or a class name
"<b>" must show as those characters: never a working link, a fetched image, a heading or HTML.
"""
from __future__ import annotations

import re

# Escaped everywhere: what opens links, images, emphasis, code, HTML, entities, maths ($), tables (|), strikethrough
# and Streamlit's directives (":red[…]"). Kept as they are: characters that only mean something at the start of a
# line, handled by _LINE_START, so "#7 · shirt" or "model-3.json" read the same in the source as on the screen.
_ALWAYS = re.compile(r"([\\`*_\[\]<>!$~|&:@{}])")
# GFM autolinks are found in the text after parsing, so a backslash does not stop them (measured in Chromium):
# an invisible WORD JOINER splits "https:", "www." and "a@b" so no URL or e-mail pattern matches.
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|www)(?=\\?[:.])|(?<=@)")
JOINER = "\u2060"
_LINE_START = re.compile(r"^(\s*)(#{1,6}|[-+])(?=\s|$)")   # a heading or a list item
_ORDERED = re.compile(r"^(\s*\d+)([.)])(?=\s|$)")          # "1. " or "1) ": a numbered list
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")


def md_escape(text) -> str:
    """`text` as literal characters in markdown, on one line (a newline could start a heading or a list)."""
    text = _ALWAYS.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(text)))
    text = _AUTOLINK.sub(lambda m: (m.group(1) or "") + JOINER, text)
    text = _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text)
    return _ORDERED.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def md_code(text) -> str:
    """`text` as an inline code span (paths, file names): a fence longer than any run of backticks inside it,
    so nothing in it can close the span early; inside a code span markdown and HTML are not interpreted."""
    text = _LINE_BREAKS.sub(" ", str(text))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"
