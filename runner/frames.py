"""Messages between the app and its child processes, and to the browser's components: a JSON
header plus raw arrays, never pickled.

A frame is a 4-byte big-endian length, that many bytes of a JSON object of plain data, then the
raw buffers of the arrays the header names (dtype float32/float64/int64/bool/uint8, and shape). Neither
side unpickles anything, so a bug or a hostile input in a child can never make the server run
code. Arrays are streamed from their own buffers and read straight into the arrays that are
returned: the largest message (a training set, 188 MB for Fashion-MNIST) is never copied whole.
(safetensors.numpy would also never pickle, but builds the whole buffer as one bytes object on
the way out and decodes from a second copy on the way in: twice the memory per job.)
The browser's components (ui/components) receive the same frames as bytes (frame_bytes) and read
them with ui/components/web/lib/frame.js; their arrays are little-endian, as every machine the
app runs on is.
"""

from __future__ import annotations

import io
import json
import struct
from typing import BinaryIO

import numpy as np

MAX_HEADER_BYTES = 16 * 2**20  # histories and configs are a few KB; this is a sanity cap
MAX_ARRAY_BYTES = 8 * 2**30  # one array: the largest dataset the app accepts is ~800 MB
_DTYPES = ("float32", "float64", "int64", "bool", "uint8")

Arrays = dict[str, np.ndarray]


class ProtocolError(ValueError):
    """A frame that does not follow the protocol (truncated, oversized, unknown dtype)."""


def write_frame(stream: BinaryIO, header: dict, arrays: Arrays | None = None) -> None:
    """One message: JSON header (must not contain "arrays") plus the arrays' raw bytes."""
    specs, buffers = [], []
    for name, array in (arrays or {}).items():
        array = np.asarray(array)
        array = array if array.flags.c_contiguous else array.copy(order="C")  # keeps 0-d as 0-d
        if array.dtype.name not in _DTYPES:
            raise ProtocolError(f"cannot send {name!r}: dtype {array.dtype.name}")
        specs.append({"name": name, "dtype": array.dtype.name, "shape": list(array.shape)})
        buffers.append(array.reshape(-1).view(np.uint8))
    body = json.dumps({**header, "arrays": specs}).encode("utf-8")
    if len(body) > MAX_HEADER_BYTES:
        raise ProtocolError(f"header of {len(body)} bytes is too large")
    stream.write(struct.pack(">I", len(body)) + body)
    for buffer in buffers:
        _write_all(stream, memoryview(buffer))
    stream.flush()


def frame_bytes(header: dict, arrays: Arrays | None = None) -> bytes:
    """One message as bytes: what write_frame writes to a stream."""
    stream = io.BytesIO()
    write_frame(stream, header, arrays)
    return stream.getvalue()


def read_frame(stream: BinaryIO) -> tuple[dict, Arrays] | None:
    """The next message, or None at a clean end of file (the other side closed the pipe)."""
    prefix = _read_exactly(stream, 4, allow_eof=True)
    if prefix is None:
        return None
    (length,) = struct.unpack(">I", prefix)
    if length > MAX_HEADER_BYTES:
        raise ProtocolError(f"header of {length} bytes is too large")
    try:
        header = json.loads(_read_exactly(stream, length).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProtocolError(f"header is not JSON: {error}") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays"), list):
        raise ProtocolError("header is not a message")
    arrays: Arrays = {}
    for spec in header.pop("arrays"):
        name, dtype, shape = _check_spec(spec)
        size = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if size > MAX_ARRAY_BYTES:
            raise ProtocolError(f"array {name!r} of {size} bytes is too large")
        data = _read_exactly(stream, size)
        arrays[name] = np.frombuffer(data, dtype=dtype).reshape(shape)  # writable: a bytearray
    return header, arrays


def _check_spec(spec: object) -> tuple[str, str, tuple[int, ...]]:
    if not isinstance(spec, dict):
        raise ProtocolError("array spec is not an object")
    name, dtype, shape = spec.get("name"), spec.get("dtype"), spec.get("shape")
    if not isinstance(name, str) or dtype not in _DTYPES or not isinstance(shape, list):
        raise ProtocolError(f"bad array spec {spec!r:.200}")
    if len(shape) > 8 or not all(type(n) is int and 0 <= n < 2**40 for n in shape):
        raise ProtocolError(f"bad shape for {name!r}: {shape!r:.200}")
    return name, dtype, tuple(shape)


def _read_exactly(stream: BinaryIO, n: int, allow_eof: bool = False) -> bytearray | None:
    data = bytearray(n)
    view, got = memoryview(data), 0
    while got < n:
        chunk = stream.readinto(view[got:])
        if not chunk:
            if got == 0 and allow_eof:
                return None
            raise ProtocolError(f"the pipe closed mid-message ({got} of {n} bytes)")
        got += chunk
    return data


def _write_all(stream: BinaryIO, view: memoryview) -> None:
    while len(view):  # a raw (unbuffered) pipe may take fewer bytes than offered
        written = stream.write(view)
        view = view[written if written is not None else len(view) :]
