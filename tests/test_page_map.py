"""Map page under AppTest: an injected chart selection drives the detail panel (AppTest cannot click Plotly)."""
import numpy as np
import pytest

from ui.figures import GRID_ID_OFFSET
from ui.state_items import MAP_METHOD_WIDGET, PICK, SELECTIONS
from vae_core import checkpoint, data, explorer

PAGE = "pages/map.py"


@pytest.fixture
def expected(tiny_models_dir):
    """The tiny model's own per-image numbers for the digits test split, computed without the app."""
    loaded = checkpoint.load_checkpoint(tiny_models_dir / "digits-tiny")
    return explorer.encode_split(loaded, data.load_dataset("digits"), "test")


def run_map(app, selection=None):
    app.session_state[MAP_METHOD_WIDGET] = "PCA"  # instant; UMAP has its own tests
    app.switch_page(PAGE)
    if selection is not None:
        app.session_state["map"] = {"selection": selection}
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def markdown(app) -> str:
    return "\n".join(str(m.value) for m in app.markdown)


def test_map_without_a_pick_invites_a_click(app):
    run_map(app)
    assert any("Click a point" in str(i.value) for i in app.info)
    assert app.sidebar.selectbox(key="model_path").value.endswith("digits-tiny")


def test_clicked_point_shows_its_index_numbers_and_images(app, expected):
    row = 7
    run_map(app, {"points": [{"customdata": row, "x": 0.0, "y": 0.0}], "box": [], "lasso": []})
    assert f"#{row} ·" in markdown(app)
    metrics = {m.label: m.value for m in app.main.metric}
    assert metrics["ELBO"] == f"{expected.elbo[row]:.1f}"
    assert metrics["KL"] == f"{expected.kl[row]:.1f}"
    captions = [c.value for c in app.caption]
    assert any("nearest neighbours" in c for c in captions)
    distances = np.linalg.norm(expected.mu - expected.mu[row], axis=1)
    nearest = [int(i) for i in np.argsort(distances) if i != row][:8]  # brute force, apart from the app's index
    shown = [int(c.split()[0][1:]) for c in captions if c.startswith("#") and c.split()[0][1:].isdigit()]
    assert shown == nearest
    assert len([im for im in app.main.image if not im.captions or not im.captions[0]]) >= 8  # their thumbnails
    assert app.session_state[PICK] == row
    assert app.button(key="open_point").label == "Open in Generate"
    app.button(key="open_point").click().run()  # hands this point's μ and row to Generate, which takes it
    assert not app.exception
    assert any(f"Started from #{row}" in s.value for s in app.success)
    assert next(n for n in app.number_input if n.key.endswith("_index")).value == row


def test_empty_space_decodes_that_spot(app):
    run_map(app, {"points": [{"customdata": -(GRID_ID_OFFSET + 3), "x": 9.5, "y": -9.5}], "box": [], "lasso": []})
    assert "Empty space at (9.50, -9.50)" in markdown(app)
    # a corner of the map is far from the data: the user is warned the decoder extrapolates
    assert any("far from any data" in str(w.value) for w in app.warning)


def test_lasso_shows_the_group_and_can_be_kept(app, expected):
    rows = [1, 2, 3, 10, 11]
    points = [{"customdata": r, "x": 0.0, "y": 0.0} for r in rows] + [{"customdata": -(GRID_ID_OFFSET + 1)}]
    run_map(app, {"points": points, "box": [], "lasso": [{"x": [0, 1, 1], "y": [0, 0, 1]}]})
    assert f"**{len(rows):,} points selected**" in markdown(app)
    assert app.get("download_button")[0].proto.label == "Download this grid (PNG)"
    app.text_input(key="selection_name").set_value("five")
    app.button(key="keep_selection").click().run()
    assert app.session_state[SELECTIONS]["five"] == rows


def test_csv_downloads_name_what_they_hold_all_points_or_the_selection(app, expected, monkeypatch):
    from streamlit.runtime.media_file_manager import MediaFileManager

    deferred = {}
    original = MediaFileManager.add_deferred

    def keep(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        deferred[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    rows = [4, 9, 2]
    run_map(app, {"points": [{"customdata": r, "x": 0.0, "y": 0.0} for r in rows], "box": [{"x": [0, 1]}],
                  "lasso": []})
    labels = [b.proto.label for b in app.get("download_button")]
    assert "Download the 3 selected points as CSV" in labels
    assert f"Download all {len(expected):,} points as CSV" in labels
    selected = deferred["digits-tiny-selection.csv"]().decode().splitlines()
    every = deferred["digits-tiny-map.csv"]().decode().splitlines()
    assert [int(line.split(",")[0]) for line in selected[1:]] == sorted(rows)
    assert len(every) == len(expected) + 1 and selected[0] == every[0]
    mu = np.array([[float(v) for v in line.split(",")[2:2 + expected.mu.shape[1]]] for line in selected[1:]])
    np.testing.assert_allclose(mu, expected.mu[sorted(rows)], rtol=1e-5, atol=1e-5)
