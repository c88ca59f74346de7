"""The density layer: labels for dense regions (majority class, or a number) and contour lines, from map points."""
import re

import numpy as np
import pytest

from vae_core.map.density import MIN_SHARE, density
from vae_core.errors import VAEError

CENTRES = np.array([[-6.0, -6.0], [6.0, 6.0], [6.0, -6.0], [-6.0, 6.0]])
NAMES = ["ant", "bee", "cat", "dog", "eel"]


def blobs(sizes=(3000, 3000, 3000, 3000), purity=0.95, seed=0, spread=0.8):
    """Four Gaussian islands; island k's points are class k, except (1 - purity) of them relabelled class 4."""
    rng = np.random.default_rng(seed)
    island = np.repeat(np.arange(len(sizes)), sizes)
    xy = CENTRES[island] + rng.normal(0, spread, (len(island), 2))
    labels = island.copy()
    labels[rng.random(len(island)) > purity] = 4
    return xy, labels, island


def rings(path: str) -> list[np.ndarray]:
    return [np.array([[float(v) for v in pair.split(",")] for pair in re.findall(r"-?[\d.]+,-?[\d.]+", part)])
            for part in path.split("M")[1:]]


def inside(x, y, ring) -> bool:
    xs, ys, hit = ring[:, 0], ring[:, 1], False
    for i in range(len(ring)):
        j = i - 1
        if (ys[i] > y) != (ys[j] > y) and x < (xs[j] - xs[i]) * (y - ys[i]) / (ys[j] - ys[i]) + xs[i]:
            hit = not hit
    return hit


def test_each_island_is_labelled_by_its_majority_class_at_its_centre():
    xy, labels, _ = blobs()
    found = density(xy, labels, NAMES)
    assert sorted(p.text for p in found.peaks) == ["ant", "bee", "cat", "dog"]
    for peak in found.peaks:
        centre = CENTRES[NAMES.index(peak.text)]
        assert np.hypot(peak.x - centre[0], peak.y - centre[1]) < 0.6
        assert peak.share == pytest.approx(0.95, abs=0.04)  # the share is what the points say, not rounded up
        assert peak.count == pytest.approx(2850, rel=0.1)  # the class's own points in the island


def test_a_mixed_region_names_each_class_where_it_lives():
    """One island, ant on its left and bee on its right: two names, each over its own half, nearly pure there."""
    rng = np.random.default_rng(1)
    xy = rng.normal(0, 1, (6000, 2)) * [2.0, 1.0]
    labels = np.where(xy[:, 0] < 0, 0, 1)
    found = {p.text: p for p in density(xy, labels, NAMES).peaks}
    assert set(found) == {"ant", "bee"}
    assert found["ant"].x < -0.3 < 0.3 < found["bee"].x
    assert found["ant"].share > 0.8 and found["bee"].share > 0.8


def test_a_well_mixed_region_reports_each_share_and_drops_rare_classes():
    rng = np.random.default_rng(1)
    xy = rng.normal(0, 1, (6000, 2))
    labels = rng.choice([0, 1, 2], 6000, p=[0.5, 0.43, 0.07])
    found = {p.text: p for p in density(xy, labels, NAMES).peaks}
    assert set(found) == {"ant", "bee"}  # cat holds 7 % of the island: under the tenth a name needs
    # each name stands where its class is densest, so its share there is a bit above its share of the island, but a
    # mixed island still reads as mixed
    assert 0.4 < found["ant"].share < 0.8 and 0.35 < found["bee"].share < 0.75


def test_unlabelled_points_get_numbers_ranked_by_peak_height():
    xy, _, island = blobs(sizes=(1000, 4000, 2000, 3000))
    found = density(xy, np.zeros(len(xy), int), ["unlabelled"])
    assert [p.text for p in found.peaks] == ["1", "2", "3", "4"]
    assert [p.label for p in found.peaks] == [-1] * 4
    # the densest island (4,000 points, same spread) is "1", the sparsest "4"
    assert [p.count for p in found.peaks] == sorted((p.count for p in found.peaks), reverse=True)
    first = found.peaks[0]
    assert np.hypot(first.x - CENTRES[1, 0], first.y - CENTRES[1, 1]) < 0.6


def test_one_island_gets_one_label_however_bumpy():
    rng = np.random.default_rng(2)
    xy = rng.standard_t(4, (20000, 2))  # heavy tails: noisy flanks full of little bumps
    assert len(density(xy, np.zeros(20000, int), NAMES).peaks) == 1


def test_touching_regions_keep_their_own_classes_but_merge_when_they_share_one():
    rng = np.random.default_rng(3)
    xy = np.concatenate([rng.normal([-1.6, 0], 0.5, (3000, 2)), rng.normal([1.6, 0], 0.5, (3000, 2))])
    two_classes = np.repeat([0, 1], 3000)
    assert sorted(p.text for p in density(xy, two_classes, NAMES).peaks) == ["ant", "bee"]
    assert [p.text for p in density(xy, np.zeros(6000, int), NAMES).peaks] == ["ant"]


def test_small_regions_are_not_labelled():
    xy, labels, _ = blobs(sizes=(5000, 5000, 5000, int(5000 * MIN_SHARE / 2)))
    assert sorted(p.text for p in density(xy, labels, NAMES).peaks) == ["ant", "bee", "cat"]


def test_contours_enclose_the_islands_and_nest_inward():
    xy, labels, _ = blobs()
    found = density(xy, labels, NAMES, bounds=(-10, 10, -10, 10))
    levels = [level for level, _ in found.contours]
    assert levels == sorted(levels) and len(levels) >= 3
    outer, inner = rings(found.contours[0][1]), rings(found.contours[-1][1])
    for cx, cy in CENTRES:  # every island lies inside a ring of the faintest and of the densest line
        assert any(inside(cx, cy, r) for r in outer) and any(inside(cx, cy, r) for r in inner)
    assert not any(inside(0.0, 0.0, r) for r in outer)  # the empty middle is outside every line
    area = [sum(np.ptp(r[:, 0]) * np.ptp(r[:, 1]) for r in rings(path)) for _, path in found.contours]
    assert area == sorted(area, reverse=True)  # denser lines enclose less


def test_points_without_coordinates_are_left_out_and_bad_input_is_named():
    xy, labels, _ = blobs()
    xy[:500] = np.nan
    xy[500:600, 0] = np.inf
    assert sorted(p.text for p in density(xy, labels, NAMES).peaks) == ["ant", "bee", "cat", "dog"]
    with pytest.raises(VAEError, match="no points with finite coordinates"):
        density(np.full((10, 2), np.nan), np.zeros(10, int), NAMES)
    with pytest.raises(VAEError, match="one label per row"):
        density(xy, labels[:-1], NAMES)


def test_the_json_for_the_page_holds_paths_and_labels():
    import json

    xy, labels, _ = blobs()
    sent = json.loads(json.dumps(density(xy, labels, NAMES).to_json()))
    assert {p["text"] for p in sent["peaks"]} == {"ant", "bee", "cat", "dog"}
    assert all(c["path"].startswith("M") for c in sent["contours"]) and sent["seconds"] >= 0


def test_a_class_is_named_again_elsewhere_only_where_it_is_the_majority():
    """ant rules island 0 and is 30 % of island 1 (bee's): one "ant" label, on island 0; island 1 also gets bee."""
    xy, _, island = blobs(sizes=(3000, 3000, 3000, 3000))
    rng = np.random.default_rng(5)
    labels = island.copy()
    labels[(island == 1) & (rng.random(len(island)) < 0.3)] = 0
    found = density(xy, labels, NAMES).peaks
    ants = [p for p in found if p.text == "ant"]
    assert len(ants) == 1 and np.hypot(ants[0].x - CENTRES[0, 0], ants[0].y - CENTRES[0, 1]) < 0.6
    assert any(p.text == "bee" for p in found)
