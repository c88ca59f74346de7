"""The Map's training movie (issue 21): for a model with snapshots, an expander under the map that plays the latent
map through training, decodes with each epoch's own decoder under the cursor, and shows the KL x epoch heatmap, the
ELBO split per epoch and a GIF export. The library does the work (models/snapshots.py, map/movie.py,
map/movie_gif.py); this module computes nothing itself.

Nothing is read or computed until the expander is opened (it tracks its state and reruns when toggled): the Map's
first load stays as it was. The aligned maps come from a background job (a shipped model's are cached: at once).
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from vae_core.map import movie as movies
from vae_core.map.movie_gif import movie_gif
from vae_core.map.placement import Placer
from vae_core.map.projection import ProjectionSpec
from vae_core.map.raster import map_bounds
from vae_core.models import snapshots as snapshot_files

from . import figures, jobs, loaders, page
from .components import movie as movie_component
from .session.keys import MOVIE, MOVIE_OPEN
from .text import md_escape
from .widgets import chart, split_sentence


def series(cur: loaders.Current) -> snapshot_files.SnapshotSeries:
    """The model's snapshots (their means and numbers; decoders are read when published), once per weights: a
    resumed run saves new weights, so its new snapshots are read again."""
    return loaders.memo(("movie-series", str(cur.loaded.path), cur.loaded.weights_hash),
                        lambda cb: snapshot_files.read_snapshots(cur.loaded.path))


def movie_spec(cur: loaders.Current) -> ProjectionSpec:
    """The Map's projection (the one asked for, not a stand-in) when the movie can draw it: UMAP or PCA."""
    asked = cur.requested or cur.spec
    method = asked.method if asked.method in movies.MOVIE_METHODS else "pca"  # a 2-D latent: PCA, a rotation of it
    return ProjectionSpec(method=method, dims=2, n_neighbors=asked.n_neighbors, min_dist=asked.min_dist,
                          seed=asked.seed)


def movie_now(cur: loaders.Current, spec: ProjectionSpec):
    """(Movie, None) when its aligned maps are ready; else (None, the background job aligning them)."""
    loaded, found = cur.loaded, series(cur)
    return loaders.memo_or_start(("movie", str(loaded.path), loaded.weights_hash, spec),
                                 lambda cb: movies.movie(loaded, spec, cb, series=found), "The training movie's maps",
                                 cached=lambda: movies.cached_movie(loaded, spec, series=found))


def labels_of(cur: loaders.Current, movie: movies.Movie) -> np.ndarray:
    """The snapshot rows' test labels (-1 for rows the dataset does not have: another dataset under the same name)."""
    labels = np.asarray(cur.dataset.test_labels)
    rows = movie.rows
    if len(rows) and rows.max() < len(labels):
        return labels[rows].astype(np.int64)
    return np.full(len(rows), -1, dtype=np.int64)


def bounds_of(movie: movies.Movie) -> tuple[float, float, float, float]:
    """One frame for every epoch (the axes hold still), the GIF's own (raster.map_bounds)."""
    return map_bounds(movie.maps.reshape(-1, 2))


def published(cur: loaders.Current, movie: movies.Movie, spec: ProjectionSpec) -> dict:
    """The page's files, once per movie in a server: the frames buffer and each epoch's decoder (a decoder that
    fails its checks gets no URL: that epoch's lens is off, and the page says so)."""
    def compute(cb) -> dict:
        labels = labels_of(cur, movie)
        means = np.stack([s.mu for s in movie.snapshots])
        frames = movie_component.publish_frames(movie_component.pack(
            movie.maps, means, labels, len(cur.dataset.class_names), bounds_of(movie)))
        decoders, broken = [], []
        for i, snapshot in enumerate(movie.snapshots):
            cb(i / len(movie.snapshots), f"epoch {snapshot.epoch}'s decoder")
            try:
                decoders.append(movie_component.publish_decoder(snapshot.decoder_onnx()))
            except Exception:  # noqa: BLE001 - one damaged decoder turns off one epoch's lens, not the movie
                decoders.append(None)
                broken.append(snapshot.epoch)
        # the GIF reads each epoch's latent with Placer(means, frame): the page blends as many neighbours
        k = Placer(movie.snapshots[-1].mu, movie.maps[-1]).k
        return {"frames": frames, "decoders": decoders, "broken": broken, "k": k}
    return loaders.memo(("movie-files", str(cur.loaded.path), cur.loaded.weights_hash, spec,
                         movies.series_hash(movie.snapshots)), compute, "Preparing the movie for the page")


def default_spot(movie: movies.Movie) -> list[float]:
    """The GIF's spot until one is pinned: the image nearest the map's centre at the last epoch (the centre itself
    often falls between clusters, where every epoch's decoder draws a grey blur)."""
    x0, x1, y0, y1 = bounds_of(movie)
    last = movie.maps[-1]
    nearest = int(np.argmin(((last - [(x0 + x1) / 2, (y0 + y1) / 2]) ** 2).sum(axis=1)))
    return [float(last[nearest, 0]), float(last[nearest, 1])]


def gif_bytes(cur: loaders.Current, movie: movies.Movie, spot) -> bytes:
    """movie_gif for `spot`: per epoch, the map with the spot marked beside what that epoch's decoder draws there."""
    return movie_gif(movie, spot, labels=labels_of(cur, movie))


def epoch_numbers(movie: movies.Movie) -> list[str]:
    """Per epoch, its ELBO split as shown everywhere (rounded so the shown numbers add up: widgets.split_texts)."""
    return [split_sentence(elbo, kl) for elbo, kl in zip(movie.numbers("elbo"), movie.numbers("kl"))]


def waiting(job) -> None:
    if job.status == jobs.FAILED:
        st.warning(f"The training movie's maps could not be aligned: {md_escape(job.error)}", icon="⚠️")
        st.button("Try again", key="movie_retry", on_click=loaders.retry, args=(job.key,))
        return
    st.caption("The snapshots' maps are being aligned in the background (seconds: UMAP over the snapshots, each "
               "epoch pulled towards its neighbours); the movie appears here when they are ready.")
    jobs.watch([job])


def player(cur: loaders.Current, movie: movies.Movie, spec: ProjectionSpec) -> None:
    files = published(cur, movie, spec)
    bounds = bounds_of(movie)
    state = st.session_state.get(MOVIE)
    pinned = movie_component.checked_spot(state, bounds)
    spot = pinned or default_spot(movie)
    left, right = st.columns([1.5, 1], gap="medium")  # the map (400 px) and the lens side by side
    with left:
        movie_component.movie_player(
            MOVIE, frames=files["frames"], decoders=files["decoders"], epochs=movie.epochs.tolist(),
            numbers=epoch_numbers(movie), shape=cur.loaded.config.image_shape,
            class_names=list(cur.dataset.class_names), palette=figures.PALETTE, spot=spot, k=files["k"])
        if files["broken"]:
            st.caption(f"The decoder of epoch{'s' if len(files['broken']) > 1 else ''} "
                       f"{', '.join(map(str, files['broken']))} failed its checks: the lens is off there.")
    with right:
        chart(figures.kl_heatmap(movie.kl_heatmap, movie.epochs), "movie_kl", toolbar=False)
        chart(figures.elbo_split_chart(movie.epochs, movie.numbers("recon"), movie.numbers("kl")), "movie_elbo",
              toolbar=False)
        where = "the spot you pinned" if pinned else \
            "the image nearest the map's centre (click the movie's map to pin another spot)"
        st.download_button(f"Download the movie as a GIF ({len(movie.snapshots)} frames)",
                           data=lambda: gif_bytes(cur, movie, spot), file_name=f"{cur.loaded.path.name}-movie.gif",
                           mime="image/gif", on_click="ignore", icon="🎞️", key="movie_gif",
                           help=f"Per epoch, the map with {where} marked, beside what that epoch's decoder draws "
                                "there")
        st.caption(f"The GIF follows {where}: ({spot[0]:.2f}, {spot[1]:.2f}).")


@st.fragment
def movie_section(cur: loaders.Current) -> None:
    """The training movie under the map, for a model with snapshots (none: not offered). A fragment: a pinned spot
    reruns only this."""
    with page.friendly_errors("The training movie"):
        found = series(cur)
        if not found.snapshots:
            if found.unreadable:
                st.caption(f"This model's {found.unreadable} snapshot file{'s' if found.unreadable > 1 else ''} could "
                           "not be read, so there is no training movie.")
            return
        epochs = found.epochs
        skipped = f" · {found.unreadable} unreadable snapshot file{'s' if found.unreadable > 1 else ''} skipped" \
            if found.unreadable else ""
        label = f"Training movie · {len(epochs)} snapshots, epochs {epochs[0]}–{epochs[-1]}{skipped}"
        section = st.expander(label, icon="🎬", key=MOVIE_OPEN, on_change="rerun")
        if not section.open:
            return
        with section:
            spec = movie_spec(cur)
            movie, job = movie_now(cur, spec)
            if movie is None:
                waiting(job)
                return
            st.caption(f"{len(movie.rows):,} fixed test images, their encoder means at each kept epoch, on "
                       f"{spec.method.upper()} maps aligned across epochs{skipped}. Scrub or play: the points glide "
                       "between epochs; the lens decodes under the cursor with that epoch's own decoder (the blend of "
                       "the 8 nearest points' means); click the map to pin a spot for the GIF.")
            player(cur, movie, spec)
