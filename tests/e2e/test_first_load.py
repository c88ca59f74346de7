"""A first visit, in a real browser: on a fresh server the pages' titles and a titled placeholder come before the
heavy imports end; a link to a point opens its detail on the first visit (fresh server and warm one); a model with no
UMAP yet is usable on its PCA map while the UMAP is computed, which then replaces it keeping the pick."""
import re
import shutil

import pytest

from vae_core.paths import PRETRAINED_DIR

from .conftest import FIRST_LOAD_MS, PAGE_TITLES, assert_no_exception, start_app, stop_app, wait_idle

pytestmark = pytest.mark.e2e

POINT_TITLE = re.compile(r"^#(\d+) · ")
READY = "() => window.__vae && __vae.maps.at(-1)?.ready"
# Recorded from the first DOM change: each distinct navigation, and what the navigation showed when the main area
# first showed the start-up placeholder and the page's own title.
RECORDER = """
window.__paint = {navs: [], placeholder: null, title: null};
const navText = () => [...document.querySelectorAll('[data-testid=stSidebarNav] a')].map(a => a.innerText.trim());
new MutationObserver(() => {
  const p = window.__paint, nav = navText(), t = performance.now();
  if (nav.length && JSON.stringify(nav) !== JSON.stringify(p.navs.at(-1)?.nav)) p.navs.push({t, nav});
  const main = document.querySelector('[data-testid=stMain]');
  if (!main) return;
  if (!p.placeholder && main.innerText.includes('Starting the app')) p.placeholder = {t, nav};
  const heading = main.querySelector('h4');
  if (!p.title && heading) p.title = {t, nav, text: heading.innerText.trim()};
}).observe(document, {childList: true, subtree: true, characterData: true});
"""


def new_page(browser, recorder: bool = False):
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    if recorder:
        context.add_init_script(RECORDER)
    return context, context.new_page()


def detail(page):
    return page.locator("[data-testid=stMarkdownContainer]").filter(has_text=POINT_TITLE)


def open_point_link(page, url: str) -> int:
    """Open /?point=42 (nothing else in the link), wait for the map, and return the row the detail panel shows."""
    page.goto(f"{url}/?point=42")
    page.wait_for_function(READY, timeout=FIRST_LOAD_MS)
    wait_idle(page, FIRST_LOAD_MS)
    assert_no_exception(page)
    detail(page).first.wait_for(timeout=10_000)  # there at once, not after a reload (it took 30 s, or forever)
    return int(POINT_TITLE.match(detail(page).first.inner_text()).group(1))


def test_a_first_visit_to_a_fresh_server_is_titled_at_once_and_opens_the_linked_point(browser, tmp_path):
    proc, url = start_app(tmp_path)
    try:
        context, page = new_page(browser, recorder=True)
        try:
            assert open_point_link(page, url) == 42
            paint = page.evaluate("() => window.__paint")
        finally:
            context.close()
        # the libraries were still loading: a titled placeholder stood where the page goes, under the pages' titles
        assert paint["placeholder"], f"no start-up placeholder was shown; the main area showed {paint['title']}"
        for moment in (paint["placeholder"], paint["title"]):
            assert all(any(title in item for item in moment["nav"]) for title in PAGE_TITLES), moment
            assert "app" not in moment["nav"], f"the navigation listed the pages/ folder's file names: {moment}"
        assert paint["title"]["text"] == "Map"  # the placeholder's title: the page's own

        context, page = new_page(browser)  # the same link, another browser, now on a warm server
        try:
            assert open_point_link(page, url) == 42
        finally:
            context.close()
    finally:
        stop_app(proc)


def caption(page) -> str:
    return " ".join(page.locator("[data-testid=stCaptionContainer]").all_inner_texts())


def test_a_model_without_a_umap_is_usable_on_its_pca_map_meanwhile(browser, tmp_path):
    shipped = PRETRAINED_DIR / "fashion-mnist-z16"
    if not (shipped / "model.safetensors").is_file():
        pytest.skip("the shipped Fashion-MNIST model is not here")
    models = tmp_path / "models"
    shutil.copytree(shipped, models / "fashion-new", ignore=shutil.ignore_patterns("cache"))  # no map shipped
    proc, url = start_app(tmp_path)
    try:
        context, page = new_page(browser)
        try:
            page.goto(f"{url}/?model=fashion-new&dataset=fashion-mnist")
            page.wait_for_function(READY, timeout=FIRST_LOAD_MS)
            note = page.get_by_text("map is being computed in the background")
            assert note.count() == 1, "the map was drawn, but not as the stand-in for the UMAP being computed"
            assert "PCA of the" in caption(page)
            # a pick works on the stand-in: the map's own search picks a row, like a click
            page.locator(".vmap-search").fill("42")
            page.locator(".vmap-search").press("Enter")
            detail(page).first.wait_for(timeout=60_000)
            assert POINT_TITLE.match(detail(page).first.inner_text()).group(1) == "42"
            assert note.count() == 1, "the UMAP arrived before the pick: nothing was shown to be usable meanwhile"
            page.locator("[data-testid=stProgress]").first.wait_for(timeout=10_000)  # the job's progress, polled
            # the UMAP replaces it, keeping the pick
            page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stCaptionContainer]')]"
                                   ".some(e => e.innerText.includes('UMAP of the'))", timeout=600_000)
            page.wait_for_function(READY, timeout=120_000)
            wait_idle(page, 120_000)
            assert note.count() == 0
            assert POINT_TITLE.match(detail(page).first.inner_text()).group(1) == "42"
            assert page.evaluate("() => __vae.maps.at(-1).data.focus.row") == 42
            assert_no_exception(page)
        finally:
            context.close()
    finally:
        stop_app(proc)
