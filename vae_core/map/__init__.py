"""The map: where every image lies, and how to read a latent back off any spot.

    encodings.py   one encoded split per (weights, split): mu, logvar, ELBO terms per image
    projection.py  UMAP / PCA of the encoder means (or a 2-D latent itself), sampled past 50k points
    placement.py   Placer: new latents onto a map, a latent off any map point (kNN, batch-independent)
    inverse.py     the learned inverse of a map (xy -> z), its measured fidelity, the lens graph
    density.py     the density grid, its contours, and a label per dense region
    points.py      the map's points as one binary buffer for the browser
    cache.py       the one file cache all of them use, beside the model that made the data
    align.py       aligned maps of frames over the same images (align_kernel.py: its numba kernel)
    compare.py     Compare's numbers: neighbourhood agreement of two models, per class KL and reconstruction
    compare_maps.py  Compare's two maps, aligned onto A's
    movie.py       the training movie's aligned maps and KL heatmap; movie_gif.py its GIF; raster.py maps in numpy
"""
