"""Read a CSV of numeric columns, with an optional label column, into arrays (via pandas).

The header row is optional; the delimiter may be ',', ';' or a tab. A column named label,
labels, target, class or y (in that order of preference) holds the labels; every other column
must be numbers with no gaps, or the error names the column, the value and the row.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from .core import DataError

LABEL_COLUMNS = ("label", "labels", "target", "class", "y")  # in order of preference


def read_csv(data: bytes, filename: str, max_rows: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(rows, features) float64 and the label column's values (or None), every cell checked."""
    import pandas as pd

    sep = _delimiter(data)
    frame = pd.read_csv(io.BytesIO(data), sep=sep, nrows=max_rows + 1)
    if all(_is_number(c) for c in frame.columns):
        # No header row: the first row was data.
        frame = pd.read_csv(io.BytesIO(data), sep=sep, header=None, nrows=max_rows + 1)
        frame.columns = [f"column {i + 1}" for i in range(frame.shape[1])]
    if len(frame) > max_rows:
        raise DataError(f"{filename} has more than {max_rows:,} rows")
    if len(frame.columns) and str(frame.columns[0]).startswith("Unnamed: 0"):
        # pandas' to_csv writes the index as a nameless first column: it is not a feature.
        frame = frame.iloc[:, 1:]
    # By preference, not by position: in "x,y,class" the classes are "class" and y is a feature.
    by_name = {str(c).strip().lower(): c for c in reversed(frame.columns)}
    label_column = next((by_name[n] for n in LABEL_COLUMNS if n in by_name), None)
    labels = None
    if label_column is not None:
        labels_series = frame.pop(label_column)
        if labels_series.isna().any():
            row = int(np.flatnonzero(labels_series.isna().to_numpy())[0]) + 1
            raise DataError(
                f"{filename}: column '{label_column}' has a missing value in data row {row}"
            )
        labels = labels_series.to_numpy()
    if frame.shape[1] == 0:
        raise DataError(f"{filename} has no feature columns, only '{label_column}'")
    for column in frame.columns:
        series = frame[column]
        if series.dtype.kind not in "biuf":
            numbers = pd.to_numeric(series, errors="coerce")
            row = int(np.flatnonzero((numbers.isna() & series.notna()).to_numpy())[0])
            raise DataError(
                f"{filename}: column '{column}' is text (e.g. {str(series.iloc[row])!r} in data "
                f"row {row + 1}); only numeric columns can be features - remove it, or name it "
                f"'label' if it holds the classes"
            )
        if series.isna().any():
            row = int(np.flatnonzero(series.isna().to_numpy())[0]) + 1
            raise DataError(f"{filename}: column '{column}' has a missing value in data row {row}")
    return frame.to_numpy(dtype=np.float64), labels


def _delimiter(data: bytes) -> str:
    """Comma unless the start of the file is clearly separated by ';' or tabs."""
    head = data[:65536].decode("utf-8", errors="ignore")
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _is_number(text: object) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True
