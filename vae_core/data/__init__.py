"""Datasets: every source ends as a `Dataset` of uint8 image arrays with int64 labels.

    dataset.py   Dataset, SourceStatus, to_tensor (uint8 -> the model's float input), the fixed split
    sources.py   load_dataset: a name -> the right source; list_sources; default_dataset_name
    idx.py       Fashion-MNIST and MNIST from IDX files (gzipped or memory-mapped)
    digits.py    scikit-learn's bundled digits, upsampled to 28x28 (always there)
    folder.py    the user's own pictures: a folder (subfolders are classes) or a zip
    download.py  the official IDX files: mirrors, MD5 checks, atomic fetch with progress
    roots.py     which folders the web app may read pictures from
    uploads.py   uploaded files (pictures and zips) -> model inputs, one result per picture
"""
from .dataset import CLASS_NAMES, Dataset, SourceStatus, to_tensor
from .sources import DATASET_NAMES, check_dataset_name, default_dataset_name, list_sources, load_dataset

__all__ = ["CLASS_NAMES", "DATASET_NAMES", "Dataset", "SourceStatus", "check_dataset_name", "default_dataset_name",
           "list_sources", "load_dataset", "to_tensor"]
