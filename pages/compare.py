"""Compare: two models of the same dataset side by side. Their maps are aligned (the same region holds the same images)
and linked in the page; where their latent neighbourhoods disagree; their numbers."""
from ui import page  # light: Streamlit and the standard library

# First, before the imports below (seconds on a fresh server): a direct link must run app.py (sidebar, routing).
page.ensure_navigation()


import numpy as np
import streamlit as st

from ui import compare_data, figures, jobs, loaders, map_data
from ui.components import compare as compare_component
from ui.components import map as map_component
from ui.loaders import Current
from ui.session import url
from ui.session.keys import (COMPARE_A, COMPARE_A_WIDGET, COMPARE_B, COMPARE_B_WIDGET, COMPARE_COLOUR, COMPARE_COLOURS,
                             COMPARE_FOCUS, COMPARE_METHOD_WIDGET, COMPARE_PICK, COMPARE_SPLIT_WIDGET, METHOD_LABELS,
                             MODEL, SPEC, SPLIT, SPLIT_LABELS)
from ui.sidebar import list_models
from ui.steps import Steps
from ui.text import md_escape
from ui.widgets import chart, nats, show_image, split_helps, split_sentence, split_texts, thumbnails
from vae_core import images as imgs
from vae_core.map import compare
from vae_core.map.compare import AGREEMENT_K, MOST_DIFFERENT
from vae_core.map.projection import ProjectionSpec
from vae_core.metrics import POINT_ESTIMATOR, dataset_estimator

MAPS_KEY = "compare_maps"           # the component's state: the last click or selection, with its side
SEEN = "compare_event_seen"         # seq of the last event handled
OPEN_DIFFERENT = "compare_open_different"  # the pills under the least-agreeing images: open one in the detail
PREPARED = "compare_prepared"       # the last pair this session drew: its steps are listed only for a new one
MAP_HEIGHT = 380  # px: both maps, their lenses and a picked image's detail fit a 1400×1000 screen
METHODS = {METHOD_LABELS[m]: m for m in compare_data.METHODS}
SPLITS = {label: split for split, label in SPLIT_LABELS.items()}
SIDES = ("a", "b")


def model_label(info) -> str:
    return f"{info.name} (z={info.latent_dim} · {info.dataset or 'no dataset'})"


def picked(widget: str, declared: str) -> None:
    """A picker's choice becomes the declared state (the link's a= / b=)."""
    st.session_state[declared] = st.session_state[widget]


def choose_models(listed, row) -> tuple[str, str] | None:
    """Model A (the sidebar's until one is picked here) and B (another; first one of A's dataset by default), drawn
    from the declared state a link may have set. Every model is offered: one of another dataset gets the library's
    message naming both, and nothing else breaks."""
    by_path = {str(m.path): m for m in listed}
    a = next((p for p in (st.session_state.get(COMPARE_A), st.session_state.get(MODEL)) if p in by_path),
             next(iter(by_path), None))
    others = [p for p in by_path if p != a]
    if a is None or not others:
        st.info("Compare needs two models of the same dataset: train a second one on the **Train** page, or bring "
                "one (README: Bring your own VAE).", icon="⚖️")
        return None
    same = [p for p in others if by_path[p].dataset and by_path[p].dataset == by_path[a].dataset]
    others = same + [p for p in others if p not in same]  # A's dataset first
    asked = st.session_state.get(COMPARE_B)
    st.session_state[COMPARE_A_WIDGET] = a
    row[1].selectbox("Model A", list(by_path), key=COMPARE_A_WIDGET, format_func=lambda p: model_label(by_path[p]),
                     on_change=picked, args=(COMPARE_A_WIDGET, COMPARE_A), help="The sidebar's model unless you pick "
                     "another; its map is the one B is aligned to")
    if not same and asked not in others:  # nothing to pair with A unless someone picks a model of another dataset
        st.info(f"No other model of **{md_escape(by_path[a].dataset or 'no dataset')}** is installed, and Compare "
                "needs two models of the same dataset: train a second one on the **Train** page, bring one "
                "(README: Bring your own VAE), or pick another model A.", icon="⚖️")
        return None
    if asked == a:
        st.info(f"Model B was {md_escape(by_path[a].name)}, A itself: B is {md_escape(by_path[others[0]].name)} "
                "instead.", icon="⚖️")
    b = st.session_state[COMPARE_B] = asked if asked in others else others[0]  # in the link from now on
    st.session_state[COMPARE_B_WIDGET] = b
    row[2].selectbox("Model B", others, key=COMPARE_B_WIDGET, on_change=picked, args=(COMPARE_B_WIDGET, COMPARE_B),
                     format_func=lambda p: model_label(by_path[p]) + ("" if p in same else " · another dataset"),
                     help="Compared with A on the same images: models of A's dataset and image size")
    return a, b


def projection_picked() -> None:
    label = st.session_state.get(COMPARE_METHOD_WIDGET)
    if label in METHODS:  # None: the selected segment clicked again, which keeps it
        st.session_state[SPEC] = ProjectionSpec(method=METHODS[label], dims=2)


def split_picked() -> None:
    st.session_state[SPLIT] = SPLITS[st.session_state[COMPARE_SPLIT_WIDGET]]
    for key in (COMPARE_FOCUS, COMPARE_PICK):  # row ids change meaning with the split
        st.session_state.pop(key, None)


def choose_view(row) -> tuple[ProjectionSpec, str]:
    """The projection and the split, shared with the Map (the link's projection= and split=); UMAP unless PCA (the
    Map's other choices, such as a 2-D latent's own map, stay the Map's until one is picked here)."""
    method = (st.session_state.get(SPEC) or ProjectionSpec()).method
    method = method if method in compare_data.METHODS else "umap"
    split = st.session_state.get(SPLIT) or "test"
    st.session_state[COMPARE_METHOD_WIDGET] = METHOD_LABELS[method]
    st.session_state[COMPARE_SPLIT_WIDGET] = SPLIT_LABELS[split]
    row[3].segmented_control("Projection", list(METHODS), key=COMPARE_METHOD_WIDGET, on_change=projection_picked,
                             help="UMAP: A's map, with B laid out against it. PCA: each model's PCA, B rotated onto "
                                  "A's (Procrustes)")
    with row[4].popover("Options", icon="⚙️", width="stretch"):
        st.selectbox("Points", list(SPLITS), key=COMPARE_SPLIT_WIDGET, on_change=split_picked,
                     help="The test split, or every image (slower: 70,000 for Fashion-MNIST)")
        st.caption(f"Agreement: the Jaccard overlap of each image's {AGREEMENT_K} nearest neighbours in A's latent "
                   "space and in B's (read in the latent spaces, not on the maps).")
    return ProjectionSpec(method=method, dims=2), split


def loaded_pair(path_a: str, path_b: str, split: str, spec: ProjectionSpec) -> tuple[Current, Current] | None:
    """Both models, on A's dataset; None (with the message shown, naming both) when they cannot be compared."""
    with page.friendly_errors("Loading the models"):
        a, b = loaders.get_model(path_a), loaders.get_model(path_b)
        dataset = loaders.dataset_for(a)
        cur_a, cur_b = Current(a, dataset, split, spec), Current(b, dataset, split, spec)
        compare.check_comparable(a, b)  # different datasets or image shapes: the library's message, naming both
        return cur_a, cur_b
    return None


title_row = st.columns([0.9, 1.6, 1.6, 1.1, 0.8], vertical_alignment="bottom")
title_row[0].markdown("#### Compare")
chosen = choose_models(list_models(), title_row)
if chosen is None:
    st.stop()
spec, split = choose_view(title_row)
pair = loaded_pair(*chosen, split, spec)
if pair is None:
    st.stop()
cur_a, cur_b = pair


def prepare(preparing: Steps) -> tuple | None:
    """Both encodings, the comparison, the maps shown now and each side's page files; None when a step failed (its
    message is shown)."""
    with page.friendly_errors("Preparing the comparison"):
        with preparing.step("Encoding the images with A"):
            enc_a = cur_a.encoded()
        with preparing.step("Encoding them with B"):
            enc_b = cur_b.encoded()
        with preparing.step("Comparing their neighbourhoods"):
            comparison = compare_data.comparison(cur_a, cur_b)
        with preparing.step("Aligning the maps"):
            shown = compare_data.pair_now(cur_a, cur_b, spec)  # the UMAP pair in the background; PCA's meanwhile
        with preparing.step("The points and lenses for the page"):
            sides = list(zip(SIDES, pair))
            published = {side: compare_data.points_url(cur, side, cur_a, cur_b, shown, comparison.agreement)
                         for side, cur in sides}
            lenses = {side: compare_data.lens(cur, side, cur_a, cur_b, shown) for side, cur in sides}
            placers = {side: compare_data.placer(cur, side, cur_a, cur_b, shown) for side, cur in sides}
            atlas = map_data.atlas(cur_a)
        return enc_a, enc_b, comparison, shown, published, lenses, placers, atlas
    return None


this_pair = (*chosen, split, spec)
preparing = Steps("Preparing the comparison", ["Encoding the images with A", "Encoding them with B",
                                                "Comparing their neighbourhoods", "Aligning the maps",
                                                "The points and lenses for the page"],
                  shown=st.session_state.get(PREPARED) != this_pair)  # where the maps will be, while they are built
prepared = prepare(preparing)
preparing.close()
if prepared is None:
    st.stop()
enc_a, enc_b, comparison, shown, published, lenses, placers, atlas = prepared
st.session_state[PREPARED] = this_pair
if shown.job is not None:
    if shown.job.status == jobs.FAILED:
        st.warning(f"The aligned UMAP maps could not be computed, so the aligned PCA maps are shown: "
                   f"{md_escape(shown.job.error)}", icon="⚠️")
        st.button("Try again", key="compare_retry", on_click=loaders.retry, args=(shown.job.key,))
    else:
        st.info("The aligned UMAP maps are being computed in the background, so the aligned PCA maps are shown "
                "meanwhile: everything works on them. The UMAP maps replace them when ready, keeping your pick.",
                icon="⏳")
jobs.watch([shown.job])
images, _ = cur_a.images()
names = cur_a.dataset.class_names
frame = compare_data.bounds(shown)
models = {"a": cur_a, "b": cur_b}
encoded = {"a": enc_a, "b": enc_b}
NAME = {side: md_escape(cur.loaded.path.name) for side, cur in models.items()}


def label_name(row: int) -> str:
    return cur_a.dataset.label_name(enc_a.labels[row])


def neighbours(side: str, row: int, k: int = 8) -> list[int]:
    """The k nearest images to `row` in `side`'s latent space (itself left out)."""
    idx, _ = placers[side].neighbours(encoded[side].mu[row], k=k + 1)
    return [int(i) for i in idx if int(i) != row][:k]


def read_event() -> None:
    """The maps' last click or selection (sent by the page, or set by a test) as the detail panel's focus."""
    event = compare_component.new_event(MAPS_KEY, SEEN, len(enc_a))  # checked: a forged event is dropped
    if not event:
        return
    if event["color"] in COMPARE_COLOURS:  # the colour is switched in the page; the link keeps it from here
        st.session_state[COMPARE_COLOUR] = event["color"]
    if event["kind"] == "point":
        st.session_state[COMPARE_FOCUS] = {"kind": "point", "row": event["row"]}
        st.session_state[COMPARE_PICK] = event["row"]
    elif event["kind"] == "space":
        st.session_state[COMPARE_FOCUS] = {"kind": "space", "xy": event["xy"], "map": shown.key}
        st.session_state.pop(COMPARE_PICK, None)
    else:
        st.session_state[COMPARE_FOCUS] = {"kind": "selection", "rows": event["rows"], "total": event["total"]}


def current_focus() -> dict | None:
    focus = st.session_state.get(COMPARE_FOCUS)
    if not isinstance(focus, dict):
        return None
    if focus["kind"] == "point" and not 0 <= focus["row"] < len(enc_a):
        return None
    if focus["kind"] == "space" and focus.get("map") != shown.key:  # clicked on the maps that were just replaced
        st.session_state.pop(COMPARE_FOCUS, None)
        st.toast("The empty spot you clicked was on the maps that have just been replaced: click the new ones again.",
                 icon="🗺️")
        return None
    return focus


def highlights(focus: dict | None, side: str) -> dict:
    """What one map marks for the focus: the picked image and its 8 nearest in this side's latent space, a spot and
    the 8 points its lens blends there, or the selected rows (the same on both maps)."""
    if not focus:
        return {}
    if focus["kind"] == "point":
        return {"row": focus["row"], "neighbours": neighbours(side, focus["row"])}
    if focus["kind"] == "space":
        found = placers[side].latent_at(np.asarray(focus["xy"], dtype=np.float32))
        return {"xy": focus["xy"], "neighbours": [int(i) for i in found.neighbours]}
    return {"rows": [r for r in focus["rows"] if r < len(enc_a)][:map_component.MAX_SELECTION]}


def side_data(side: str, focus: dict | None) -> dict:
    url_, points = published[side]
    cur = models[side]
    return {"url": url_, "bounds": list(frame), "farDistance": map_data.far_distance(points), "lens": lenses[side],
            "focus": highlights(focus, side),
            "title": f"{side.upper()} · {cur.loaded.path.name} (z={cur.loaded.config.latent_dim})",
            "lensTitle": f"{side.upper()} draws here"}


def split_line(side: str, row: int) -> None:
    """This side's ELBO split of one image, adding up as shown (ELBO = −(Recon + KL)), the estimator in its help."""
    elbo, kl = float(encoded[side].elbo[row]), float(encoded[side].kl[row])
    st.markdown(split_sentence(elbo, kl, compact=True, bold=True), help=split_helps(elbo, kl, POINT_ESTIMATOR)[0])


def point_detail(row: int) -> None:
    near = {side: neighbours(side, row) for side in SIDES}
    both = set(near["a"]) & set(near["b"])
    c0, c1, c2 = st.columns([0.7, 1.5, 1.5], gap="small")
    with c0:
        st.markdown(f"**#{row} · {md_escape(label_name(row))}**")
        show_image(images[row], "original", size=84)
        st.caption(f"Neighbourhood agreement **{comparison.agreement[row]:.2f}** (Jaccard of its {comparison.k} "
                   f"nearest in A and in B); of the 8 nearest listed beside, {len(both)} are in both (✓)")
    for column, side in zip((c1, c2), SIDES):
        with column:
            st.markdown(f"**{side.upper()}** · {NAME[side]}")
            left, right = st.columns([1, 2.1], gap="small")
            with left:
                show_image(models[side].loaded.model.decode_images(encoded[side].mu[row])[0],
                           f"{side.upper()}'s reconstruction", size=84)
            with right:
                split_line(side, row)
                thumbnails([images[i] for i in near[side]], ncols=8, size=28)
                listed = ", ".join(f"#{i}{' ✓' if i in both else ''}" for i in near[side])
                st.caption(f"8 nearest in {side.upper()}'s latent space: {listed} (✓: in the other's 8 too)")


def space_detail(xy: list[float]) -> None:
    spot = np.asarray(xy, dtype=np.float32)
    st.markdown(f"**Empty space at ({xy[0]:.2f}, {xy[1]:.2f})**: what each model draws there (its 8 nearest points' "
                "latents blended, on its own map)")
    columns = st.columns(4)
    for column, side in zip(columns, SIDES):
        found = placers[side].latent_at(spot)
        with column:
            show_image(models[side].loaded.model.decode_images(found.z)[0], f"{side.upper()} · {NAME[side]}", size=112)
            st.caption(("Outside the data: a guess. " if found.far else "") +
                       f"Nearest point {found.distance:.2f} map units away")


def selection_detail(rows: list[int], total: int) -> None:
    rows = sorted({r for r in rows if r < len(enc_a)})
    if not rows:
        st.info("The box or lasso holds no points: draw it around some points (hidden classes are not selected).",
                icon="🫙")
        return
    counts = np.bincount(enc_a.labels[rows], minlength=len(names))
    top = ", ".join(f"{names[i]} {counts[i]}" for i in np.argsort(-counts)[:4] if counts[i])
    more = f" (the first {len(rows):,} of {total:,})" if total > len(rows) else ""
    st.markdown(f"**{len(rows):,} images selected**{more} · {md_escape(top)} · mean agreement "
                f"**{float(comparison.agreement[rows].mean()):.2f}** (all images: {comparison.overall.agreement:.2f})")
    c0, c1, c2 = st.columns([2.2, 1, 1])
    with c0:
        shown_rows = rows[:32]
        st.image(imgs.to_png(imgs.grid(images[shown_rows], ncols=8), 2), output_format="PNG",
                 caption=f"{len(shown_rows)} of {len(rows):,} selected images")
    for column, side in zip((c1, c2), SIDES):
        with column:
            mean_z = encoded[side].mu[rows].mean(axis=0)
            show_image(models[side].loaded.model.decode_images(mean_z)[0], f"{side.upper()}'s decoded mean latent",
                       size=112)


@st.fragment
def maps_and_detail() -> None:
    """Both maps and the detail in one fragment: a click reruns only this; the maps are never redrawn by Python."""
    read_event()
    focus = current_focus()
    colour = st.session_state.get(COMPARE_COLOUR)
    colour = colour if colour in COMPARE_COLOURS else "agreement"
    st.session_state[COMPARE_COLOUR] = colour
    with page.friendly_errors("Drawing the maps"):
        compare_component.compare_maps(MAPS_KEY, side_data("a", focus), side_data("b", focus), names,
                                       figures.PALETTE, COMPARE_COLOURS, colour, atlas=atlas, height=MAP_HEIGHT)
    with page.friendly_errors("Showing the detail"):
        if focus is None:
            st.info("Hover either map: the same image is ringed on both, and each lens shows what its model draws "
                    "there. Click a point for both reconstructions and neighbourhoods; Box or Lasso (the maps' "
                    "toolbar) selects the same images on both.", icon="👆")
        elif focus["kind"] == "point":
            point_detail(focus["row"])
        elif focus["kind"] == "space":
            space_detail(focus["xy"])
        else:
            selection_detail(focus["rows"], focus.get("total", 0))
    url.publish()  # a click reruns only this fragment: the address bar follows the picked image


def open_different() -> None:
    row = st.session_state.get(OPEN_DIFFERENT)
    if row is not None:
        st.session_state[COMPARE_FOCUS] = {"kind": "point", "row": int(row)}
        st.session_state[COMPARE_PICK] = int(row)
    st.session_state[OPEN_DIFFERENT] = None


def where_they_disagree() -> None:
    st.markdown("#### Where they disagree")
    overall = comparison.overall
    st.caption(f"Mean neighbourhood agreement over all {overall.count:,} images: **{overall.agreement:.2f}** "
               f"(1: every image has the same {comparison.k} nearest neighbours in A's latent space as in B's; 0: none "
               "shared). Colour the maps by it above.")
    rows = [int(r) for r in comparison.most_different]
    st.markdown(f"**The {len(rows)} images whose neighbourhoods differ most**")
    thumbnails([images[r] for r in rows], [f"#{r} · {comparison.agreement[r]:.2f}" for r in rows],
               ncols=min(len(rows), MOST_DIFFERENT // 2) or 1, size=56)
    st.pills("Open one of them above", rows, key=OPEN_DIFFERENT, format_func=lambda r: f"#{r}",
             on_change=open_different, help="Shows it in the detail under the maps, ringed on both")
    if not comparison.classes:
        return
    classes = [c.name for c in comparison.classes]  # shown as plain text by figures.bars
    cols = st.columns(3)
    with cols[0]:
        chart(figures.bars(classes, {"agreement": [c.agreement for c in comparison.classes]},
                           "Mean agreement per class", y_range=(0, 1), hover="%{x}: %{y:.2f}<extra></extra>"),
              "compare_class_agreement", toolbar=False)
    for column, what, title in ((cols[1], "kl", "KL per class (nats)"),
                                (cols[2], "recon", "Reconstruction error per class (nats)")):
        series = {f"{side.upper()} · {models[side].loaded.path.name}":
                  [getattr(c, f"{what}_{side}") for c in comparison.classes] for side in SIDES}
        with column:
            chart(figures.bars(classes, series, title, hover="%{x}: %{y:.1f}<extra></extra>"), f"compare_class_{what}",
                  toolbar=False)


def number(metrics: dict, key: str) -> float | None:
    value = metrics.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def side_by_side() -> None:
    st.markdown("#### Side by side")
    rows = []
    for side, cur in models.items():
        m = cur.loaded.metrics
        elbo, kl = number(m, "elbo"), number(m, "kl")
        shown_split = split_texts(elbo, kl) if elbo is not None and kl is not None else ("n/a",) * 3
        bound = number(m, "nll") if number(m, "nll") is not None else number(m, "iwae_bound")
        units = m.get("active_units")
        rows.append((side, elbo, kl, shown_split, bound, units, int(m.get("n_images") or 0)))
    headings = ("ELBO", "Recon", "KL", "IWAE bound", "Active units")
    cols = st.columns([0.9, 1, 1, 1, 1, 1])
    for side, elbo, kl, shown_split, bound, units, n_images in rows:
        cols[0].markdown(f"**{side.upper()}** · {NAME[side]}")
        helps = split_helps(elbo, kl, dataset_estimator(n_images)) if elbo is not None and kl is not None else \
            ("not measured",) * 3
        dim = models[side].loaded.config.latent_dim
        values = (*shown_split, nats(bound) if bound is not None else "n/a",
                  f"{units} / {dim}" if isinstance(units, int) else "n/a")
        for column, heading, value, help_text in zip(cols[1:], headings, values, (*helps, "importance-weighted bound "
                                                     "on log p(x), higher is better", "latent dimensions whose mean "
                                                     "varies over the data (Var > 0.01)")):
            column.metric(f"{heading} ({side.upper()})", value, help=help_text)
    st.caption("From each model's own test measurement (its metrics.json). KL per latent dimension below is measured "
               f"on the maps' images ({len(enc_a):,}): a dimension near 0 is unused (collapsed).")
    top = max(float(encoded[s].mean_kl_per_dim.max()) for s in SIDES) * 1.08 or 1.0
    cols = st.columns(2)
    for column, side in zip(cols, SIDES):
        per_dim = encoded[side].mean_kl_per_dim
        with column:
            chart(figures.bars(range(len(per_dim)), {f"{side.upper()} · {models[side].loaded.path.name}": per_dim},
                               f"KL per dimension, {side.upper()} (nats)", height=200, y_range=(0, top),
                               hover="dimension %{x}: %{y:.2f} nats<extra></extra>"),
                  f"compare_kl_dims_{side}", toolbar=False)


maps_and_detail()
with page.friendly_errors("Where they disagree"):
    where_they_disagree()
with page.friendly_errors("Side by side"):
    side_by_side()
