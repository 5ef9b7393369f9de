"""Rule 5 of docs/SECURITY.md: the CLI exits non-zero on a result that is not a number, and
reads CSVs with the app's reader (issue #20: `evaluate --exact` printed nan with exit 0; a
CSV with CR-only line ends escaped as `_csv.Error`; a header over quoted line breaks slipped
past the column caps and took the CLI 238 s)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.hostile import assert_cli_refused, run_cli
from vae import VAE, ModelConfig
from vae.checkpoint import save_checkpoint
from vae.data import DataError, load_user_data


@pytest.fixture
def overflowing(tmp_path: Path) -> Path:
    """A digits model whose finite weights (±3e38) make every output overflow."""
    torch.manual_seed(0)
    model = VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(16,))).eval()
    with torch.no_grad():
        for parameter in model.decoder.parameters():
            parameter.fill_(3e38)
    path = tmp_path / "overflow.safetensors"
    save_checkpoint(path, model, {"name": "overflow", "dataset": "digits"})
    return path


@pytest.mark.parametrize("extra", [["--exact"], ["--exact", "--json"]])
def test_evaluate_fails_on_a_result_that_is_not_a_number(overflowing: Path, extra) -> None:
    code, out, err = run_cli(["evaluate", "--checkpoint", str(overflowing), "--iw", "0",
                              "--quiet", *extra])  # fmt: skip
    assert_cli_refused(code, err, "not a finite number")
    if "--json" in extra:
        report = json.loads(out)  # valid JSON: no NaN token
        assert report["elbo"] is None or np.isfinite(report["elbo"])


def _rows(n: int = 12) -> list[str]:
    return [f"{i % 3},{i * 0.5},{i}" for i in range(n)]


def test_a_csv_with_cr_only_line_ends_is_read() -> None:
    data = ("a,b,label\r" + "\r".join(_rows()) + "\r").encode()
    dataset = load_user_data(data, "mac.csv")
    assert len(dataset.x_train) + len(dataset.x_test) == 12


def test_a_header_over_quoted_line_breaks_is_refused_in_the_app_and_the_cli(tmp_path) -> None:
    header = '"a' + "\n" + ",".join(f"c{i}" for i in range(20_000)) + '",b,label\n'
    data = (header + "\n".join(_rows()) + "\n").encode()
    with pytest.raises(DataError, match="header row must be on one line"):
        load_user_data(data, "spread.csv")
    path = tmp_path / "spread.csv"
    path.write_bytes(data)
    code, _, err = run_cli(["train", "--data", str(path), "--epochs", "1", "--out",
                            str(tmp_path / "m.safetensors"), "--quiet"])  # fmt: skip
    assert_cli_refused(code, err, "header row must be on one line")


@pytest.mark.parametrize("data", [b"a\rb,c\n1,2\n", b'a,"b\rc\n1,2\n'])
def test_stray_line_breaks_in_the_first_row_are_a_sentence(data: bytes) -> None:
    with pytest.raises(DataError):
        load_user_data(data * 1, "stray.csv")
