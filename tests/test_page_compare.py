"""Compare under AppTest: two models of the digits test split (the tiny one as A, the shipped digits-z8 as B), their
aligned maps as sent to the page, the agreement they are coloured by, the least-agreeing images, per class numbers,
the detail of a click with both ELBO splits adding up, a selection on both maps, a bad pair's message, and the link.

AppTest cannot run the component's JavaScript: `session_state["compare_maps"] = {"event": ...}` is exactly what the
page sends after a click or a box/lasso on either map (with the side it was made on)."""
import json
import re

import numpy as np
import pytest

from ui.components import served
from ui.session.keys import COMPARE_A, COMPARE_B, COMPARE_COLOUR, COMPARE_FOCUS, COMPARE_PICK, SPEC
from vae_core import data, models, paths
from vae_core.map import compare_maps, encodings
from vae_core.map import points as map_points
from vae_core.map.projection import ProjectionSpec

from tests.conftest import settle, shown
from tests.pages_helpers import open_by_link

PAGE = "pages/compare.py"
K = 10


@pytest.fixture(scope="module")
def expected(tiny_models_dir):
    """Both models' numbers for the digits test split, computed without the app."""
    dataset = data.load_dataset("digits")
    out = {}
    for side, folder in (("a", tiny_models_dir / "digits-tiny"), ("b", paths.PRETRAINED_DIR / "digits-z8")):
        loaded = models.load_model(folder)
        out[side] = (loaded, encodings.encode_split(loaded, dataset, "test"))
    return out


def brute_neighbours(mu: np.ndarray, row: int, k: int) -> list[int]:
    d = np.linalg.norm(mu.astype(np.float64) - mu[row].astype(np.float64), axis=1)
    d[row] = np.inf
    return [int(i) for i in np.lexsort((np.arange(len(d)), d))[:k]]


def brute_agreement(mu_a, mu_b) -> np.ndarray:
    """The Jaccard overlap of each image's K nearest in A and in B, by brute force (not the library's kd-trees)."""
    out = np.empty(len(mu_a))
    for row in range(len(mu_a)):
        na, nb = set(brute_neighbours(mu_a, row, K)), set(brute_neighbours(mu_b, row, K))
        out[row] = len(na & nb) / len(na | nb)
    return out


def run_compare(app, event=None, spec="pca"):
    app.session_state[SPEC] = ProjectionSpec(spec)  # PCA: instant; the UMAP pair has its own test below
    app.switch_page(PAGE)
    if event is not None:
        app.session_state["compare_maps"] = {"event": {"seq": "1", "color": "agreement", **event}}
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def sent(app) -> dict:
    """The data the page sent its compare component in the last run."""
    found = [e for e in app.main if getattr(e, "type", None) == "bidi_component"]
    assert len(found) == 1
    return json.loads(found[0].proto.json)


def points_of(side: dict) -> map_points.MapPoints:
    return map_points.unpack(served.file_of(side["url"]).read_bytes())


def texts(app, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(app, kind)]


def test_two_models_two_aligned_maps_coloured_by_agreement(app, expected):
    run_compare(app)
    assert not app.error, texts(app, "error")
    (loaded_a, enc_a), (loaded_b, enc_b) = expected["a"], expected["b"]
    data_ = sent(app)
    assert data_["color"] == "agreement" and "agreement" in data_["colorModes"]
    assert data_["colorRanges"]["agreement"] == [0, 1]
    pair = compare_maps.aligned_pair(loaded_a, loaded_b, enc_a, enc_b, "digits-test", ProjectionSpec("pca"))
    agreement = brute_agreement(enc_a.mu, enc_b.mu)
    for side, coords, enc in (("a", pair.a, enc_a), ("b", pair.b, enc_b)):
        points = points_of(data_[side])
        assert points.n == 300 and data_[side]["title"].startswith(f"{side.upper()} · ")
        assert np.allclose(points.arrays["x"], coords[:, 0]) and np.allclose(points.arrays["y"], coords[:, 1])
        assert np.allclose(points.arrays["kl"], enc.kl) and np.array_equal(points.arrays["label"], enc.labels)
        assert np.allclose(points.arrays["agreement"], agreement, atol=1e-6)  # what both maps can be coloured by
        lens = data_[side]["lens"]
        assert lens["method"] == "knn" and lens["decoderUrl"] and lens["placementUrl"]
    assert data_["a"]["lens"]["decoderUrl"] != data_["b"]["lens"]["decoderUrl"]  # each side decodes its own model
    assert data_["a"]["bounds"] == data_["b"]["bounds"]  # one frame: the same spot is the same place on both
    assert any("Hover either map" in i for i in texts(app, "info"))
    assert app.query_params["a"] == "digits-tiny" and app.query_params["b"] == "digits-z8"


def test_the_least_agreeing_images_and_the_classes(app, expected):
    run_compare(app)
    (_, enc_a), (_, enc_b) = expected["a"], expected["b"]
    agreement = brute_agreement(enc_a.mu, enc_b.mu)
    # least agreement first; ties by fewer shared of the 50 nearest (compare.TIE_K), then by row
    wide = [len(set(brute_neighbours(enc_a.mu, r, 50)) & set(brute_neighbours(enc_b.mu, r, 50)))
            for r in range(len(agreement))]
    least = sorted(range(len(agreement)), key=lambda r: (agreement[r], wide[r], r))[:20]
    captions = [c for c in texts(app, "caption") if re.match(r"^#\d+ · [\d.]+$", shown(c))]
    assert [int(shown(c).split()[0][1:]) for c in captions] == least
    assert [float(shown(c).split()[-1]) for c in captions] == pytest.approx(agreement[least], abs=0.006)
    assert app.get("button_group")[0].proto.options  # the pills that open one of them
    overall = next(c for c in texts(app, "caption") if c.startswith("Mean neighbourhood agreement"))
    assert f"**{agreement.mean():.2f}**" in overall
    charts = {json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)
              for c in app.get("plotly_chart")}
    labels = enc_a.labels
    per_class = [agreement[labels == c].mean() for c in range(10)]
    assert charts["Mean agreement per class"]["data"][0]["y"] == pytest.approx(per_class, abs=1e-5)
    kl = charts["KL per class (nats)"]["data"]
    assert [t["name"] for t in kl] == ["A · digits-tiny", "B · digits-z8"]
    assert kl[0]["y"] == pytest.approx([enc_a.kl[labels == c].mean() for c in range(10)], rel=1e-4)
    assert kl[1]["y"] == pytest.approx([enc_b.kl[labels == c].mean() for c in range(10)], rel=1e-4)
    recon = charts["Reconstruction error per class (nats)"]["data"]
    assert recon[1]["y"] == pytest.approx([enc_b.recon[labels == c].mean() for c in range(10)], rel=1e-4)
    dims = charts["KL per dimension, B (nats)"]["data"][0]["y"]
    assert dims == pytest.approx(enc_b.kl_per_dim.mean(axis=0), rel=1e-4) and len(dims) == 8
    metrics = {m.label: m.value for m in app.main.metric}
    assert metrics["Active units (B)"] == "8 / 8" and metrics["IWAE bound (B)"] == "-154.7"  # its metrics.json


def test_a_click_shows_both_reconstructions_splits_and_neighbours(app, expected):
    row = 7
    run_compare(app, {"kind": "point", "row": row, "side": "b"})
    assert app.session_state[COMPARE_PICK] == row and app.query_params["point"] == str(row)
    lines = [m for m in texts(app, "markdown") if m.startswith("ELBO **")]
    assert len(lines) == 2
    for line, side in zip(lines, "ab"):
        elbo, recon, kl = (float(v) for v in re.findall(r"\*\*(-?[\d.]+)\*\*", line))
        assert elbo == pytest.approx(-(recon + kl), abs=0.051)  # adds up as shown
        enc = expected[side][1]
        assert elbo == pytest.approx(enc.elbo[row], abs=0.06) and kl == pytest.approx(enc.kl[row], abs=0.06)
    near = {side: brute_neighbours(expected[side][1].mu, row, 8) for side in "ab"}
    both = set(near["a"]) & set(near["b"])
    for side in "ab":  # each side's 8 nearest in its own latent space, those in both marked
        listed = next(c for c in texts(app, "caption") if c.startswith(f"8 nearest in {side.upper()}'s latent space"))
        listed = listed.split(": ", 1)[1].split(" (")[0].split(", ")
        assert listed == [f"#{i}{' ✓' if i in both else ''}" for i in near[side]]
    data_ = sent(app)  # both maps mark the image, each with its own neighbours
    assert data_["a"]["focus"] == {"row": row, "neighbours": near["a"]}
    assert data_["b"]["focus"] == {"row": row, "neighbours": near["b"]}
    images = [im for im in app.main.image if im.captions and im.captions[0]]
    assert [im.captions[0] for im in images][:3] == ["original", "A's reconstruction", "B's reconstruction"]


def test_a_selection_is_marked_on_both_maps_and_colour_kept(app):
    rows = [3, 5, 40, 41]
    run_compare(app, {"kind": "selection", "rows": rows, "total": 4, "side": "a", "color": "kl"})
    assert any(m.startswith("**4 images selected**") for m in texts(app, "markdown"))
    data_ = sent(app)
    assert data_["a"]["focus"] == data_["b"]["focus"] == {"rows": rows}
    assert app.session_state[COMPARE_COLOUR] == "kl" and data_["color"] == "kl" and app.query_params["colour"] == "kl"
    assert any("decoded mean latent" in (im.captions or [""])[0] for im in app.main.image)


def test_models_of_different_datasets_get_a_message_naming_both(app):
    app.session_state[COMPARE_B] = str(paths.PRETRAINED_DIR / "fashion-mnist-z16")
    run_compare(app)
    errors = texts(app, "error")
    assert len(errors) == 1 and "digits-tiny" in shown(errors[0]) and "fashion-mnist-z16" in shown(errors[0])
    assert "cannot be compared" in shown(errors[0]) and "different datasets" in shown(errors[0])
    assert not [e for e in app.main if getattr(e, "type", None) == "bidi_component"]  # no maps of a bad pair
    assert app.sidebar.selectbox(key="model_path").value.endswith("digits-tiny")  # the rest of the app works
    assert app.selectbox(key="compare_b_choice").value.endswith("fashion-mnist-z16")  # and B can be picked again
    app.selectbox(key="compare_b_choice").set_value(str(paths.PRETRAINED_DIR / "digits-z8")).run()
    assert not app.error and not app.exception and sent(app)["b"]["url"]


def test_a_model_with_no_partner_of_its_dataset_is_told_so_not_refused(app):
    """The only Fashion-MNIST model as A: B is not picked from another dataset only to be refused."""
    app.session_state[COMPARE_A] = str(paths.PRETRAINED_DIR / "fashion-mnist-z16")
    run_compare(app)
    infos = [shown(t) for t in texts(app, "info")]
    assert any("No other model of **fashion-mnist** is installed" in t for t in infos), infos
    assert not app.error and not [e for e in app.main if getattr(e, "type", None) == "bidi_component"]
    assert app.selectbox(key="compare_a_choice").value.endswith("fashion-mnist-z16")  # A can be changed here


def test_b_the_same_as_a_is_named_and_replaced(app):
    a = str(paths.PRETRAINED_DIR / "digits-z8")
    app.session_state[COMPARE_A] = app.session_state[COMPARE_B] = a
    run_compare(app)
    infos = [shown(t) for t in texts(app, "info")]
    assert any("Model B was digits-z8, A itself: B is digits-tiny instead" in t for t in infos), infos
    assert app.session_state[COMPARE_B].endswith("digits-tiny") and not app.error and sent(app)["b"]["url"]


def test_a_link_opens_the_same_comparison(app, fresh_link):
    link = {"dataset": "digits", "model": "digits-tiny", "split": "test", "projection": "pca", "a": "digits-z8",
            "b": "digits-tiny", "colour": "label", "point": "12"}
    at = fresh_link(PAGE, link)
    assert not [w for w in texts(at, "warning") if "link" in w]
    assert at.session_state[COMPARE_A].endswith("digits-z8") and at.session_state[COMPARE_B].endswith("digits-tiny")
    assert at.session_state[COMPARE_FOCUS] == {"kind": "point", "row": 12} and sent(at)["color"] == "label"
    assert sent(at)["a"]["title"].startswith("A · digits-z8")
    assert dict(at.query_params) == link  # the address bar holds the same view: a reload opens it again
    again = fresh_link(PAGE, dict(at.query_params))
    assert dict(again.query_params) == link and again.session_state[COMPARE_PICK] == 12
    bad = fresh_link(PAGE, {**link, "b": "no-such-model", "point": "300"})
    warning = next(w for w in texts(bad, "warning") if "link" in w)
    assert "**b**" in warning and "not a model installed here" in warning and "**point**" in warning
    assert not bad.exception


@pytest.fixture
def fresh_link(tiny_models_dir, tmp_path, monkeypatch, navigation_like_the_server):
    """fresh_link(page, params): a new session opening `page` by a link (the first run reads the address bar)."""
    monkeypatch.setenv("VAE_MODELS_DIR", str(tiny_models_dir))
    monkeypatch.setenv("VAE_CACHE_DIR", str(tmp_path / "cache"))
    return open_by_link


def test_the_umap_pair_is_computed_in_the_background_while_pca_is_shown(app, new_model, gated_umap, monkeypatch):
    """A model with no UMAP yet: the PCA pair at once, everything working on it; the aligned UMAP pair when ready."""
    gate, calls = gated_umap  # A's Map-page UMAP (the pair's reference) waits for the gate

    def aligned(frames, reference_map=None, **kwargs):
        return [np.asarray(reference_map, np.float32), np.asarray(reference_map, np.float32) * 0.5]
    monkeypatch.setattr(compare_maps, "aligned_umap_stacked", aligned)
    app.session_state["model_path"] = str(new_model)
    run_compare(app, spec="umap")
    assert any("being computed in the background" in i for i in texts(app, "info"))
    stand_in = points_of(sent(app)["b"])
    run_compare(app, {"kind": "point", "row": 4, "side": "a"}, spec="umap")  # a pick on the stand-in works
    assert any(m.startswith("**#4 ·") for m in texts(app, "markdown"))
    gate.set()
    settle(app)
    assert not any("being computed" in i for i in texts(app, "info")) and calls
    b = points_of(sent(app)["b"])
    a = points_of(sent(app)["a"])
    assert not np.allclose(b.arrays["x"], stand_in.arrays["x"])  # the UMAP pair replaced PCA's
    assert np.allclose(b.arrays["x"], a.arrays["x"] * 0.5, atol=1e-5)
    assert any(m.startswith("**#4 ·") for m in texts(app, "markdown"))  # the pick was kept
