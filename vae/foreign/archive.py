"""One upload instead of three: a zip of encoder.onnx, decoder.onnx and card.json (what
`python -m vae export` writes into its folder), read without trusting its directory."""

from __future__ import annotations

import io
import zipfile

from .card import MAX_CARD_BYTES
from .graph import MAX_GRAPH_BYTES, GraphError

MEMBERS = {"encoder.onnx": MAX_GRAPH_BYTES, "decoder.onnx": MAX_GRAPH_BYTES,
           "card.json": MAX_CARD_BYTES}  # fmt: skip


def read_archive(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(encoder, decoder, card) bytes from a zip; GraphError saying what is missing or wrong.

    Members are found by their base name (a zip of a folder nests them), and each is read
    only up to its limit: the sizes a zip declares are not trusted (a zip bomb lies). The app
    reads the graphs in the upload sandbox; only the card (64 KB at most) in the server.
    """
    return _read(data, tuple(MEMBERS))


def read_card(data: bytes) -> bytes:
    """card.json alone from a zip: what the server needs to find the card's dataset."""
    return _read(data, ("card.json",))[0]


def _read(data: bytes, names: tuple[str, ...]) -> tuple[bytes, ...]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise GraphError("the archive is not a zip file; upload a .zip of encoder.onnx, "
                         "decoder.onnx and card.json, or the three files") from None  # fmt: skip
    found: dict[str, zipfile.ZipInfo] = {}
    with archive:
        for info in archive.infolist():
            base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
            if base in MEMBERS and not info.is_dir():
                if base in found:
                    raise GraphError(f"the archive holds more than one {base}")
                found[base] = info
        missing = [name for name in names if name not in found]
        if missing:
            raise GraphError(f"the archive has no {', '.join(missing)}; it must hold "
                             "encoder.onnx, decoder.onnx and card.json")  # fmt: skip
        out = []
        for name in names:
            limit = MEMBERS[name]
            try:
                with archive.open(found[name]) as member:
                    content = member.read(limit + 1)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as error:
                raise GraphError(f"{name} in the archive cannot be read ({error})") from None
            if len(content) > limit:
                raise GraphError(f"{name} in the archive is larger than {limit:,} bytes")
            out.append(content)
    return tuple(out)


__all__ = ["read_archive", "read_card"]
