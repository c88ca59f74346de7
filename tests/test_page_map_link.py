"""A link to a point (/?point=7), opened as a first visit, shows that point's detail on the first run: the link names
no projection or split, and the Map's first choice of them must not drop the point it was checked against."""
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def test_a_point_link_opens_its_detail_on_the_first_visit(new_model, gated_umap, app):
    gate, _ = gated_umap
    gate.set()  # the default projection is UMAP: a quick fake one here
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.session_state["dataset_name"] = "digits"
    at.session_state["model_path"] = str(new_model)
    at.switch_page("pages/map.py")
    at.query_params["point"] = "7"
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert not [w.value for w in at.warning if "link" in w.value]
    assert at.session_state["map_focus"] == {"kind": "point", "row": 7}
    assert any(str(m.value).startswith("**#7 ·") for m in at.markdown), "the linked point's detail is not shown"
    assert at.query_params["point"] == "7"
