"""Train: pick a dataset and settings, train on a background thread with live progress, then use, resume, download
or delete saved models. Runs live in a registry shared by all sessions, so reruns and reloads never stop them."""
from ui import page  # light: Streamlit and the standard library

# First, before the imports below (seconds on a fresh server): a direct link must run app.py (sidebar, routing).
page.ensure_navigation()

import uuid
from datetime import datetime
from pathlib import Path

import numpy as np
import streamlit as st

from ui import figures, housekeeping, loaders, measuring, onnx_import, sidebar, training
from ui.session import keys
from ui.text import md_code, md_escape
from ui.widgets import chart, show_image
from vae_core import data, models
from vae_core.data import roots
from vae_core import images as imgs
from vae_core.models.torch_vae.model import VAEConfig
from vae_core.training import TrainConfig
from vae_core.training.trainer import BATCH_RANGE, STEPS_PER_EPOCH, batch_size_for, too_short

JOB = "train_job"            # id of the run this session started (or watches)
ANNOUNCED = "train_seen"     # id of the finished run whose end already triggered a full rerun
NEWEST = "train_newest"      # folder of a run that just finished: selected once in the saved-model box
CONFIRM = "train_confirm"    # folder waiting for a second click to be deleted
CANCEL_CONFIRM = "train_cancel_confirm"  # id of another session's run waiting for a second click to be cancelled
FLASH = "train_flash"        # (kind, text) shown once after a delete
SESSION = "train_session"    # this session's id, recorded as the owner of the runs it starts
OWN = "Your own pictures…"
MODEL_DEFAULTS, TRAIN_DEFAULTS = VAEConfig(), TrainConfig()  # the one source of every initial value below
SIZES = {"small": ((16, 32), 64), "standard": (MODEL_DEFAULTS.channels, MODEL_DEFAULTS.hidden),
         "large": ((32, 64), 256)}  # conv widths, hidden
AUTO = "auto"  # the batch follows the training set's size (training.trainer.batch_size_for)
BATCHES = [AUTO, 16, 32, 64, 128, 256, 512]
RATES = [1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2]

registry = training.shared_registry()
job = registry.get(st.session_state.get(JOB))
busy = job is not None and not job.done


def session_id() -> str:
    """This browser session's id: who started a run (kept in the session, so reruns and reconnects keep it)."""
    return st.session_state.setdefault(SESSION, uuid.uuid4().hex)


def whose(run: training.TrainJob) -> str:
    started = datetime.fromtimestamp(run.started).strftime("%H:%M")
    return f"another browser session (session {run.owner[:8] or '?'}, started at {started})"


# --- settings ------------------------------------------------------------------------------------------
def settings_form() -> dict:
    """The settings widgets, top to bottom; returns what start_training needs."""
    st.markdown("#### Train a model")
    sources = sidebar.sources()
    options = [s.name for s in sources if s.available] + [OWN]
    preferred = st.session_state.get(keys.DATASET)
    c1, c2 = st.columns([1, 2])
    choice = c1.selectbox("Dataset", options, index=options.index(preferred) if preferred in options else 0,
                          key="train_dataset")
    if choice == OWN:
        location = c2.text_input("Folder of your pictures (one subfolder per class) or a .zip", key="train_folder",
                                 placeholder="/path/to/pictures  or  /path/to/pictures.zip",
                                 help="Inside the project's data/ folder, $VAE_DATA_DIR or a folder listed in "
                                      f"${roots.ROOTS_VARIABLE}").strip()
        dataset_name = location if location.lower().endswith(".zip") else (f"folder:{location}" if location else "")
    else:
        dataset_name = choice
    missing = [s for s in sources if not s.available]
    if missing:
        c2.caption("More datasets, once their files are here: "
                   + " · ".join(f"**{s.name}** ({s.how_to_get})" for s in missing))  # our own text

    c1, c2, c3, c4 = st.columns(4)
    latent_dim = c1.slider("Latent dimensions", 2, 64, MODEL_DEFAULTS.latent_dim, key="train_latent",
                           help="2 makes the latent space itself a map; 16 reconstructs well")
    epochs = c2.number_input("Epochs", 1, 1000, TRAIN_DEFAULTS.epochs, key="train_epochs")
    batch_choice = c3.select_slider("Batch size", BATCHES, value=TRAIN_DEFAULTS.batch_size or AUTO, key="train_batch",
                                    format_func=str,
                                    help=f"auto: the largest of {BATCH_RANGE[0]}–{BATCH_RANGE[1]} that still gives "
                                         f"{STEPS_PER_EPOCH} optimiser steps per epoch (a small dataset needs small "
                                         "batches to learn in a few epochs)")
    lr = c4.select_slider("Learning rate", RATES, value=TRAIN_DEFAULTS.lr, key="train_lr",
                          format_func=lambda v: f"{v:g}")
    c1, c2, c3, c4 = st.columns(4)
    beta = c1.number_input("β (KL weight)", 0.0, 20.0, MODEL_DEFAULTS.beta, step=0.1, key="train_beta",
                           help="1 trains the true ELBO; more pushes towards a smoother, less detailed latent space")
    warmup = c2.number_input("KL warm-up epochs", 0.0, 100.0, MODEL_DEFAULTS.warmup_epochs, step=1.0,
                             key="train_warmup",
                             help="Anneal the KL weight from 0 to β over this many epochs: avoids posterior collapse")
    free_bits = c3.number_input("Free bits (nats per dimension)", 0.0, 5.0, MODEL_DEFAULTS.free_bits, step=0.1,
                                key="train_free_bits",
                                help="A floor on each dimension's KL while training (0 = off); reported ELBOs stay "
                                     "honest")
    seed = c4.number_input("Seed", 0, 2**31 - 1, TRAIN_DEFAULTS.seed, key="train_seed")
    c1, c2, c3, c4 = st.columns([1, 0.8, 1.2, 2])
    size = c1.segmented_control("Network width", list(SIZES), default="standard", key="train_size") or "standard"
    binarize = c2.toggle("Binarise pixels", MODEL_DEFAULTS.binarize, key="train_binarize",
                         help="Dynamic binarisation: needed for NLL numbers comparable to papers")
    snapshot_every = c3.number_input(
        "Training movie: keep a snapshot every K epochs", 0, 1000, TRAIN_DEFAULTS.snapshot_every, key="train_snapshots",
        help=f"0 = off. Each snapshot keeps {TRAIN_DEFAULTS.snapshot_images:,} test images' encoder means and that "
             f"epoch's decoder (~1 MB); the last epoch is always kept, at most {TRAIN_DEFAULTS.snapshot_keep} in all "
             "(thinned evenly). The Map plays them as a movie of the latent space forming.")
    default_name = f"{Path(dataset_name.removeprefix('folder:')).stem or 'model'}-z{latent_dim}"
    name = c4.text_input("Model name", key="train_name", placeholder=models.next_model_name(default_name),
                         max_chars=60, help="Saved as a new folder <name>-<n>, with the first free n: an existing "
                                            "model is never overwritten").strip()
    if name:
        c4.caption(f"Saved as **{md_escape(models.next_model_name(name))}**")
    if warmup > epochs:
        st.caption(f"⚠️ The KL warm-up ({warmup:g} epochs) is longer than the run: β never reaches {beta:g}.")
    batch_size = batch_choice if batch_choice != AUTO else None
    batch_size = run_length(dataset_name if choice != OWN else None, batch_size, int(epochs))
    return dict(choice=choice, dataset_name=dataset_name, latent_dim=latent_dim, epochs=epochs,
                batch_size=batch_size, lr=lr, beta=beta, warmup=warmup, free_bits=free_bits, seed=seed, size=size,
                binarize=binarize, snapshot_every=snapshot_every, name=name or default_name)


def run_length(dataset_name: str | None, batch_size: int | None, epochs: int) -> int | None:
    """Say how many optimiser steps the run will take, and beforehand when they are too few to learn anything
    (24 steps gave a dead model on digits); returns the batch size (auto: chosen from the training set's size).
    Your own pictures are counted when they are read: the run's panel says it then."""
    if not dataset_name:
        if batch_size is None:
            st.caption("Batch size: chosen from the number of your pictures once they are read.")
        return batch_size
    with page.friendly_errors("Reading the dataset's size"):
        n_train = len(loaders.get_dataset(dataset_name).train_images)
        chosen = batch_size or batch_size_for(n_train)
        per_epoch = -(-n_train // chosen)
        st.caption(f"Batch **{chosen}**{' (auto)' if batch_size is None else ''} · {n_train:,} training images · "
                   f"{per_epoch:,} steps per epoch, {per_epoch * epochs:,} in all")
        short = too_short(n_train, chosen, epochs)
        if short:
            st.warning(f"{short}.", icon="⏱️")
    return batch_size


def load_training_data(settings: dict) -> data.Dataset:
    roots.check_app_dataset(settings["dataset_name"])  # before reading anything from that path
    if settings["choice"] != OWN:
        return loaders.get_dataset(settings["dataset_name"])
    bar = st.progress(0.0, text="Reading your pictures")
    try:
        return data.load_dataset(settings["dataset_name"], progress=lambda f, m="": bar.progress(
            min(max(float(f), 0.0), 1.0), text=m or "Reading your pictures"))
    finally:
        bar.empty()


def start_training(settings: dict) -> None:
    if not settings["dataset_name"]:
        st.warning("Type the folder or .zip of your pictures first.", icon="📁")
        return
    with page.friendly_errors("Starting the training"):
        if registry.busy_message():
            raise training.TrainingBusy(registry.busy_message())
        dataset = load_training_data(settings)
        channels, hidden = SIZES[settings["size"]]
        model_config = VAEConfig(image_shape=dataset.image_shape, latent_dim=int(settings["latent_dim"]),
                                 channels=channels, hidden=hidden, beta=float(settings["beta"]),
                                 warmup_epochs=float(settings["warmup"]), free_bits=float(settings["free_bits"]),
                                 binarize=bool(settings["binarize"]), dataset=dataset.name,
                                 class_names=list(dataset.class_names))
        batch_size = settings["batch_size"]
        train_config = TrainConfig(epochs=int(settings["epochs"]), batch_size=int(batch_size) if batch_size else None,
                                   lr=float(settings["lr"]), seed=int(settings["seed"]),
                                   snapshot_every=int(settings["snapshot_every"]))
        folder = models.unique_model_dir(settings["name"])
        try:
            started = registry.start(model_config, train_config, dataset, folder, owner=session_id())
        except training.TrainingBusy:
            folder.rmdir()  # another session took the last slot meanwhile: give the name back
            raise
        st.session_state[JOB] = started.id
        st.rerun()  # redraw with Start disabled and the live panel polling


# --- the run -------------------------------------------------------------------------------------------
def use_model(path: str, dataset_name: str) -> None:
    st.session_state[keys.DATASET] = dataset_name
    st.session_state[keys.MODEL] = path


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


def cancel_controls(run: training.TrainJob) -> None:
    """Cancel this session's run at once; another session's run only after a second click that says whose it is."""
    if run.cancel_requested:
        st.caption("Stopping after the current step…")
        return
    if not run.owner or run.owner == session_id():
        st.button("Cancel", icon="⏹️", key=f"cancel_{run.id}", on_click=run.cancel,
                  help="Stop between two steps; the last finished epoch is kept")
        return
    if st.session_state.get(CANCEL_CONFIRM) != run.id:
        st.button("Cancel…", icon="⏹️", key=f"cancel_{run.id}",
                  on_click=lambda: st.session_state.update({CANCEL_CONFIRM: run.id}),
                  help=f"This run belongs to {whose(run)}")
        return
    st.warning(f"This run was started by {md_escape(whose(run))}, not by you. Cancel it anyway? Its last finished "
               "epoch is kept.", icon="✋")
    c1, c2, _ = st.columns([1, 1, 3])
    c1.button("Yes, cancel it", type="primary", key=f"cancel_confirm_{run.id}",
              on_click=lambda: (run.cancel(), st.session_state.pop(CANCEL_CONFIRM, None)))
    c2.button("Let it run", key=f"cancel_keep_{run.id}", on_click=lambda: st.session_state.pop(CANCEL_CONFIRM, None))


def run_outcome(run: training.TrainJob) -> None:
    kept = run.epochs_kept
    metrics = run.result.metrics if run.result else {}
    where = md_code(run.folder)
    if run.status == training.FINISHED:
        st.success(f"Saved {kept} epoch(s) in {where}. {headline(metrics, run.model_config.latent_dim)}", icon="✅")
        if metrics.get("active_units") == 0:
            st.warning("No active units: the encoder maps every image to about the same z, so the decoder ignores z "
                       "and all reconstructions look alike (posterior collapse). Train more epochs, add a KL warm-up "
                       "of a few epochs, lower β, or set free bits.", icon="🫥")
    elif run.status == training.CANCELLED:
        if kept:
            st.warning(f"Cancelled. The model of epoch {kept} was kept in {where}: resume it from the list below.",
                       icon="⏹️")
        else:
            st.info("Cancelled before the first epoch finished: nothing was saved.", icon="⏹️")
    elif run.status == training.FAILED:
        st.error(md_escape(run.message), icon="⚠️")


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
    resumed = " · resumed" if run.resumed else ""
    config = run.train_config
    st.markdown(f"**{md_escape(run.name)}** · {md_escape(run.dataset)} · z={run.model_config.latent_dim} · "
                f"batch {config.batch_size}{resumed}")
    short = too_short(run.n_train, config.batch_size, config.epochs) if not run.resumed else None
    if short and not run.done:  # said in the form for the built-in datasets; your pictures are counted only now
        st.warning(f"{short}: this run may end before the model has learned anything.", icon="⏱️")
    if not run.done:
        if p is None:
            st.progress(0.0, text="Preparing the data and the model…")
        else:
            st.progress(run.fraction, text=f"Epoch {p.epoch}/{p.epochs} · step {p.step}/{p.steps} · "
                                           f"{run.images_per_s or 0:,.0f} img/s · "
                                           f"ETA {training.format_seconds(run.eta_s)}")
        cancel_controls(run)
    run_outcome(run)
    if run.done and run.epochs_kept:
        use_button(str(run.folder), run.dataset, key=f"use_{run.id}")
    if run.message and run.status == training.RUNNING:
        st.caption(md_escape(run.message))
    left, right = st.columns([5, 4], gap="medium")
    history = run.history
    with left:
        if history:
            chart(figures.loss_curves(history, height=280), f"curves_{run.id}")
        elif not run.done:
            st.caption("Loss curves appear after the first epoch.")
    with right:
        if run.recon_images is not None:
            originals, recons = run.recon_images
            show_image(imgs.grid(np.concatenate([originals, recons]), ncols=len(originals)), size=160,
                       caption=f"test images (top) and their reconstructions (bottom), epoch {len(history)}")


def other_runs() -> None:
    for other in (j for j in registry.running() if job is None or j.id != job.id):
        c1, c2 = st.columns([4, 1])
        c1.caption(f"Also training: **{md_escape(other.name)}** ({md_escape(other.dataset)}), "
                   f"{other.fraction:.0%} done, started by "
                   f"{'you' if other.owner == session_id() else md_escape(whose(other))}")
        if c2.button("Watch", key=f"watch_{other.id}", disabled=busy):
            st.session_state[JOB] = other.id
            st.rerun()


# --- saved models --------------------------------------------------------------------------------------
def delete_model(path: str) -> None:
    st.session_state.pop(CONFIRM, None)
    if registry.is_training(path):  # it may have started in another session since the button was drawn
        st.session_state[FLASH] = ("error", f"{Path(path).name} is being trained right now: cancel that run first; "
                                            "nothing was deleted.")
        return
    measuring.shared_measurements().cancel(path)  # a measurement still running would write metrics.json back
    try:
        models.delete_model(path)
        housekeeping.forget_model(path)  # its published files and cached results go with it
        st.session_state[FLASH] = ("success", f"Deleted {Path(path).name}.")
    except Exception as err:  # noqa: BLE001 - CheckpointError (shipped, foreign files) or an OS error
        st.session_state[FLASH] = ("error", str(err))


def kind(info: models.ModelInfo) -> str:
    if info.error:
        return "broken"
    if registry.is_training(info.path):
        return "training…"
    status = measuring.status_text(info)
    label = info.kind_label if not info.trainable else "shipped" if info.read_only else "yours"
    return f"{label} · {status.split(':')[0]}" if status else label


def number(value, digits: int = 1):
    return round(float(value), digits) if isinstance(value, (int, float)) else None


def models_table(listed: list[models.ModelInfo]) -> None:
    st.dataframe(
        [{"name": m.name, "dataset": m.dataset, "latent dim": m.latent_dim or None, "epochs": m.epochs,
          "test ELBO": number(m.metrics.get("elbo")), "IWAE bound": number(m.metrics.get("iwae_bound")),
          "active units": m.metrics.get("active_units"), "kind": kind(m),
          "saved": datetime.fromtimestamp(m.modified).strftime("%Y-%m-%d %H:%M")} for m in listed],
        hide_index=True, key="train_models", placeholder="–",  # not measured (yet): a dash, never "None"
        column_config={"test ELBO": st.column_config.NumberColumn(help="nats per image, higher is better"),
                       "IWAE bound": st.column_config.NumberColumn(help="importance-weighted log-likelihood bound")})
    for broken in (m for m in listed if m.error):
        st.warning(f"broken: **{md_escape(broken.name)}** cannot be loaded: {md_escape(broken.error)}", icon="🧩")
    for noted in (m for m in listed if m.notes and not m.error):
        st.caption(f"ℹ️ **{md_escape(noted.name)}**: {md_escape('; '.join(noted.notes))}")


def resume_controls(info: models.ModelInfo) -> None:
    """Continue a cancelled or interrupted run (or train a finished one further) with its own saved settings."""
    planned = None
    with st.expander("Resume training", icon="⏯️"):
        try:
            loaded = loaders.get_model(info.path)
            saved = loaded.train_info.get("config")
            planned = saved.get("epochs") if isinstance(saved, dict) else None
        except Exception as err:  # noqa: BLE001 - a folder that changed since it was listed
            st.error(md_escape(err), icon="⚠️")
            return
        if isinstance(planned, int) and planned > info.epochs:
            st.caption(f"Stopped after {info.epochs} of {planned} planned epochs (cancelled or interrupted).")
        target = int(planned) if isinstance(planned, int) and planned > info.epochs else info.epochs + 5
        upto = st.number_input("Train up to epoch", info.epochs + 1, info.epochs + 1000, target, key="resume_epochs")
        if st.button("Resume", icon="⏯️", key="resume_start", disabled=busy,
                     help="A training of yours is running: wait for it or cancel it" if busy else
                     "Continues from the last saved epoch with the same optimizer state and settings"):
            with page.friendly_errors("Resuming the training"):
                if registry.busy_message():
                    raise training.TrainingBusy(registry.busy_message())
                dataset = loaders.get_dataset(loaded.config.dataset)
                started = registry.start(loaded.config, training.resume_settings(loaded, upto), dataset,
                                         Path(info.path), owner=session_id(), resume=True)
                st.session_state[JOB] = started.id
                st.rerun()


def measurement(info: models.ModelInfo) -> None:
    """A model without numbers (imported, dropped in): its measurement's progress, or why it stopped and a button to
    measure it (again)."""
    if info.error is not None or info.read_only or registry.is_training(info.path):
        return
    measuring.progress_panel(info.path, "train")
    status = measuring.status_text(info)
    if status and status.startswith(measuring.FAILED):
        st.warning(f"Its test metrics were not measured: {md_escape(status.split(': ', 1)[-1])}", icon="📏")
    if (status and status.startswith(measuring.FAILED)) or ("elbo" not in info.metrics and not status):
        st.button("Measure its test metrics", icon="📏", key="measure_listed",
                  on_click=lambda: measuring.shared_measurements().start(info.path, measuring.session_id(), again=True),
                  help="The test split's ELBO split and IWAE bound, in the background (a child process, bounded in "
                       "time and memory)")


def model_actions(info: models.ModelInfo, target: str) -> None:
    c1, c2, c3 = st.columns(3)
    with c1:
        if info.error is None:
            use_button(target, info.dataset, key="use_listed")
    with c2:
        if info.error is None:
            st.download_button("Download .zip", data=lambda: models.zip_model(target),
                               file_name=f"{info.name}.zip", mime="application/zip", on_click="ignore", icon="⬇️",
                               key="download_listed", help="config.json, model.safetensors, metrics.json and "
                                                           "train.json")
    with c3:
        if info.read_only:
            st.button("Delete…", icon="🗑️", key="delete_listed", disabled=True)
            st.caption("🔒 Shipped with the app: it cannot be deleted.")
        elif registry.is_training(info.path):
            st.button("Delete…", icon="🗑️", key="delete_listed", disabled=True)
            st.caption("Being trained right now: cancel the run first.")
        elif st.button("Delete…", icon="🗑️", key="delete_listed"):
            st.session_state[CONFIRM] = target
    if (info.error is None and models.training_refusal(info.path) is None and not info.read_only
            and not registry.is_training(info.path)):
        resume_controls(info)
    measurement(info)
    if st.session_state.get(CONFIRM) == target:
        st.warning(f"Delete **{md_escape(info.name)}** and everything in {md_code(info.path)}? This cannot be undone.",
                   icon="🗑️")
        c1, c2, _ = st.columns([1, 1, 3])
        c1.button(f"Yes, delete {md_escape(info.name)}", type="primary", key="delete_confirm", on_click=delete_model,
                  args=(target,))
        c2.button("Keep it", key="delete_keep", on_click=lambda: st.session_state.pop(CONFIRM, None))


def saved_models() -> None:
    st.divider()
    st.markdown("#### Saved models")
    flash = st.session_state.pop(FLASH, None)
    if flash:
        (st.success if flash[0] == "success" else st.error)(md_escape(flash[1]),
                                                            icon="🗑️" if flash[0] == "success" else "⚠️")
    onnx_import.render_upload()
    listed = models.list_models()
    if not listed:
        st.info("No saved models yet: train one above.", icon="🏋️")
        return
    models_table(listed)
    paths = [str(m.path) for m in listed]
    by_path = {str(m.path): m for m in listed}
    newest = st.session_state.pop(NEWEST, None)
    if newest is not None:
        st.session_state["train_target"] = next((p for p in paths if Path(p).resolve() == Path(newest).resolve()),
                                                st.session_state.get("train_target", paths[0]))
    target = st.selectbox("Model", paths, key="train_target",
                          format_func=lambda p: f"{by_path[p].name} · "
                                                f"{'broken' if by_path[p].error else by_path[p].dataset or '?'}")
    onnx_import.render_train_note(by_path[target], [s.name for s in sidebar.sources() if s.available])
    model_actions(by_path[target], target)


# --- the page, top to bottom -----------------------------------------------------------------------------
settings = settings_form()
blocked = None if busy else registry.busy_message()
if blocked:
    st.warning(md_escape(blocked), icon="⏳")
elif registry.running() and not busy:
    st.caption(f"⏳ {len(registry.running())} training(s) already running on this server: they share the CPU.")
if st.button("Start training", type="primary", icon="🏋️", key="train_start", disabled=busy or bool(blocked),
             help="A training is running: wait for it or cancel it" if busy else None):
    start_training(settings)

if job is not None:
    st.divider()
    st.fragment(run_every=None if job.done else 1.0)(run_panel)(job.id)
other_runs()
saved_models()
