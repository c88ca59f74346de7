"""A model with no UMAP yet: the Map shows the PCA map at once, the UMAP is computed in the background (one job for
every session asking), and it replaces the PCA map keeping the picked point and the selection.

The UMAP fit is replaced by a gated stand-in: the test decides when it ends, and counts how often it ran."""
import json

import numpy as np
import pytest

from ui import jobs, loaders
from ui.components import served
from vae_core.map import points as map_points
from vae_core.map import projection
from vae_core.map.projection import ProjectionSpec

from tests.conftest import settle

PAGE = "pages/map.py"


def session(tiny_app_factory, model, event=None):
    app = tiny_app_factory()
    app.session_state["model_path"] = str(model)
    app.session_state["map_method"] = "UMAP"
    app.switch_page(PAGE)
    if event is not None:
        app.session_state["map"] = {"event": {**event, "seq": "1", "color": "label"}}
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    return app


@pytest.fixture
def tiny_app_factory(app, tiny_models_dir):
    """New AppTest sessions like `app` (each its own session state), sharing the server's results and jobs."""
    from streamlit.testing.v1 import AppTest

    def make():
        at = AppTest.from_file(app._script_path, default_timeout=180)
        at.session_state["dataset_name"] = "digits"
        return at
    return make


def shown_xy(app) -> np.ndarray:
    found = [e for e in app.get("bidi_component") if e.proto.component_name == "vae_latent_map"]
    assert len(found) == 1
    points = map_points.unpack(served.file_of(json.loads(found[0].proto.json)["url"]).read_bytes())
    return np.stack([points.arrays["x"], points.arrays["y"]], axis=1)


def component_focus(app) -> dict:
    found = [e for e in app.get("bidi_component") if e.proto.component_name == "vae_latent_map"]
    return json.loads(found[0].proto.json)["focus"]


def test_a_new_model_shows_pca_at_once_then_its_umap_keeping_the_pick_and_selection(
        tiny_app_factory, new_model, gated_umap):
    gate, calls = gated_umap
    picker = session(tiny_app_factory, new_model, {"kind": "point", "row": 7})
    lasso = session(tiny_app_factory, new_model, {"kind": "selection", "rows": [1, 2, 3], "total": 3})
    for app in (picker, lasso):
        notes = [str(i.value) for i in app.info]
        assert any("UMAP map is being computed in the background" in n for n in notes), notes
        assert any("PCA of the" in str(c.value) for c in app.caption)
    # the map drawn is the PCA map of the model's encoder means, and both sessions wait on one job
    loaded = loaders.get_model(new_model)
    encoded = loaders.Current(loaded, loaders.get_dataset("digits"), "test", ProjectionSpec()).encoded()
    pca = projection.fit_projection(encoded.mu, ProjectionSpec("pca"))
    np.testing.assert_allclose(shown_xy(picker), pca, atol=1e-6)
    assert "#7 ·" in "\n".join(str(m.value) for m in picker.markdown)  # the detail works on the stand-in
    assert component_focus(picker)["row"] == 7
    assert "**3 points selected**" in "\n".join(str(m.value) for m in lasso.markdown)
    running = [job for job in jobs.shared_jobs().running() if job.key[0] == "projection"]
    assert len(running) == 1 and running[0].key[1] == str(new_model)

    gate.set()
    for app in (picker, lasso):
        settle(app)
        assert not any("being computed" in str(i.value) for i in app.info)
        assert any("UMAP of the" in str(c.value) for c in app.caption)
    umap = projection.tidy_coordinates(encoded.mu[:, [1, 0]])
    np.testing.assert_allclose(shown_xy(picker), umap, atol=1e-6)
    assert len(calls) == 1  # two sessions, one computation
    assert picker.session_state["map_pick"] == 7 and component_focus(picker)["row"] == 7
    assert "#7 ·" in "\n".join(str(m.value) for m in picker.markdown)
    assert lasso.session_state["map_focus"]["rows"] == [1, 2, 3]
    assert "**3 points selected**" in "\n".join(str(m.value) for m in lasso.markdown)


def test_a_spot_clicked_on_the_stand_in_is_dropped_when_it_is_replaced(tiny_app_factory, new_model, gated_umap):
    gate, _ = gated_umap
    app = session(tiny_app_factory, new_model, {"kind": "space", "xy": [0.5, 0.5]})
    assert "Empty space at (0.50, 0.50)" in "\n".join(str(m.value) for m in app.markdown)
    gate.set()
    settle(app)
    assert "Empty space at" not in "\n".join(str(m.value) for m in app.markdown)  # another map: another latent there
    assert any("just been replaced" in str(t.value) for t in app.toast)
    assert any("Click a point" in str(i.value) for i in app.info)


def test_a_umap_in_the_models_cache_is_used_at_once(tiny_app_factory, new_model, gated_umap):
    gate, calls = gated_umap
    gate.set()
    first = session(tiny_app_factory, new_model)
    settle(first)  # computed once (and written to the model's cache)
    assert len(calls) == 1
    loaders.forget_model(new_model)  # a restarted server: only the cache file is left
    second = session(tiny_app_factory, new_model)
    assert not any("being computed" in str(i.value) for i in second.info)
    assert any("UMAP of the" in str(c.value) for c in second.caption)
    assert len(calls) == 1 and not [job for job in jobs.shared_jobs().running() if job.key[0] == "projection"]
