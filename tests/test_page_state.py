"""The state model (ui/state_items.py): every declared URL item round-trips through the address bar (state -> URL ->
a fresh session -> the same state), every bundle item through a view bundle, and bad links get one message that
names the parameter while the page opens on its default."""
import json
from pathlib import Path

import numpy as np
import pytest

from ui.session import bundles
from ui.session import item as session_item
from ui.session import items, keys
from ui.session.keys import GENERATE_Z, MAP_COLOUR, MAP_FOCUS, PICK, SELECTIONS, SPEC, SPLIT, VECTORS, endpoint_key
from vae_core import data, models
from vae_core.models.torch_vae import checkpoint
from vae_core.map import encodings
from vae_core.bundle import bundle_from_json, bundle_to_json

from tests.pages_helpers import open_by_link

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _navigation(navigation_like_the_server):
    """Every AppTest here runs app.py like the server does (see conftest)."""


@pytest.fixture(scope="module")
def encoded(tiny_models_dir):
    loaded = checkpoint.load_checkpoint(tiny_models_dir / "digits-tiny")
    return encodings.encode_split(loaded, data.load_dataset("digits"), "test")


@pytest.fixture
def fresh(app, tiny_models_dir):
    """fresh(page, **params): a new session (a new browser) opening `page` with a link's parameters (digits: where
    this machine has Fashion-MNIST, keep tests small)."""
    return lambda page, **params: open_by_link(page, params, **{keys.DATASET: "digits"})


def link_warnings(at) -> list[str]:
    return [w.value for w in at.warning if "link" in w.value]


def test_every_url_item_is_declared_once_with_a_unique_name_on_its_page():
    pages = {item.page for item in items.ITEMS} - {""}
    for page in pages:  # a link to a page reads the shared items and that page's: their names must not collide
        names = [item.name for item in items.ITEMS if item.page in ("", page)]
        assert len(names) == len(set(names)), page
    url_names = {item.name for item in items.ITEMS if item.in_url}
    assert url_names == {"dataset", "model", "split", "projection", "colour", "point", "z", "a", "b", "path"}
    assert set(items.PAGES) == pages | {"train"}  # every page with state is a page bundles know


def test_the_same_name_on_two_pages_is_read_by_the_linked_page_only(tiny_models_dir):
    """Interpolate's a= is an endpoint, Compare's a= a model: a link is read by its own page's items."""
    info = models.list_models([tiny_models_dir])[0]
    ctx = session_item.Context({info.name: info}, {}, ["digits"], lambda d, s: 300, lambda d: 10)
    link = {"a": "row:5", "b": "class:3"}
    updates, problems = session_item.restore_url(link, items.ITEMS, lambda s: ctx, {}, "interpolate")
    assert not problems and updates[endpoint_key("A") + "_row"] == 5 and keys.COMPARE_A not in updates
    updates, problems = session_item.restore_url({"a": info.name, "b": info.name}, items.ITEMS, lambda s: ctx, {},
                                                 "compare")
    assert not problems and updates[keys.COMPARE_A] == updates[keys.COMPARE_B] == str(info.path)
    assert not any(k.startswith(endpoint_key("A")) for k in updates)
    updates, problems = session_item.restore_url(link, items.ITEMS, lambda s: ctx, {}, "compare")
    assert [p for p in problems if "**a**" in p and "not a model installed here" in p]  # named, on its page's terms
    _, problems = session_item.restore_url({"z": "1,2,3,4"}, items.ITEMS, lambda s: ctx, {}, "map")
    assert problems == ["unknown parameter **z**"]  # Generate's z is not the Map's


def test_map_view_round_trips_through_the_url(fresh):
    link = {"model": "digits-tiny", "dataset": "digits", "split": "test", "projection": "pca", "colour": "kl",
            "point": "7"}
    at = fresh("pages/map.py", **link)
    assert not link_warnings(at) and not at.error, [e.value for e in at.error]
    assert at.session_state[SPEC].method == "pca" and at.session_state[SPLIT] == "test"
    assert at.session_state[MAP_COLOUR] == "kl" and map_data_sent(at)["color"] == "kl"  # the map opens coloured by KL
    assert at.session_state[PICK] == 7 and at.session_state[MAP_FOCUS] == {"kind": "point", "row": 7}
    assert any(m.value.startswith("**#7 ·") for m in at.markdown), "the detail panel shows the linked point"
    assert at.query_params == link  # the address bar shows the same view: a reload opens it again
    # the colour is switched inside the map (no rerun); the map's next event carries it to the link
    at.session_state["map"] = {"event": {"kind": "point", "row": 7, "seq": "colour", "color": "label"}}
    at.run()
    assert at.query_params["colour"] == "label"
    again = fresh("pages/map.py", **at.query_params)
    assert map_data_sent(again)["color"] == "label" and again.session_state[PICK] == 7


def map_data_sent(at) -> dict:
    """The data the Map page sent its map component in the last run."""
    import json

    found = [e for e in at.main if getattr(e, "type", None) == "bidi_component"]
    assert len(found) == 1
    return json.loads(found[0].proto.json)


def test_generate_z_round_trips_through_the_url(fresh, encoded):
    z = np.round(encoded.mu[3].astype(np.float64), 2)
    at = fresh("pages/generate.py", model="digits-tiny", projection="pca", z=",".join(f"{v:g}" for v in z))
    assert not link_warnings(at)
    np.testing.assert_allclose(at.session_state[GENERATE_Z], z, atol=1e-6)
    linked = at.query_params["z"]
    np.testing.assert_allclose([float(v) for v in linked.split(",")], z, atol=1e-6)
    again = fresh("pages/generate.py", **at.query_params)
    np.testing.assert_allclose(again.session_state[GENERATE_Z], z, atol=1e-6)
    assert again.query_params["z"] == linked


def test_interpolate_endpoints_and_path_round_trip_through_the_url(fresh):
    link = {"model": "digits-tiny", "dataset": "digits", "split": "test", "projection": "pca",
            "a": "row:5", "b": "class:3", "path": "slerp"}
    at = fresh("pages/interpolate.py", **link)
    assert not link_warnings(at) and not at.error
    assert at.number_input(key=endpoint_key("A") + "_row").value == 5
    assert at.selectbox(key=endpoint_key("B") + "_kind").value == "Class mean"
    assert at.selectbox(key=endpoint_key("B") + "_class").value == 3
    assert at.radio(key=keys.INTERP_PATH).value == "Slerp"
    assert at.query_params == link
    at.selectbox(key=endpoint_key("B") + "_kind").set_value("Random (prior)").run()
    assert at.query_params["b"] == "prior:0"
    again = fresh("pages/interpolate.py", **at.query_params)
    assert again.selectbox(key=endpoint_key("B") + "_kind").value == "Random (prior)"


@pytest.mark.parametrize("page, name, value, says", [
    ("pages/encode.py", "model", "no-such-model", "not a model installed here"),
    ("pages/map.py", "point", "99999999", "rows"),
    ("pages/map.py", "point", "-5", "row number"),
    ("pages/encode.py", "projection", "tsne", "one of umap, pca"),
    ("pages/generate.py", "z", "0.1,0.2", "has 2 numbers but the model has 4"),
    ("pages/generate.py", "z", "nan,1,2,3", "finite"),
    ("pages/generate.py", "z", "abc", "numbers separated by commas"),
    ("pages/interpolate.py", "a", "upload", "do not carry uploads"),
    ("pages/interpolate.py", "b", "row:100000", "rows"),
    ("pages/map.py", "colour", "x" * 10_000, "must be one of label, recon, kl"),
    ("pages/generate.py", "z", "1," * 10_000, "20,000 characters long"),
    ("pages/map.py", "*[junk](javascript:1)*", "1", "unknown parameter"),
    ("pages/map.py", "zoom", "1,2,3", "four map coordinates"),
    ("pages/map.py", "zoom", "2,1,0,1", "x0 below x1"),
    ("pages/map.py", "zoom", "0,1,0,inf", "finite"),
])
def test_a_bad_link_names_the_parameter_and_the_page_opens_on_its_default(fresh, page, name, value, says):
    link = {"model": "digits-tiny", "projection": "pca", name: value}  # PCA: no UMAP compile in tests
    at = fresh(page, **link)
    messages = link_warnings(at)
    assert len(messages) == 1 and says in messages[0], messages
    assert f"**{session_item.short(name, 20)}**" in messages[0]  # named, with its markup escaped
    assert "[junk]" not in messages[0] and "x" * 100 not in messages[0]
    assert not at.error, [e.value for e in at.error]
    if name == "point":
        assert PICK not in at.session_state
    if name == "zoom":
        assert keys.MAP_ZOOM not in at.session_state  # the whole map
    if name == "projection":
        assert SPEC not in at.session_state  # the default projection
    if name == "model":
        assert Path(at.session_state[keys.MODEL]).name == "digits-z8"  # the sidebar's default


def test_a_bad_link_parameter_leaves_the_good_ones_working(fresh):
    at = fresh("pages/map.py", model="digits-tiny", projection="pca", colour="recon", point="abc")
    assert len(link_warnings(at)) == 1 and "**point**" in link_warnings(at)[0]
    assert at.session_state[MAP_COLOUR] == "recon" and at.session_state[SPEC].method == "pca"


def rows(name, split):
    return len(encodings.split_images(data.load_dataset(name), split)[1])


def test_every_bundle_item_round_trips_through_a_view_bundle(app, open_page, encoded):
    page = open_page(app, "pages/generate.py")
    z = [float(v) for v in encoded.mu[2]]
    session = {keys.MODEL: page.session_state[keys.MODEL], keys.DATASET: "digits",
               SPEC: page.session_state[SPEC], SPLIT: "test", PICK: 9, SELECTIONS: {"s": [1, 2]},
               GENERATE_Z: z, VECTORS: {"v": [0.0, 1.0, 2.0, 3.0]},
               keys.ENDPOINTS: {"A": {"kind": "dataset", "index": 4, "split": "test"}}}
    bundle = bundle_from_json(bundle_to_json(bundles.view_bundle(session, page="generate")))
    assert set(session_item.bundle_parts(session, 4, items.ITEMS)) == {
        "projection", "endpoints", "selections", "sliders", "vectors"}
    updates, notes = bundles.restore_updates(bundle, models.list_models(), rows, {})
    restored: dict = {}
    session_item.apply(restored, updates)
    assert notes == [] and restored[SPEC] == session[SPEC] and restored[SPLIT] == "test"
    assert restored[PICK] == 9 and restored[MAP_FOCUS] == {"kind": "point", "row": 9}
    assert restored[SELECTIONS] == {"s": [1, 2]} and restored[VECTORS] == {"v": [0.0, 1.0, 2.0, 3.0]}
    assert restored[keys.GENERATE_START]["z"] == z
    assert restored[keys.RESTORE_ENDPOINTS] == {"A": {"kind": "dataset", "index": 4, "split": "test"}}


def test_a_bundle_from_before_the_state_model_still_opens(app, tiny_models_dir):
    """Written by hand in the version-1 format the app saved before this change."""
    weights = models.weights_hash(tiny_models_dir / "digits-tiny")
    old = json.dumps({"model_id": "digits-tiny", "weights_hash": weights,
                      "dataset": "digits", "projection": {"method": "pca", "dims": 2},
                      "selections": {"mine": [3, 4]}, "endpoints": {"map pick": {"kind": "dataset", "index": 6,
                                                                                   "split": "test"}},
                      "vectors": {}, "sliders": [0.5, 0.0, 0.0, -0.5], "page": "generate", "version": 1})
    updates, notes = bundles.restore_updates(bundle_from_json(old), models.list_models(), rows, {})
    assert updates[PICK] == 6 and updates[SELECTIONS] == {"mine": [3, 4]}
    assert updates[keys.GENERATE_START]["z"] == [0.5, 0.0, 0.0, -0.5]


def test_uploads_kept_in_the_session_stay_visible_on_encode(app, open_page):
    picture = np.zeros((28, 28), np.uint8)
    picture[8:20, 12:16] = 255
    app.session_state[keys.UPLOADS] = [{"name": "my_bar*.png", "mu": [0.0] * 4, "input": picture}]
    page = open_page(app, "pages/encode.py")
    assert any(m.value == "##### Kept from earlier in this session (1)" for m in page.markdown)
    assert any(c.value == session_item.short("my_bar*.png", 24) for c in page.caption)  # escaped: no markup
    assert len(page.image) == 2  # its model input, and how this model redraws it
    page.button(key="encode_forget").click().run()
    assert page.session_state[keys.UPLOADS] == []
    assert not any("Kept from earlier" in m.value for m in page.markdown)
