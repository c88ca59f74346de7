"""Train: pick a dataset and settings, train on a background thread with live progress, then use, download or
delete saved models. The run lives in a registry shared by all sessions, so reruns and reloads never stop it."""
from datetime import datetime
from pathlib import Path

import numpy as np
import streamlit as st

from ui import figures, sidebar, state, training
from ui.widgets import show_image
from vae_core import checkpoint, data
from vae_core import images as imgs
from vae_core.model import VAEConfig
from vae_core.train import TrainConfig

state.ensure_navigation()  # a direct link on a fresh server must still run app.py (sidebar, routing)

JOB = "train_job"            # id of the run this session started (or watches)
ANNOUNCED = "train_seen"     # id of the finished run whose end already triggered a full rerun
NEWEST = "train_newest"      # folder of a run that just finished: selected once in the saved-model box
CONFIRM = "train_confirm"    # folder waiting for a second click to be deleted
FLASH = "train_flash"        # (kind, text) shown once after a delete
OWN = "Your own pictures…"
MODEL_DEFAULTS, TRAIN_DEFAULTS = VAEConfig(), TrainConfig()  # the one source of every initial value below
SIZES = {"small": ((16, 32), 64), "standard": (MODEL_DEFAULTS.channels, MODEL_DEFAULTS.hidden),
         "large": ((32, 64), 256)}  # conv widths, hidden
BATCHES = [16, 32, 64, 128, 256, 512]
RATES = [1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2]


registry = training.shared_registry()
job = registry.get(st.session_state.get(JOB))
busy = job is not None and not job.done

# --- settings ------------------------------------------------------------------------------------------
st.markdown("#### Train a model")
sources = sidebar.sources()
available = [s.name for s in sources if s.available]
options = available + [OWN]
preferred = st.session_state.get(state.DATASET)
c1, c2 = st.columns([1, 2])
choice = c1.selectbox("Dataset", options, index=options.index(preferred) if preferred in options else 0,
                      key="train_dataset")
if choice == OWN:
    location = c2.text_input("Folder of your pictures (one subfolder per class) or a .zip", key="train_folder",
                             placeholder="/path/to/pictures  or  /path/to/pictures.zip").strip()
    dataset_name = location if location.lower().endswith(".zip") else (f"folder:{location}" if location else "")
else:
    dataset_name = choice
missing = [s for s in sources if not s.available]
if missing:
    c2.caption("More datasets, once their files are here: "
               + " · ".join(f"**{s.name}** ({s.how_to_get})" for s in missing))

c1, c2, c3, c4 = st.columns(4)
latent_dim = c1.slider("Latent dimensions", 2, 64, MODEL_DEFAULTS.latent_dim, key="train_latent",
                       help="2 makes the latent space itself a map; 16 reconstructs well")
epochs = c2.number_input("Epochs", 1, 1000, TRAIN_DEFAULTS.epochs, key="train_epochs")
batch_size = c3.select_slider("Batch size", BATCHES, value=TRAIN_DEFAULTS.batch_size, key="train_batch")
lr = c4.select_slider("Learning rate", RATES, value=TRAIN_DEFAULTS.lr, key="train_lr", format_func=lambda v: f"{v:g}")
c1, c2, c3, c4 = st.columns(4)
beta = c1.number_input("β (KL weight)", 0.0, 20.0, MODEL_DEFAULTS.beta, step=0.1, key="train_beta",
                       help="1 trains the true ELBO; more pushes towards a smoother, less detailed latent space")
warmup = c2.number_input("KL warm-up epochs", 0.0, 100.0, MODEL_DEFAULTS.warmup_epochs, step=1.0, key="train_warmup",
                         help="Anneal the KL weight from 0 to β over this many epochs: avoids posterior collapse")
free_bits = c3.number_input("Free bits (nats per dimension)", 0.0, 5.0, MODEL_DEFAULTS.free_bits, step=0.1,
                            key="train_free_bits",
                            help="A floor on each dimension's KL while training (0 = off); reported ELBOs stay honest")
seed = c4.number_input("Seed", 0, 2**31 - 1, TRAIN_DEFAULTS.seed, key="train_seed")
c1, c2, c3 = st.columns([1, 1, 2])
size = c1.segmented_control("Network width", list(SIZES), default="standard", key="train_size") or "standard"
binarize = c2.toggle("Binarise pixels", MODEL_DEFAULTS.binarize, key="train_binarize",
                     help="Dynamic binarisation: needed for NLL numbers comparable to papers")
default_name = f"{Path(dataset_name.removeprefix('folder:')).stem or 'model'}-z{latent_dim}"
name = c3.text_input("Model name", key="train_name", placeholder=default_name, max_chars=60,
                     help="Saved as a new folder <name>-<n>: an existing model is never overwritten").strip()
if warmup > epochs:
    st.caption(f"⚠️ The KL warm-up ({warmup:g} epochs) is longer than the run: β never reaches {beta:g}.")
if registry.running() and not busy:
    st.caption(f"⏳ {len(registry.running())} training(s) already running on this server: they share the CPU.")


def start_training() -> None:
    if not dataset_name:
        st.warning("Type the folder or .zip of your pictures first.", icon="📁")
        return
    with state.friendly_errors("Starting the training"):
        if choice == OWN:
            bar = st.progress(0.0, text="Reading your pictures")
            try:
                dataset = data.load_dataset(dataset_name, progress=lambda f, m="": bar.progress(
                    min(max(float(f), 0.0), 1.0), text=m or "Reading your pictures"))
            finally:
                bar.empty()
        else:
            dataset = state.get_dataset(dataset_name)
        channels, hidden = SIZES[size]
        model_config = VAEConfig(image_shape=dataset.image_shape, latent_dim=int(latent_dim), channels=channels,
                                 hidden=hidden, beta=float(beta), warmup_epochs=float(warmup),
                                 free_bits=float(free_bits), binarize=bool(binarize), dataset=dataset.name,
                                 class_names=list(dataset.class_names))
        train_config = TrainConfig(epochs=int(epochs), batch_size=int(batch_size), lr=float(lr), seed=int(seed))
        folder = checkpoint.unique_model_dir(name or default_name)
        started = registry.start(model_config, train_config, dataset, folder)
        st.session_state[JOB] = started.id
        st.rerun()  # redraw with Start disabled and the live panel polling


if st.button("Start training", type="primary", icon="🏋️", key="train_start", disabled=busy,
             help="A training is running: wait for it or cancel it" if busy else None):
    start_training()


# --- the run -------------------------------------------------------------------------------------------
def use_model(path: str, dataset_name: str) -> None:
    st.session_state[state.DATASET] = dataset_name
    st.session_state[state.MODEL] = path


def use_button(path: str, dataset_name: str, key: str) -> None:
    if st.button("Use this model", icon="🗺️", key=key, on_click=use_model, args=(path, dataset_name),
                 help="Select it in the sidebar and open the Map"):
        st.switch_page("pages/map.py")


def headline(metrics: dict, latent: int) -> str:
    parts = []
    if isinstance(metrics.get("elbo"), (int, float)):
        parts.append(f"test ELBO **{metrics['elbo']:.1f}**")
    if isinstance(metrics.get("iwae_bound"), (int, float)):
        parts.append(f"IWAE bound **{metrics['iwae_bound']:.1f}** (k={metrics.get('iwae_k')})")
    if isinstance(metrics.get("active_units"), int):
        parts.append(f"active units **{metrics['active_units']} / {latent}**")
    return " · ".join(parts)


def run_panel(job_id: str) -> None:
    run = registry.get(job_id)
    if run is None:
        return
    if run.done and st.session_state.get(ANNOUNCED) != run.id:
        st.session_state[ANNOUNCED] = run.id
        if run.epochs_kept:
            st.session_state[NEWEST] = str(run.folder)  # the saved-model box below shows the new model
        st.rerun()  # the whole app: the sidebar lists the new model, Start comes back
    p = run.progress
    st.markdown(f"**{run.name}** · {run.dataset} · z={run.model_config.latent_dim}")
    if not run.done:
        if p is None:
            st.progress(0.0, text="Preparing the data and the model…")
        else:
            st.progress(run.fraction, text=f"Epoch {p.epoch}/{p.epochs} · step {p.step}/{p.steps} · "
                                           f"{run.images_per_s or 0:,.0f} img/s · "
                                           f"ETA {training.format_seconds(run.eta_s)}")
        if run.cancel_requested:
            st.caption("Stopping after the current step…")
        else:
            st.button("Cancel", icon="⏹️", key=f"cancel_{run.id}", on_click=run.cancel,
                      help="Stop between two steps; the last finished epoch is kept")
    kept = run.epochs_kept
    metrics = run.result.metrics if run.result else {}
    if run.status == training.FINISHED:
        st.success(f"Saved {kept} epoch(s) in `{run.folder}`. {headline(metrics, run.model_config.latent_dim)}",
                   icon="✅")
        if metrics.get("active_units") == 0:
            st.warning("No active units: the encoder maps every image to about the same z, so the decoder ignores z "
                       "and all reconstructions look alike (posterior collapse). Train more epochs, add a KL warm-up "
                       "of a few epochs, lower β, or set free bits.", icon="🫥")
    elif run.status == training.CANCELLED:
        if kept:
            st.warning(f"Cancelled. The model of epoch {kept} was kept in `{run.folder}`.", icon="⏹️")
        else:
            st.info("Cancelled before the first epoch finished: nothing was saved.", icon="⏹️")
    elif run.status == training.FAILED:
        st.error(run.message, icon="⚠️")
    if run.done and kept:
        use_button(str(run.folder), run.dataset, key=f"use_{run.id}")
    if run.message and run.status == training.RUNNING:
        st.caption(run.message)
    left, right = st.columns([5, 4], gap="medium")
    history = run.history
    with left:
        if history:
            st.plotly_chart(figures.loss_curves(history, height=280), key=f"curves_{run.id}")
        elif not run.done:
            st.caption("Loss curves appear after the first epoch.")
    with right:
        if run.recon_images is not None:
            originals, recons = run.recon_images
            show_image(imgs.grid(np.concatenate([originals, recons]), ncols=len(originals)), size=160,
                       caption=f"test images (top) and their reconstructions (bottom), epoch {len(history)}")


if job is not None:
    st.divider()
    st.fragment(run_every=None if job.done else 1.0)(run_panel)(job.id)

others = [j for j in registry.running() if job is None or j.id != job.id]
for other in others:
    c1, c2 = st.columns([4, 1])
    c1.caption(f"Also training: **{other.name}** ({other.dataset}), {other.fraction:.0%} done")
    if c2.button("Watch", key=f"watch_{other.id}", disabled=busy):
        st.session_state[JOB] = other.id
        st.rerun()

# --- saved models --------------------------------------------------------------------------------------
st.divider()
st.markdown("#### Saved models")


def delete_model(path: str) -> None:
    st.session_state.pop(CONFIRM, None)
    try:
        checkpoint.delete_model(path)
        st.session_state[FLASH] = ("success", f"Deleted {Path(path).name}.")
    except Exception as err:  # noqa: BLE001 - CheckpointError (shipped, foreign files) or an OS error
        st.session_state[FLASH] = ("error", str(err))


flash = st.session_state.pop(FLASH, None)
if flash:
    (st.success if flash[0] == "success" else st.error)(flash[1], icon="🗑️" if flash[0] == "success" else "⚠️")

models = checkpoint.list_models()
if not models:
    st.info("No saved models yet: train one above.", icon="🏋️")
    st.stop()


def kind(info: checkpoint.ModelInfo) -> str:
    if info.error:
        return "broken"
    if registry.is_training(info.path):
        return "training…"
    return "shipped" if info.read_only else "yours"


def number(value, digits: int = 1):
    return round(float(value), digits) if isinstance(value, (int, float)) else None


st.dataframe(
    [{"name": m.name, "dataset": m.dataset, "latent dim": m.latent_dim or None, "epochs": m.epochs,
      "test ELBO": number(m.metrics.get("elbo")), "IWAE bound": number(m.metrics.get("iwae_bound")),
      "active units": m.metrics.get("active_units"), "kind": kind(m),
      "saved": datetime.fromtimestamp(m.modified).strftime("%Y-%m-%d %H:%M")} for m in models],
    hide_index=True, key="train_models",
    column_config={"test ELBO": st.column_config.NumberColumn(help="nats per image, higher is better"),
                   "IWAE bound": st.column_config.NumberColumn(help="importance-weighted log-likelihood bound")})
for broken in (m for m in models if m.error):
    st.warning(f"**{broken.name}** cannot be loaded: {broken.error}", icon="🧩")

paths = [str(m.path) for m in models]
by_path = {str(m.path): m for m in models}
newest = st.session_state.pop(NEWEST, None)
if newest is not None:
    st.session_state["train_target"] = next((p for p in paths if Path(p).resolve() == Path(newest).resolve()),
                                            st.session_state.get("train_target", paths[0]))
target = st.selectbox("Model", paths, key="train_target",
                      format_func=lambda p: f"{by_path[p].name} · {by_path[p].dataset or '?'}")
info = by_path[target]
c1, c2, c3 = st.columns(3)
with c1:
    if info.error is None:
        use_button(target, info.dataset, key="use_listed")
with c2:
    if info.error is None:
        st.download_button("Download .zip", data=lambda: checkpoint.zip_model(target), file_name=f"{info.name}.zip",
                           mime="application/zip", on_click="ignore", icon="⬇️", key="download_listed",
                           help="config.json, model.safetensors, metrics.json and train.json")
with c3:
    if info.read_only:
        st.button("Delete…", icon="🗑️", key="delete_listed", disabled=True)
        st.caption("🔒 Shipped with the app: it cannot be deleted.")
    elif registry.is_training(info.path):
        st.button("Delete…", icon="🗑️", key="delete_listed", disabled=True)
        st.caption("Being trained right now: cancel the run first.")
    elif st.button("Delete…", icon="🗑️", key="delete_listed"):
        st.session_state[CONFIRM] = target
if st.session_state.get(CONFIRM) == target:
    st.warning(f"Delete **{info.name}** and everything in `{info.path}`? This cannot be undone.", icon="🗑️")
    c1, c2, _ = st.columns([1, 1, 3])
    c1.button(f"Yes, delete {info.name}", type="primary", key="delete_confirm", on_click=delete_model, args=(target,))
    c2.button("Keep it", key="delete_keep", on_click=lambda: st.session_state.pop(CONFIRM, None))
