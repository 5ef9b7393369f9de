"""Rule 2's schema, measured: vae/strict_files.py + vae/metadata_check.py against pydantic v2 and
msgspec on a checkpoint's metadata document (issue #20: "a schema (a well-kept library such as
pydantic or msgspec, or your own, measured)").

Each library gets the same schema as metadata_check's: the text fields text of at most 1,000
characters, `history` at most 10,000 mappings of numbers, `test_metrics` at most 256 numbers,
other keys any JSON. Cases: the real metadata of pretrained/fashion-mnist.safetensors and the
issue's hostile ones. For each: the parse-and-validate time (best of 3), the peak memory the
parse allocates (tracemalloc: Python objects, which is what all three build) and whether it
refuses, with its first line. Run: `.venv/bin/python bench/schema_libraries.py` (needs
`pip install pydantic msgspec`; neither is a dependency of the app).
"""

from __future__ import annotations

import contextlib
import json
import struct
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pydantic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae.checkpoint import FORMAT_KEY  # noqa: E402
from vae.metadata_check import MetadataError, parse_json, validate_metadata  # noqa: E402

Text = Annotated[str, pydantic.StringConstraints(max_length=1000)]
Number = Annotated[float, pydantic.Field(allow_inf_nan=False)]


class PydanticMetadata(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    name: Text | None = None
    dataset: Text | None = None
    dataset_file: Text | None = None
    created: Text | None = None
    history: Annotated[list[dict[str, Number | None]], pydantic.Field(max_length=10_000)] = []
    test_metrics: Annotated[dict[str, Number | None], pydantic.Field(max_length=256)] = {}
    train_config: dict[str, Any] = {}


class PydanticDocument(pydantic.BaseModel):
    format: str
    format_version: int
    model_config_: dict[str, Any] = pydantic.Field(alias="model_config")
    metadata: PydanticMetadata


MText = Annotated[str, msgspec.Meta(max_length=1000)]


class MsgspecMetadata(msgspec.Struct):
    name: MText | None = None
    dataset: MText | None = None
    dataset_file: MText | None = None
    created: MText | None = None
    history: Annotated[list[dict[str, float | None]], msgspec.Meta(max_length=10_000)] = []
    test_metrics: Annotated[dict[str, float | None], msgspec.Meta(max_length=256)] = {}
    train_config: dict[str, Any] = {}


class MsgspecDocument(msgspec.Struct):
    format: str
    format_version: int
    model_config: dict[str, Any]
    metadata: MsgspecMetadata


def ours(text: bytes) -> None:
    validate_metadata(parse_json(text, "the metadata")["metadata"])


def with_pydantic(text: bytes) -> None:
    PydanticDocument.model_validate_json(text)


_DECODER = msgspec.json.Decoder(MsgspecDocument)


def with_msgspec(text: bytes) -> None:
    _DECODER.decode(text)


READERS = {"ours (strict_files)": ours, "pydantic 2": with_pydantic, "msgspec": with_msgspec}


def real_document() -> bytes:
    data = (ROOT / "pretrained/fashion-mnist.safetensors").read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length])["__metadata__"][FORMAT_KEY].encode()


def edited(change) -> bytes:
    document = json.loads(real_document())
    change(document)
    return json.dumps(document, separators=(",", ":")).encode()


def cases() -> dict[str, bytes]:
    def zeros(doc):  # the 7 M values in a key the schema does not name
        doc["metadata"]["extra"] = [[[0] * 110] * 256] * 256

    def long_history(doc):  # 10,000 epochs x 110 metrics: 1.1 M values in a named key
        doc["metadata"]["history"] = [{f"m{i}": 0.5 for i in range(110)}] * 10_000

    def surrogate(doc):
        doc["metadata"]["created"] = "x\ud800y"

    deep = b'{"format":"vae-explorer","metadata":{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    return {
        "real (fashion-mnist)": real_document(),
        "7 M zeros (extra key)": edited(zeros),
        "1.1 M-value history": edited(long_history),
        "lone surrogate in created": edited(surrogate),
        "nested 100k deep": deep,
    }


def measure(reader, text: bytes) -> tuple[float, float, str]:
    """(best seconds of 3, peak MB allocated, outcome)."""
    outcome, best = "accepted", float("inf")
    for _ in range(3):
        start = time.perf_counter()
        try:
            reader(text)
        except (MetadataError, pydantic.ValidationError, msgspec.ValidationError,
                msgspec.DecodeError, RecursionError, ValueError) as error:  # fmt: skip
            outcome = f"refused: {str(error).splitlines()[0][:70]}"
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    with contextlib.suppress(Exception):  # the outcome was taken above; here only the memory
        reader(text)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return best, peak, outcome


def main() -> None:
    print(
        f"pydantic {pydantic.VERSION}, msgspec {msgspec.__version__}, Python {sys.version.split()[0]}"
    )
    print("| case | size | reader | time | peak | outcome |\n|---|---|---|---|---|---|")
    for case, text in cases().items():
        for name, reader in READERS.items():
            seconds, peak, outcome = measure(reader, text)
            print(f"| {case} | {len(text) / 2**20:.2f} MB | {name} | {seconds * 1000:,.1f} ms "
                  f"| {peak:,.1f} MB | {outcome} |")  # fmt: skip


if __name__ == "__main__":
    main()
