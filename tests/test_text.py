"""md_escape / md_code: hostile text (a link, an image, a heading, HTML, an autolink, Streamlit directives) must be
inert markdown. Checked structurally here (every markup character escaped, one line, nothing at a line start that
opens a block); tests/e2e/test_hostile.py checks what Chromium actually renders."""
import re

import pytest

from ui.text import JOINER, md_code, md_escape

HOSTILE = [
    "[Session expired: log in again](https://evil.example/phish)",
    "![x](https://evil.example/pixel.png)",
    "# Heading",
    "<img src=x onerror=alert(1)><script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "visit https://evil.example or www.evil.example",
    ":red[alarm] :material/warning: $x^2$",
    "line one\n# line two\n- item\n1. item",
    "`code` **bold** _it_ ~~gone~~ | a | b |",
    "&lt;b&gt; &#x3C;",
    "mail me: someone@evil.example",
]
MARKUP = "\\`*_[]<>!$~|&:@{}"


def unescaped(text: str) -> list[str]:
    """Markup characters not preceded by an odd number of backslashes."""
    found = []
    for match in re.finditer(r"\\*(.)", text, flags=re.DOTALL):
        slashes = len(match.group(0)) - 1
        char = match.group(1)
        if char in MARKUP and slashes % 2 == 0 and char != "\\":
            found.append(char)
    return found


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_has_no_live_markup(text):
    out = md_escape(text)
    assert "\n" not in out
    assert not unescaped(out), (out, unescaped(out))
    assert not re.match(r"\s*(#{1,6}|[-+*>])(\s|$)", out) and not re.match(r"\s*\d+[.)](\s|$)", out)
    assert not re.search(r"(?i)https?\\?:|www\.", out)  # no autolink can form (they match after unescaping)
    assert not re.search(r"[\w.+-]@[\w-]+\.", out.replace("\\", ""))  # nor an e-mail link
    visible = re.sub(r"\\(.)", r"\1", out).replace(JOINER, "")  # unescaped, without the joiners: the same text
    assert visible == re.sub(r"[\r\n]+", " ", text)


def test_ordinary_names_stay_readable():
    assert md_escape("#7 · shirt") == "#7 · shirt"
    assert md_escape("fashion-mnist-z16-2") == "fashion-mnist-z16-2"
    assert md_escape("-3.5 nats") == "-3.5 nats"


@pytest.mark.parametrize("text", ["plain", "a`b", "``x``", "```", "a\nb"])
def test_code_span_cannot_be_closed_from_inside(text):
    out = md_code(text)
    fence = re.match(r"`+", out).group(0)
    inner = out[len(fence):-len(fence)]
    assert out.endswith(fence) and fence not in inner and "\n" not in out
    assert inner.strip() == text.replace("\n", " ")


def test_compact_nats_drop_the_decimal_from_100_up():
    from ui.widgets import nats
    assert [nats(v, compact=True) for v in (-559.04, -99.94, 14.6, 100.0)] == ["-559", "-99.9", "14.6", "100"]
    assert nats(-559.04) == "-559.0" and nats(float("nan"), compact=True) == "n/a"
