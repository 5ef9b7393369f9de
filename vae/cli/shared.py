"""What more than one command needs: the error type, loading data, the test protocol, metric text."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


class CommandError(Exception):
    """A problem with what the user asked for, reported as one `error:` line."""


def printable(text: object) -> str:
    """`text` safe to print on a terminal: control characters (ESC sequences that recolour,
    move the cursor or retitle the window, carriage returns that hide text) shown escaped."""
    return "".join(c if c.isprintable() or c == " " else ascii(c)[1:-1] for c in str(text))


def load_data(dataset: str | None, data: Path | None, data_dir: Path | None, quiet: bool):
    """A built-in dataset (download progress on one stderr line) or the user's --data file."""
    from ..data import load_dataset, load_user_data  # late: keeps `--help` fast

    if data is not None:
        return load_user_data(data)

    from tqdm import tqdm

    bars: list[tqdm] = []  # made at the first report: most loads download nothing

    def download_progress(done: int, total: int) -> None:
        if quiet:
            return
        if not bars:
            bars.append(tqdm(total=total or None, file=sys.stderr, desc=f"downloading {dataset}",
                             unit="B", unit_scale=True, unit_divisor=1024))  # fmt: skip
        bars[0].update(done - bars[0].n)

    try:
        return load_dataset(dataset, data_dir=data_dir, progress=download_progress)
    finally:
        for bar in bars:
            bar.close()


def format_metrics(metrics: dict[str, Any]) -> str:
    """{"elbo": -90.1234, ...} -> "elbo -90.123, ..." (floats to 3 decimals)."""
    return ", ".join(
        f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
    )
