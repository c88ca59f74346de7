"""What a page hears from the browser and from links is checked, never trusted: a forged map event (a NaN spot, rows
that are not numbers, a point out of range, a colour that is not one) is dropped with a logged note instead of
raising in the sender's session; a 5,000-digit row and a z at the edge of the link's range give a message or round
trip, never Python's own error text."""
import math

import pytest

from ui.components.map import checked_event
from ui.session import item, keys
from ui.session.item import fmt_floats, parse_floats

PAGE = "pages/map.py"


@pytest.mark.parametrize("event", [
    {"kind": "space", "xy": [None, 1.0]},
    {"kind": "space", "xy": [float("nan"), 1.0]},
    {"kind": "space", "xy": ["1", "2"]},
    {"kind": "space", "xy": [1.0]},
    {"kind": "selection", "rows": "x", "total": "x"},
    {"kind": "point", "row": "4"},
    {"kind": "point", "row": True},
    {"kind": "point", "row": 10**9},
    {"kind": "selection", "rows": list(range(300_000))},
    {"kind": "launch", "row": 1},
    ["not", "a", "dict"],
])
def test_a_forged_map_event_is_dropped(app, event, caplog):
    app.session_state["map_method"] = "PCA"
    app.switch_page(PAGE)
    app.session_state["map"] = {"event": event if not isinstance(event, dict) else {**event, "seq": "x1"}}
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    assert keys.MAP_FOCUS not in app.session_state or app.session_state[keys.MAP_FOCUS] is None
    if isinstance(event, dict):
        assert "map event dropped" in caplog.text


def test_well_formed_events_are_normalised():
    assert checked_event({"kind": "selection", "rows": [1, "x", 5, -1, 99], "total": "many"}, 50) == {
        "kind": "selection", "color": None, "rows": [1, 5], "total": 2}
    assert checked_event({"kind": "space", "xy": [1, 2.5], "color": "kl"}, 50) == {
        "kind": "space", "color": "kl", "xy": [1.0, 2.5]}


def test_a_colour_that_is_not_one_falls_back_to_label(app):
    app.session_state["map_method"] = "PCA"
    app.switch_page(PAGE)
    app.session_state["map"] = {"event": {"kind": "point", "row": 1, "seq": "c", "color": {"x": 1}}}
    app.run()
    assert not app.exception and app.session_state[keys.MAP_COLOUR] == "label"


def test_a_five_thousand_digit_row_is_a_message(app):
    app.query_params["point"] = "9" * 5000
    app.switch_page(PAGE)
    app.session_state["map_method"] = "PCA"
    app.run()
    assert not app.exception
    warning = " ".join(w.value for w in app.warning)
    assert "must be a row number" in warning and "int_max_str_digits" not in warning


def test_a_z_at_the_edge_of_the_range_round_trips():
    written = fmt_floats([9999.0, -0.5])
    assert written == "1e+04,-0.5" and parse_floats(written, 2) == [10000.0, -0.5]
    with pytest.raises(ValueError, match="within ±10,000"):
        parse_floats("10001,0", 2)
    assert item.MAX_Z == 1e4 and not math.isinf(item.MAX_Z)
