"""The Train page's part for models trained elsewhere: upload a zipped ONNX model folder (checked, listed, then
measured in the background), and the plain "can't train this here" note with an offer to train one of ours on the
same data."""
from __future__ import annotations

import streamlit as st

from vae_core import models
from vae_core.errors import CheckpointError

from . import measuring
from .page import log
from .text import md_escape as escape

IMPORTED = "onnx_imported"   # file_id of the last zip handled: the uploader keeps its file across reruns
DATASET_BOX = "train_dataset"  # the Train page's dataset selectbox
MAX_UPLOAD_MB = 512  # a model zip; .streamlit/config.toml's server.maxUploadSize lets exactly this through


def _import(upload) -> tuple[str, str]:
    """("ok" | "error", message) for one uploaded zip."""
    if upload.size > MAX_UPLOAD_MB * 1_000_000:
        return "error", f"{escape(upload.name)} is over {MAX_UPLOAD_MB} MB: refused."
    try:
        with st.spinner("Checking the model…"):
            folder = models.import_zip(upload.name, upload.getvalue())
    except CheckpointError as err:
        return "error", f"{escape(upload.name)} was not added: {escape(err)}"
    except Exception as err:  # noqa: BLE001 - whatever else goes wrong is a message too, never a traceback
        log.exception("importing %s failed", upload.name)
        return "error", f"{escape(upload.name)} was not added ({escape(type(err).__name__)}: {escape(err)})"
    started = measuring.shared_measurements().start(folder, owner=measuring.session_id())
    measured = " Its test metrics are being measured (progress below)." if started else ""
    return "ok", f"Added **{escape(folder.name)}**: it is in the list below and in the sidebar.{measured}"


def render_upload() -> None:
    """A zip of encoder.onnx + decoder.onnx + vae.json: every load check runs before it joins the list."""
    upload = st.file_uploader("Add a VAE trained elsewhere: a .zip of its folder (encoder.onnx, decoder.onnx, "
                              "vae.json; see the README)", type=["zip"], key="onnx_zip", max_upload_size=MAX_UPLOAD_MB,
                              help="Checked first (schema, graphs, a test run); a refused zip leaves nothing behind")
    if upload is None:
        return
    done = st.session_state.get(IMPORTED)
    if done is None or done[0] != upload.file_id:  # a new file: import once, then redraw so the sidebar lists it
        st.session_state[IMPORTED] = (upload.file_id, *_import(upload))
        st.rerun()
    _, kind, message = done
    (st.success if kind == "ok" else st.error)(message, icon="📦" if kind == "ok" else "⚠️")


def _choose_dataset(dataset: str) -> None:
    st.session_state[DATASET_BOX] = dataset


def render_train_note(info: models.ModelInfo, datasets: list[str]) -> None:
    """For a model that can't be trained here: said plainly, with a button to train one of ours instead."""
    refusal = models.training_refusal(info.path)
    if refusal is None:
        return
    st.info(escape(refusal), icon="📦")
    if info.dataset in datasets:
        st.button(f"Train one of ours on {info.dataset}", key="train_like_onnx", on_click=_choose_dataset,
                  args=(info.dataset,), help="Puts this dataset in the settings above; then press Start training")
