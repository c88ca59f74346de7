"""The server path, as Generate worked before the in-page pad: a fragment of st.sliders (one per latent dimension of
the shipped model), each step a round trip that decodes on the server and sends a new PNG. Benchmarks only
(bench/live.py, bench/latency.py): `streamlit run bench/server_slider_app.py`."""
import sys
from pathlib import Path

import numpy as np
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from ui.widgets import upscale_for
from vae_core import data, models
from vae_core.models.torch_vae import checkpoint
from vae_core import images as imgs
from vae_core.paths import PRETRAINED_DIR

st.set_page_config(layout="wide")
torch.set_num_threads(1)  # as app.py


@st.cache_resource
def model():
    shipped = [m for m in models.list_models([PRETRAINED_DIR]) if m.error is None]
    preferred = [m for m in shipped if m.dataset == data.default_dataset_name()] or shipped
    return checkpoint.load_checkpoint(preferred[0].path).model.eval()


@st.fragment
def explorer():
    vae = model()
    z = np.array([st.slider(f"z{d}", -3.0, 3.0, 0.0, step=0.03, key=f"z{d}")
                  for d in range(vae.config.latent_dim)], dtype=np.float32)
    image = vae.decode_images(z)[0]
    st.image(imgs.to_png(image, upscale_for(image.shape, 320)), caption="decoded from the sliders' z",
             output_format="PNG")


explorer()
