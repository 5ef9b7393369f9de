"""runner.sandbox: the app parses uploads in a child process under time and memory limits.

The child's result must be the in-process parser's, array for array (sent back without pickle);
a parse past either limit ends in one sentence and leaves the caller running.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from runner.sandbox import ParseLimitError, parse_upload
from tests.hostile import assert_clear_message
from vae.data import DataError, load_user_data


def _csv() -> bytes:
    rows = "\n".join(f"{i},{i * 0.5},{'ab'[i % 2]}" for i in range(60))
    return f"x,y,class\n{rows}\n".encode()


def _npz() -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(buffer, x=rng.integers(0, 256, (40, 6, 5)).astype(np.uint8), y=np.arange(40) % 3)
    return buffer.getvalue()


@pytest.mark.parametrize(("data", "filename"), [(_csv(), "s.csv"), (_npz(), "i.npz")])
def test_the_child_returns_what_the_parser_returns(data: bytes, filename: str) -> None:
    inside, isolated = load_user_data(data, filename), parse_upload(data, filename)
    for field in ("x_train", "x_test", "y_train", "y_test"):
        np.testing.assert_array_equal(getattr(isolated, field), getattr(inside, field))
        assert getattr(isolated, field).dtype == getattr(inside, field).dtype
    for field in ("name", "image_shape", "likelihood", "label_kind", "class_names",
                  "preprocessing", "description"):  # fmt: skip
        assert getattr(isolated, field) == getattr(inside, field), field


def test_a_data_error_comes_back_as_the_same_sentence() -> None:
    data = b"a,b\n1,2\n"
    with pytest.raises(DataError) as inside:
        load_user_data(data, "short.csv")
    with pytest.raises(DataError) as isolated:
        parse_upload(data, "short.csv")
    assert str(isolated.value) == str(inside.value)


def test_a_parse_past_the_time_limit_is_stopped() -> None:
    """A limit shorter than the child's own start-up: the parse is killed, the caller goes on."""
    with pytest.raises(ParseLimitError) as caught:
        parse_upload(_csv(), "slow.csv", time_limit=0.05)
    assert_clear_message(str(caught.value), "slow.csv took more than 0 s to read and was stopped")


def test_a_parse_past_the_memory_limit_is_refused() -> None:
    """47 M float32 values (188 MB) are within the data limits but not within a 500 MB address
    space holding Python, numpy and the parser's copies: refused, not a crashed server."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 47), }"
    header = header.ljust(118) + "\n"
    npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    npy += bytes(1_000_000 * 47 * 4)
    with pytest.raises(ParseLimitError) as caught:
        parse_upload(npy, "big.npy", memory_limit_mb=500)
    assert_clear_message(str(caught.value), "big.npy .*500 MB of memory")
