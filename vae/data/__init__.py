"""Datasets for the VAE: built-in ones by name, and the user's own files, as `Dataset` records.

Every problem with the data raises `DataError` with one sentence a user can act on.
"""

from .builtin import DATASET_NAMES, FASHION_CLASSES, load_dataset
from .core import DataError, Dataset, to_original_units

__all__ = [
    "DATASET_NAMES",
    "FASHION_CLASSES",
    "DataError",
    "Dataset",
    "load_dataset",
    "to_original_units",
]
