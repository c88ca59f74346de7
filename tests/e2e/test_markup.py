"""Markdown from files and names never renders: a model folder, its dataset string, its class names and its
metrics.json full of markup, walked through every page in Chromium, give no <img>, <a>, <strong> or <b> that came
from them (only the characters, as typed)."""
import json
import sys
from pathlib import Path

import pytest

from .conftest import assert_no_exception, open_page, serving, wait_idle

pytestmark = pytest.mark.e2e

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: onnx_vaes
from onnx_vaes import MLPVAE, export  # noqa: E402

MARKUP = "![MKIMG](mk.png) [MKLINK](mk.html) **MKBOLD** <b>MKB</b> <img src=mk2.png>"
NAME = "m " + MARKUP.replace("/", "_")  # a folder name holds no slash
FOUND_JS = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('img, a, strong, b')) {
    const src = el.getAttribute('src') || '', href = el.getAttribute('href') || '', text = el.textContent.trim();
    if (src.includes('mk') || href.includes('mk') || ['MKBOLD', 'MKB', 'MKLINK', 'MKIMG'].includes(text))
      bad.push(el.outerHTML.slice(0, 120));
  }
  return bad;
}"""


@pytest.fixture(scope="module")
def markup_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("markup-app")
    models = tmp / "models"
    export(MLPVAE(latent_dim=3, hidden=16).eval(), models / NAME, "bernoulli_logits", "digits",
           class_names=[f"{MARKUP} {i}" for i in range(10)], description=MARKUP)
    (models / NAME / "metrics.json").write_text(json.dumps(
        {"elbo": -100.0, "active_units": MARKUP, "iwae_k": MARKUP, "iwae_bound": -99.0, MARKUP: MARKUP}))
    export(MLPVAE(latent_dim=2, hidden=8).eval(), models / "elsewhere", "bernoulli_logits", f"folder:{MARKUP}")
    with serving(tmp) as url:
        yield url


@pytest.mark.parametrize("path", ["/", "/generate", "/encode", "/interpolate", "/train",
                                  f"/?dataset={MARKUP}&model={MARKUP}&colour={MARKUP}"])
def test_no_markup_from_files_or_names_renders(page, markup_app, path):
    from urllib.parse import quote

    link = path.split("?")[0] + ("?" + "&".join(f"{k}={quote(v)}" for k, v in
                                                (p.split("=", 1) for p in path.split("?")[1].split("&")))
                                 if "?" in path else f"?dataset=digits&model={quote(NAME)}&projection=pca")
    open_page(page, f"{markup_app}{link}", "[data-testid=stSidebar]")
    wait_idle(page, 300_000)
    assert_no_exception(page)
    # the characters are on the page, as typed (in text or a widget's value; a busy machine may still be drawing)
    page.wait_for_function("() => document.documentElement.outerHTML.includes('MKBOLD')", timeout=120_000)
    wait_idle(page, 300_000)
    assert page.evaluate(FOUND_JS) == []
