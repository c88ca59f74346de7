"""Map page under AppTest: the map component's event, set as its state value, drives the detail panel.

AppTest cannot run the component's JavaScript; `session_state["map"] = {"event": ...}` is exactly what the page
sends after a click, a click on empty space or a box/lasso."""
from decimal import Decimal

import numpy as np
import pytest

from vae_core import data
from vae_core.models.torch_vae import checkpoint
from vae_core.map import encodings

from tests.conftest import settle

PAGE = "pages/map.py"


@pytest.fixture
def expected(tiny_models_dir):
    """The tiny model's own per-image numbers for the digits test split, computed without the app."""
    loaded = checkpoint.load_checkpoint(tiny_models_dir / "digits-tiny")
    return encodings.encode_split(loaded, data.load_dataset("digits"), "test")


def run_map(app, event=None):
    app.session_state["map_method"] = "PCA"  # instant; UMAP has its own tests
    app.switch_page(PAGE)
    if event is not None:
        app.session_state["map"] = {"event": {**event, "seq": "1", "color": "label"}}
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
    run_map(app, {"kind": "point", "row": row})
    assert f"#{row} ·" in markdown(app)
    metrics = {m.label: m for m in app.main.metric}
    elbo, recon, kl = (float(metrics[name].value) for name in ("ELBO", "Recon", "KL"))
    # issue 22: one estimate, adding up as shown (it was ELBO −258, Recon 219 at μ, KL 16.2)
    assert elbo == pytest.approx(-(recon + kl), abs=1e-9)
    assert elbo == pytest.approx(expected.elbo[row], abs=0.05) and kl == pytest.approx(expected.kl[row], abs=0.05)
    assert recon == pytest.approx(expected.recon_sampled[row], abs=0.1)
    assert abs(recon - expected.recon[row]) > 0.2  # not the reconstruction at μ: another quantity
    for metric in metrics.values():  # the estimator, and the unrounded numbers, one hover away
        assert "single-sample estimate" in metric.help and f"{expected.elbo[row]:.1f}" in metric.help
    captions = [c.value for c in app.caption]
    assert any("nearest neighbours" in c for c in captions)
    distances = np.linalg.norm(expected.mu - expected.mu[row], axis=1)
    nearest = [int(i) for i in np.argsort(distances) if i != row][:8]  # brute force, apart from the app's index
    shown = [int(c.split()[0][1:]) for c in captions if c.startswith("#") and c.split()[0][1:].isdigit()]
    assert shown == nearest
    assert len([im for im in app.main.image if not im.captions or not im.captions[0]]) >= 8  # their thumbnails
    assert app.session_state["map_pick"] == row
    assert app.button(key="open_point").label == "Open in Generate"
    app.button(key="open_point").click().run()  # hands this point's μ and row to Generate, which takes it
    assert not app.exception
    assert any(f"Started from #{row}" in s.value for s in app.success)
    assert next(n for n in app.number_input if n.key.endswith("_index")).value == row


def test_empty_space_decodes_that_spot(app):
    settle(run_map(app, {"kind": "point", "row": 5}))  # the map's inverse is fitted in the background
    assert app.query_params["point"] == "5"
    app.session_state["map"] = {"event": {"kind": "space", "xy": [9.5, -9.5], "seq": "2", "color": "label"}}
    app.run()
    assert "Empty space at (9.50, -9.50)" in markdown(app)
    assert "point" not in app.query_params  # the link no longer reopens the point clicked before
    # a corner of the map is far from the data: the user is warned, and told what the image is
    warning = next(str(w.value) for w in app.warning if "outside the data" in str(w.value))
    chosen = next(r.value for r in app.radio if r.key.startswith("map_inverse"))
    assert ("blend of the 8 nearest" in warning) == (chosen == "knn")
    radios = [r for r in app.radio if r.key.startswith("map_inverse")]
    names = {o for r in radios for o in r.options}
    assert any("learned inverse" in n for n in names) and any("8 nearest" in n for n in names)
    assert any("held-out points" in c.value for c in app.caption)
    assert any("decoded from" in (im.captions or [""])[0] for im in app.main.image)


def test_lasso_shows_the_group_and_can_be_kept(app, expected):
    rows = [1, 2, 3, 10, 11]
    run_map(app, {"kind": "selection", "rows": rows, "total": len(rows)})
    assert f"**{len(rows):,} points selected**" in markdown(app)
    labels = [b.proto.label for b in app.get("download_button")]
    assert "Download this grid (PNG)" in labels
    app.radio(key="map_csv_scope").set_value("the selection").run()  # the CSV of just these rows
    assert "Download the selection as CSV" in [b.proto.label for b in app.get("download_button")]
    app.text_input(key="selection_name").set_value("five")
    app.button(key="keep_selection").click().run()
    assert app.session_state["lasso_selections"]["five"] == rows


def test_empty_selection_says_so(app):
    run_map(app, {"kind": "selection", "rows": [], "total": 0})
    assert any("holds no points" in str(i.value) for i in app.info)
    assert app.radio(key="map_csv_scope").disabled  # nothing selected: only "all points" can be downloaded


def test_points_are_published_once_as_a_binary_file(app, expected):
    from ui.components import served
    from vae_core.map import points as map_points

    maps = served.run_folder() / "maps"  # this server's
    run_map(app)
    before = {p.name: p.stat().st_mtime_ns for p in maps.glob("*.bin")}
    run_map(app, {"kind": "point", "row": 3})  # a rerun with a click: the same file, not rewritten
    after = {p.name: p.stat().st_mtime_ns for p in maps.glob("*.bin")}
    assert before == after and before
    loaded = [map_points.unpack(p.read_bytes()) for p in maps.glob("*.bin")]
    ours = [m for m in loaded if m.n == len(expected.mu) and np.array_equal(m.arrays["elbo"], expected.elbo)]
    assert ours and np.array_equal(ours[0].arrays["label"], expected.labels)


def component_data(app) -> dict:
    """What the page handed the map component this run (its JSON data)."""
    import json

    found = [e for e in app.get("bidi_component") if e.proto.component_name == "vae_latent_map"]
    assert len(found) == 1
    return json.loads(found[0].proto.json)


def test_the_map_is_told_what_to_highlight_and_overlay(app, expected):
    row = 7
    app.session_state["encoded_uploads"] = [{"name": "my picture", "mu": expected.mu[3],
                                             "input": np.zeros((28, 28), np.uint8)}]
    run_map(app, {"kind": "point", "row": row})
    data = component_data(app)
    distances = np.linalg.norm(expected.mu - expected.mu[row], axis=1)
    assert data["focus"]["row"] == row
    assert data["focus"]["neighbours"] == [int(i) for i in np.argsort(distances) if i != row][:8]
    assert "/maps/" in data["url"] and data["url"].endswith(".bin")
    assert [u["name"] for u in data["overlays"]["uploads"]] == ["my picture"]
    # an upload whose latent is exactly point 3's sits exactly on point 3
    from ui.components import served
    from vae_core.map import points as map_points
    points = map_points.unpack(served.file_of(data["url"]).read_bytes())
    star = data["overlays"]["uploads"][0]
    assert (star["x"], star["y"]) == pytest.approx((points.arrays["x"][3], points.arrays["y"][3]), abs=1e-5)
    assert data["lens"]["method"] in ("knn", "learned") and not data["lens"].get("error")


def test_csv_downloads_hold_all_points_or_just_the_selection(app, expected, monkeypatch):
    """The CSV's rows are what its button says: every point, or the selected rows with their own μ."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    deferred = []
    original = MediaFileManager.add_deferred

    def keep(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        if file_name and file_name.endswith("-map.csv"):
            deferred.append(data_callable)
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    rows = [4, 9, 2]
    run_map(app, {"kind": "selection", "rows": rows, "total": len(rows)})
    every = deferred[-1]().decode().splitlines()
    app.radio(key="map_csv_scope").set_value("the selection").run()
    selected = deferred[-1]().decode().splitlines()
    assert len(every) == len(expected) + 1 and selected[0] == every[0]
    assert [int(line.split(",")[0]) for line in selected[1:]] == sorted(rows)
    mu = np.array([[float(v) for v in line.split(",")[2:2 + expected.mu.shape[1]]] for line in selected[1:]])
    np.testing.assert_allclose(mu, expected.mu[sorted(rows)], rtol=1e-5, atol=1e-5)


def test_the_density_layer_is_written_once_with_labels_from_the_points(app, expected):
    """The page hands the map a density file (contours + labels) computed from the very points it draws."""
    import json

    from ui.components import served
    from vae_core import data as datasets

    run_map(app)
    sent = component_data(app)["density"]
    assert not sent.get("error") and sent["url"].endswith(".json") and sent["seconds"] >= 0
    layer = json.loads(served.file_of(sent["url"]).read_text())
    assert len(layer["peaks"]) == sent["labels"] and layer["contours"]
    # the same labels as the points the map draws give, within the frame the map shows
    from ui import figures
    from vae_core.map import density
    from vae_core.map import points as map_points
    points = map_points.unpack(served.file_of(component_data(app)["url"]).read_bytes())
    xy = np.stack([points.arrays["x"], points.arrays["y"]], axis=1)
    names = datasets.load_dataset("digits").class_names
    again = density.density(xy, points.arrays["label"], names, bounds=figures.map_bounds(xy))
    assert [(p["text"], p["count"]) for p in layer["peaks"]] == [(p.text, p.count) for p in again.peaks]
    for peak in layer["peaks"]:
        assert peak["text"] == names[peak["label"]]
        assert 0 < peak["share"] <= 1 and peak["count"] <= len(expected.mu)
    mtime = served.file_of(sent["url"]).stat().st_mtime_ns
    run_map(app, {"kind": "point", "row": 1})  # a click does not recompute or rewrite it
    assert component_data(app)["density"] == sent
    assert served.file_of(sent["url"]).stat().st_mtime_ns == mtime


def test_sidebar_numbers_add_up_and_say_how_they_were_estimated(app):
    run_map(app)
    shown = {m.label: m for m in app.sidebar.metric}
    elbo, recon, kl = (Decimal(shown[name].value) for name in ("Test ELBO", "Recon", "KL"))
    assert elbo == -(recon + kl)
    for name in ("Test ELBO", "Recon", "KL"):
        assert "single-sample estimates" in shown[name].help and "test images" in shown[name].help


def test_the_3d_view_has_a_legend_axis_names_and_hints_it_can_keep(app):
    """Issue 22, fault 9: the 3-D view had no legend, no axis names, and its panel spoke of clicks and Box/Lasso."""
    import json

    app.session_state["map_3d"] = True
    run_map(app)
    spec = json.loads(next(c for c in app.get("plotly_chart") if "scatter3d" in c.proto.spec).proto.spec)
    names = [t["name"] for t in spec["data"]]
    classes = data.load_dataset("digits").class_names
    assert [n.split(" (")[0] for n in names] == list(classes)  # one trace per class: the legend names them
    counts = [int(n.split("(")[1].rstrip(")").replace(",", "")) for n in names]
    assert sum(counts) == len(data.load_dataset("digits").test_labels)  # every point of the split, once
    scene = spec["layout"]["scene"]
    assert [scene[a]["title"]["text"] for a in ("xaxis", "yaxis", "zaxis")] == ["PCA 1", "PCA 2", "PCA 3"]
    caption = " ".join(c.value for c in app.caption)
    assert "drag to rotate" in caption and "Box/Lasso" not in caption
    assert any("3-D view is for looking" in i.value for i in app.info)
    assert not any("Click a point" in i.value for i in app.info)
