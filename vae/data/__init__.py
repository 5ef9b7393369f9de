"""Datasets for the VAE: built-in ones by name, and the user's own files, as `Dataset` records.

Every problem with the data raises `DataError` with one sentence a user can act on.
"""

from .builtin import (
    DATASET_NAMES,
    FASHION_CLASSES,
    load_dataset,
    local_idx_folder,
    missing_files_help,
)
from .core import DataError, Dataset, to_original_units
from .userdata import (
    MAX_CELLS,
    MAX_FEATURES,
    MAX_ROWS,
    MAX_UPLOAD_BYTES,
    USER_DATA_SUFFIXES,
    load_user_data,
)

__all__ = [
    "DATASET_NAMES",
    "FASHION_CLASSES",
    "MAX_CELLS",
    "MAX_FEATURES",
    "MAX_ROWS",
    "MAX_UPLOAD_BYTES",
    "USER_DATA_SUFFIXES",
    "DataError",
    "Dataset",
    "load_dataset",
    "load_user_data",
    "local_idx_folder",
    "missing_files_help",
    "to_original_units",
]
