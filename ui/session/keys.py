"""Every session-state key the pages share, and the label tables of the values they hold: one block per owning page.
No Streamlit import, no logic: the `Item`s that say how each travels (address bar, view bundles) are in items.py.
"""
from __future__ import annotations

# --- shared by every page (the sidebar and the Map set them) --------------------------------------------------
DATASET = "dataset_name"          # str: the dataset picked in the sidebar
MODEL = "model_path"              # str: folder of the selected model
SPLIT = "map_split"               # "test" | "all"
SPEC = "map_spec"                 # ProjectionSpec of the Map
SPLIT_LABELS = {"test": "Test split", "all": "All images (train + test)"}
METHOD_LABELS = {"umap": "UMAP", "pca": "PCA", "latent": "None (the latent itself)"}  # latent: 2-D models only

# --- Map -------------------------------------------------------------------------------------------------------
PICK = "map_pick"                 # int row id of the last clicked point (Map -> detail, Generate, Interpolate)
MAP_ZOOM = "map_zoom"             # [x0, x1, y0, y1] a link opened the Map at; the page keeps the zoom in the link
MAP_FOCUS = "map_focus"           # the detail panel: {"kind": "point"|"space"|"selection", ...}
MAP_COLOUR = "map_colour"         # "label" | "recon" | "kl"
COLOUR_MODES = {"label": "Label", "recon": "Reconstruction error", "kl": "KL (nats)"}  # what colours the Map
SELECTIONS = "lasso_selections"   # dict name -> list[int]: Map lasso/box selections kept for the session
MAP_PATHS = "map_paths"           # dict name -> (N, D) latents: paths Interpolate asks the Map to draw as overlays
MAP_METHOD_WIDGET, MAP_SPLIT_WIDGET = "map_method", "map_split_label"  # the colour is chosen inside the map
BUNDLE_PICK = "map pick"          # the Map's picked row travels in a bundle as a dataset endpoint of this name
MOVIE_OPEN = "map_movie_open"     # bool: the Map's training-movie expander is open (only then is it computed)
MOVIE = "map_movie"               # the movie component's state: {"spot": [x, y]} pinned on its map (the GIF's spot)

# --- Generate --------------------------------------------------------------------------------------------------
GENERATE_START = "generate_start" # {"z": [...], "label": str, "row"?: int}: a latent handed to Generate, used once
GENERATE_Z = "generate_z"         # list[float]: the z Generate shows (its sliders / live decoder)

# --- Encode ----------------------------------------------------------------------------------------------------
UPLOADS = "encoded_uploads"       # list of {"name", "mu", "input"(uint8)}: kept by Encode for other pages

# --- Interpolate -----------------------------------------------------------------------------------------------
VECTORS = "saved_vectors"         # dict name -> list[float]: named latent vectors
ENDPOINTS = "view_endpoints"      # dict name -> bundle endpoint, written by Interpolate, saved in views
RESTORE_ENDPOINTS = "view_endpoints_to_restore"  # dict name -> endpoint from a loaded view, consumed by Interpolate
ENDPOINT_SOURCES = ["Dataset point", "Upload", "Class mean", "Random (prior)"]
FROM_VIEW = "Latent from a view file"  # offered only for an endpoint restored as a raw latent
INTERP_PATH = "interp_dl_path"    # "Linear" | "Slerp": the path shown for download
PATH_KINDS = {"linear": "Linear", "slerp": "Slerp"}

# --- Compare ---------------------------------------------------------------------------------------------------
COMPARE_A = "compare_a"           # str: folder of model A (unset: the sidebar's model)
COMPARE_B = "compare_b"           # str: folder of model B
COMPARE_PICK = "compare_pick"     # int row id of the image picked on either map (the detail panel)
COMPARE_FOCUS = "compare_focus"   # the detail panel: {"kind": "point"|"space"|"selection", ...}
COMPARE_COLOUR = "compare_colour" # a key of COMPARE_COLOURS: both maps' colour
COMPARE_COLOURS = {"agreement": "Neighbourhood agreement (A vs B)", "label": "Label",
                   "recon": "Reconstruction error (this side's model)", "kl": "KL (this side's model, nats)"}
COMPARE_A_WIDGET, COMPARE_B_WIDGET = "compare_a_choice", "compare_b_choice"  # the pickers, drawn from the above
COMPARE_METHOD_WIDGET, COMPARE_SPLIT_WIDGET = "compare_method", "compare_split_label"  # projection, split (shared)


def endpoint_key(name: str) -> str:
    """Widget-key prefix of an Interpolate endpoint: "A" -> "ep_a" (then _kind, _row, _class, _seed, _latent)."""
    return "ep_" + name.lower().replace(" ", "_")
