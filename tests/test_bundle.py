"""bundle.py: a view bundle survives a round trip, and every malformed bundle is refused by field name."""
import json

import numpy as np
import pytest

from vae_core.bundle import ViewBundle, bundle_from_json, bundle_to_json, check_bundle_model, check_bundle_rows
from vae_core.errors import VAEError

PROJECTION = {"method": "umap", "dims": 2, "n_neighbors": 15, "min_dist": 0.1, "seed": 0}


def full_bundle() -> ViewBundle:
    return ViewBundle(
        model_id="fashion-z16", weights_hash="3f9a0c1d2e4b5a6c", dataset="fashion-mnist",
        projection=dict(PROJECTION),
        selections={"boots": [3, 17, 256], "sandals": []},
        endpoints={"a": {"kind": "dataset", "index": 12, "split": "test"},
                   "b": {"kind": "latent", "z": [0.5, -1.25, 0.0, 2.0]}},
        vectors={"boot->sandal": [0.1, 0.2, -0.3, 4.0]},
        sliders=[0.0, 1.0, -2.5, 0.125], page="generate")


def as_dict(bundle=None) -> dict:
    return json.loads(bundle_to_json(bundle or full_bundle()))


def test_round_trip_is_equal():
    bundle = full_bundle()
    text = bundle_to_json(bundle)
    assert bundle_from_json(text) == bundle
    assert bundle_from_json(text.encode("utf-8")) == bundle
    minimal = ViewBundle(model_id="m", weights_hash="h", dataset="digits", projection=dict(PROJECTION))
    assert bundle_from_json(bundle_to_json(minimal)) == minimal


def test_numpy_values_from_the_app_are_saved_as_plain_numbers():
    bundle = full_bundle()
    bundle.sliders = np.array([0.5, -1.0, 2.0, 0.25], np.float32)
    bundle.selections = {"s": list(np.array([4, 5], np.int64))}
    loaded = bundle_from_json(bundle_to_json(bundle))
    assert loaded.sliders == [0.5, -1.0, 2.0, 0.25] and loaded.selections == {"s": [4, 5]}


def test_saving_a_nan_is_refused_by_field():
    bundle = full_bundle()
    bundle.vectors["bad"] = [0.0, float("nan"), 1.0, 2.0]
    with pytest.raises(VAEError, match=r"vectors\['bad'\]\[1\]"):
        bundle_to_json(bundle)


def mutate(path, value):
    """A valid bundle dict with one field replaced (value=DELETE removes it)."""
    data = as_dict()
    *parents, last = path
    target = data
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return json.dumps(data)


DELETE = object()

MALFORMED = [
    (("version",), 2, "version"),
    (("version",), "1", "version"),
    (("version",), DELETE, "version"),
    (("model_id",), DELETE, "model_id"),
    (("model_id",), 7, "model_id"),
    (("model_id",), "", "model_id"),
    (("weights_hash",), None, "weights_hash"),
    (("dataset",), "x" * 1000, "dataset"),
    (("projection",), "umap", "projection"),
    (("projection", "method"), "tsne", "projection"),
    (("projection", "dims"), 7, "projection"),
    (("projection", "perplexity"), 30, "projection.perplexity"),
    (("selections",), [1, 2], "selections"),
    (("selections", "boots"), "3,17", r"selections\['boots'\]"),
    (("selections", "boots"), [3, -1], r"selections\['boots'\]\[1\]"),
    (("selections", "boots"), [3, 1.5], r"selections\['boots'\]\[1\]"),
    (("selections", "boots"), [True], r"selections\['boots'\]\[0\]"),
    (("endpoints", "a", "index"), -4, r"endpoints\['a'\].index"),
    (("endpoints", "a", "kind"), "upload", r"endpoints\['a'\].kind"),
    (("endpoints", "a", "path"), "/etc/passwd", r"endpoints\['a'\].path"),
    (("endpoints", "b", "z"), [], r"endpoints\['b'\].z"),
    (("endpoints", "b", "z"), [1, "two", 3, 4], r"endpoints\['b'\].z\[1\]"),
    (("vectors", "boot->sandal"), [0.1, 0.2, 0.3], r"vectors\['boot->sandal'\]"),   # size differs from sliders
    (("vectors", "boot->sandal"), [0.0] * 5000, r"vectors\['boot->sandal'\]"),
    (("sliders",), "0,1", "sliders"),
    (("sliders",), [0.0, 1e400, 0.0, 0.0], r"sliders\[1\]"),
    (("page",), "../../etc", "page"),
    (("extra",), 1, "extra"),
]


@pytest.mark.parametrize("path,value,field", MALFORMED, ids=[f"{'.'.join(p)}={str(v)[:12]}" for p, v, _ in MALFORMED])
def test_malformed_field_is_named(path, value, field):
    with pytest.raises(VAEError, match=rf"field '{field}'"):
        bundle_from_json(mutate(path, value))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_literals_are_refused(literal):
    text = bundle_to_json(full_bundle()).replace("-2.5", literal)
    with pytest.raises(VAEError, match=r"sliders\[2\].*finite"):
        bundle_from_json(text)


@pytest.mark.parametrize("text,message", [
    ("{not json", "not valid JSON"),
    ("[1, 2, 3]", "JSON object"),
    (b"\xff\xfe\x00garbage", "UTF-8"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ('{"version": 1, "x": ' + "9" * 5000 + "}", "not valid JSON"),
])
def test_unreadable_text_is_refused(text, message):
    with pytest.raises(VAEError, match=message):
        bundle_from_json(text)


def test_absurd_sizes_are_refused():
    with pytest.raises(VAEError, match="5 MB"):
        bundle_from_json(b" " * (5 * 1024 * 1024 + 1))
    data = as_dict()
    data["selections"] = {"all": list(range(60_000)), "more": list(range(60_000))}
    with pytest.raises(VAEError, match="'selections'.*100,000"):
        bundle_from_json(json.dumps(data))


def test_check_bundle_model():
    bundle = full_bundle()
    check_bundle_model(bundle, {"fashion-z16": "3f9a0c1d2e4b5a6c", "other": "00"})   # no error
    with pytest.raises(VAEError, match="'fashion-z16'.*not installed"):
        check_bundle_model(bundle, {"other": "00"})
    with pytest.raises(VAEError, match="'fashion-z16' has different weights"):
        check_bundle_model(bundle, {"fashion-z16": "ffffffffffff"})


def test_check_bundle_rows():
    bundle = full_bundle()
    check_bundle_rows(bundle, 257)
    with pytest.raises(VAEError, match=r"selections\['boots'\].*256"):
        check_bundle_rows(bundle, 100)
    bundle.selections = {}
    with pytest.raises(VAEError, match=r"endpoints\['a'\].index"):
        check_bundle_rows(bundle, 10)
