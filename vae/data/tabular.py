"""Read a CSV of numeric columns, with an optional label column, into arrays (via pandas).

The header row is optional; the delimiter may be ',', ';' or a tab. A column named label,
labels, target, class or y (in that order of preference) holds the labels; every other column
must be numbers with no gaps, or the error names the column, the value and the row.

The file is bounded before pandas sees it, in time linear in its size: the longest line, the
number of lines, the header's columns (counted on one bounded line) and duplicate header names
are checked first. Pandas' C parser is linear, but it renames duplicate names in quadratic time
and allocates per column; csv.Sniffer's regular expressions backtrack on quotes (64 KB of `,"`
took 11-21 s), so the delimiter is chosen by counting instead.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from .core import DataError

LABEL_COLUMNS = ("label", "labels", "target", "class", "y")  # in order of preference
DELIMITERS = (",", ";", "\t")
# 4,096 features of up to ~250 characters each: a longer line is not a table row.
MAX_LINE_BYTES = 1 * 2**20
MAX_NAME_CHARS = 200  # one header name
SPARE_COLUMNS = 2  # beyond the features: a label column and pandas' nameless index column


def read_csv(
    data: bytes, filename: str, max_rows: int, max_features: int = 4096, max_cells: int = 50_000_000
) -> tuple[np.ndarray, np.ndarray | None]:
    """(rows, features) float64 and the label column's values (or None), every cell checked."""
    import pandas as pd

    if b"\n" not in data and b"\r" in data:
        data = data.replace(b"\r", b"\n")  # classic Mac line ends (Excel's "CSV (Macintosh)")
    first_line = _check_lines(data, filename, max_rows)
    sep = _delimiter(first_line)
    header = _first_row(first_line, sep, filename)
    max_columns = max_features + SPARE_COLUMNS
    if len(header) > max_columns:
        raise DataError(
            f"{filename} has {len(header):,} columns; at most {max_features:,} features "
            f"(and a label column) are allowed"
        )
    has_header = not all(_is_number(c) for c in header)
    if has_header:
        _check_names(header, filename)
    rows = data.count(b"\n") + (not data.endswith(b"\n")) - has_header
    if rows * max(1, len(header) - 1) > max_cells:
        raise DataError(
            f"{filename} has about {rows * len(header):,} values; at most {max_cells:,} are allowed"
        )
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            sep=sep,
            header=0 if has_header else None,
            nrows=max_rows + 1,
            engine="c",
            on_bad_lines="error",  # a row longer than the header: refused, not new columns
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{filename} holds no rows") from None
    except UnicodeDecodeError:
        raise DataError(f"{filename} is not a text file (a CSV must be UTF-8 text)") from None
    except pd.errors.ParserError as error:
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise DataError(f"{filename} is not a well-formed CSV ({reason})") from None
    if not has_header:
        frame.columns = [f"column {i + 1}" for i in range(frame.shape[1])]
    if len(frame) > max_rows:
        raise DataError(f"{filename} has more than {max_rows:,} rows")
    if len(frame) == 0:
        raise DataError(f"{filename} has a header row but no data rows")
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
            bad = np.flatnonzero((numbers.isna() & series.notna()).to_numpy())
            if len(bad):
                row = int(bad[0])
                raise DataError(
                    f"{filename}: column '{column}' is text (e.g. {_short(series.iloc[row])} in "
                    f"data row {row + 1}); only numeric columns can be features - remove it, or "
                    f"name it 'label' if it holds the classes"
                )
        if series.isna().any():
            row = int(np.flatnonzero(series.isna().to_numpy())[0]) + 1
            raise DataError(f"{filename}: column '{column}' has a missing value in data row {row}")
    return frame.to_numpy(dtype=np.float64), labels


def _check_lines(data: bytes, filename: str, max_rows: int) -> bytes:
    """The first line, after checking every line's length and the number of lines (vectorised:
    one pass over the bytes, no per-line Python work)."""
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    if len(ends) > max_rows + 2:  # header, rows, and a blank last line
        raise DataError(f"{filename} has more than {max_rows:,} rows")
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(data)]))
    longest = int((stops - starts).max())
    if longest > MAX_LINE_BYTES:
        raise DataError(
            f"{filename} has a line of {longest / 2**20:,.1f} MB; a row may be at most "
            f"{MAX_LINE_BYTES // 2**20} MB"
        )
    return data[: int(stops[0])]


def _delimiter(line: bytes) -> str:
    """The candidate that splits the first line most often; a comma when none does."""
    counts = [line.count(d.encode()) for d in DELIMITERS]
    best = max(range(len(DELIMITERS)), key=lambda i: (counts[i], -i))
    return DELIMITERS[best] if counts[best] else ","


def _first_row(line: bytes, sep: str, filename: str) -> list[str]:
    """The first row's cells, from its first line alone. A quoted cell that runs on to the next
    line is refused: pandas would read the row across lines, past the column count checked
    here (a header of 100k names spread over quoted line breaks took the CLI 238 s)."""
    text = line.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r")
    try:
        return next(csv.reader([text], delimiter=sep, strict=True), [])
    except csv.Error:
        raise DataError(
            f"{filename}: the first row has a quoted cell that runs over more than one line, "
            "or a stray quote or line break; a CSV's header row must be on one line"
        ) from None


def _check_names(header: list[str], filename: str) -> None:
    seen: set[str] = set()
    for name in header:
        if len(name) > MAX_NAME_CHARS:
            raise DataError(
                f"{filename} has a column name of {len(name):,} characters; at most "
                f"{MAX_NAME_CHARS} are allowed"
            )
        key = name.strip()
        if key and key in seen:
            raise DataError(f"{filename}: the column name {_short(key)} appears more than once")
        seen.add(key)


def _short(value: object, limit: int = 40) -> str:
    text = str(value)
    return repr(text if len(text) <= limit else f"{text[:limit]}…")


def _is_number(text: object) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True
