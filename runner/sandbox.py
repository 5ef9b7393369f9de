"""Parse an uploaded data file or picture, or validate an uploaded checkpoint or ONNX model, in
a child process with a time limit and a memory limit.

The server's sessions share one interpreter: a parser that holds the GIL for seconds (a
pathological CSV, an image decoder's slow path) freezes every student's page, and one that
allocates gigabytes can take the server down. Here the parse runs in a fresh child process
under RLIMIT_AS and RLIMIT_CPU, at a lower priority, and the server waits for it without
holding the GIL; a child that runs past the wall-clock limit is killed. Whatever the parser's
bug, the worst case is one refused upload.

The child sends the Dataset (the picture's input, the re-serialised checkpoint, the checked
graphs) back as one frame of runner/frames.py (JSON plus raw arrays): nothing is unpickled on
either side.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from runner.frames import ProtocolError, read_frame, write_frame
from vae.data import DataError, Dataset
from viz.image_input import Framing

ROOT = Path(__file__).resolve().parent.parent
# Generous for the data limits (50 M values: 400 MB as float64, pandas copies it 2-3 times)
# and far below a laptop's memory; the measured 10^6-column CSV reached 4.7 GB before.
MEMORY_LIMIT_MB = int(os.environ.get("VAE_EXPLORER_PARSE_MEMORY_MB", "3072"))
# A 200 MB CSV parses in seconds; a minute covers a loaded machine.
TIME_LIMIT_SECONDS = float(os.environ.get("VAE_EXPLORER_PARSE_SECONDS", "60"))
# Reading a picture: its decoded steps and the padded canvas (viz.image_input.decode_memory);
# the 40 MP a picture may have need about 1.2 GB.
PICTURE_MEMORY_MB = int(os.environ.get("VAE_EXPLORER_PICTURE_MEMORY_MB", "1536"))
# Checking a checkpoint imports torch in the child: 2-4 s of CPU, but over a minute of wall clock
# at nice 10 on a 2-core machine with a load average of 15 (measured), so more than a data file.
CHECKPOINT_SECONDS = float(os.environ.get("VAE_EXPLORER_CHECKPOINT_SECONDS", "180"))
# Validating a checkpoint: what vae.checkpoint.upload_memory() computes for the file, beyond
# torch's own ~0.6 GB of address space (a 100 MB upload with a 16 MB header needs ~720 MB).
CHECKPOINT_MEMORY_MB = int(os.environ.get("VAE_EXPLORER_CHECKPOINT_MEMORY_MB", "1024"))
CHILD_NICE = 10  # the server's sessions come first, as for training
ARRAY_FIELDS = ("x_train", "x_test", "y_train", "y_test")

# The child imports vae.data (or vae.foreign's torch-free modules) only; a checkpoint needs
# vae.checkpoint, and torch with it. vae/__init__.py imports torch (3-4 s and ~500 MB of address
# space per upload, measured), so the package is registered by its path without running it.
_CHILD = """
import sys, types
root = sys.argv[1]
package = types.ModuleType("vae")
package.__path__ = [root + "/vae"]
sys.modules["vae"] = package
sys.path.insert(0, root)
from runner.sandbox import child_main
child_main()
"""


class ParseLimitError(DataError):
    """The parse ran past the time or memory limit: the file was refused, nothing else."""


def parse_upload(
    data: bytes,
    filename: str,
    time_limit: float = TIME_LIMIT_SECONDS,
    memory_limit_mb: int = MEMORY_LIMIT_MB,
) -> Dataset:
    """vae.data.load_user_data(data, filename), run in a limited child process."""
    request = {"kind": "data", "filename": filename}
    reply, arrays = _run_child(request, {"upload": data}, filename, time_limit, memory_limit_mb)
    if "error" in reply:
        error_type = ParseLimitError if reply.get("limit") else DataError
        raise error_type(reply["error"])
    fields = reply["dataset"]
    for key in ("image_shape", "class_names"):  # JSON has lists; the Dataset holds tuples
        if fields.get(key) is not None:
            fields[key] = tuple(fields[key])
    return Dataset(**{k: (arrays.get(k) if k in ARRAY_FIELDS else v) for k, v in fields.items()})


def parse_picture(
    data: bytes,
    filename: str,
    image_shape: tuple[int, int],
    framing: Framing,
    time_limit: float = TIME_LIMIT_SECONDS,
    memory_limit_mb: int = PICTURE_MEMORY_MB,
) -> np.ndarray:
    """viz.image_input.picture_to_input(data, image_shape, framing) in a limited child process:
    the model's input (H*W,) float32. The child reads the picture's size from its header and
    refuses it when decode_memory() (the decoded steps and frame()'s padded canvas) is over
    `memory_limit_mb`; else its address space is capped at what it uses plus that amount."""
    request = {"kind": "picture", "filename": filename, "image_shape": list(image_shape),
               "framing": [framing.fill, framing.stroke]}  # fmt: skip
    reply, arrays = _run_child(request, {"upload": data}, filename, time_limit, memory_limit_mb)
    if "error" in reply:
        raise (ParseLimitError if reply.get("limit") else DataError)(reply["error"])
    x = arrays.get("x")
    if x is None or x.shape != (image_shape[0] * image_shape[1],):
        raise DataError(f"{filename} could not be read")
    return x.astype(np.float32, copy=False)


def validate_foreign_upload(
    files: dict[str, bytes],
    images: np.ndarray | None,
    time_limit: float = TIME_LIMIT_SECONDS,
    memory_limit_mb: int = MEMORY_LIMIT_MB,
) -> tuple[bytes, bytes, dict]:
    """vae.foreign.probe.validate_foreign, run in a limited child process: an ONNX file is
    parsed by protobuf and run by onnxruntime, C++ that a crafted file could crash or make
    allocate without end, so neither ever sees an upload in the server's process first.

    files: {"encoder", "decoder", "card"} bytes, or {"archive"}: a zip of them (unpacked in
    the child too: a zip bomb costs the child, not the server).
    images: test examples (N, D) in [0, 1] of the card's dataset, or None. Returns the graphs
    as the library stores them and the probes' report; GraphError / CardError (ValueErrors)
    with the sentence to show, ParseLimitError past the limits.
    """
    from vae.foreign.card import CardError
    from vae.foreign.graph import GraphError

    request = {"kind": "onnx"}
    inputs = dict(files)
    arrays_in = {} if images is None else {"images": np.asarray(images, dtype=np.float32)}
    reply, arrays = _run_child(request, inputs, "the model", time_limit, memory_limit_mb,
                               arrays_in)  # fmt: skip
    if "error" in reply:
        kinds = {"card": CardError, "graph": GraphError}
        raise (ParseLimitError if reply.get("limit") else kinds[reply["kind"]])(reply["error"])
    return arrays["encoder"].tobytes(), arrays["decoder"].tobytes(), reply["report"]


def validate_checkpoint_upload(
    data: bytes,
    filename: str,
    name: str,
    time_limit: float = CHECKPOINT_SECONDS,
    memory_limit_mb: int = CHECKPOINT_MEMORY_MB,
) -> bytes | dict[str, bytes]:
    """vae.checkpoint.revalidate_upload in a limited child process: every check a load makes
    (header, config, tensors, finite weights, metadata), and the result this app writes: the
    checkpoint re-serialised (named `name`) for a native model, or an imported model's
    {"encoder", "decoder", "card"} for validate_foreign_upload. The server never parses the
    upload. The child reads the header length first and refuses a file when
    upload_memory() is over `memory_limit_mb`; else its address space is capped at what it
    uses plus that amount. CheckpointError with the sentence to show, ParseLimitError past
    the limits."""
    from vae.checkpoint import CheckpointError

    # The child starts under the general parse limit (torch alone takes ~0.6 GB of address
    # space), then caps itself at what it holds plus what upload_memory() computes.
    request = {"kind": "checkpoint", "name": name, "budget_mb": memory_limit_mb}
    reply, arrays = _run_child(request, {"upload": data}, filename, time_limit, MEMORY_LIMIT_MB)
    if "error" in reply:
        raise (ParseLimitError if reply.get("limit") else CheckpointError)(reply["error"])
    if reply.get("foreign"):
        card = reply["card"].encode()
        return {"encoder": arrays["encoder"].tobytes(), "decoder": arrays["decoder"].tobytes(),
                "card": card}  # fmt: skip
    return arrays["checkpoint"].tobytes()


def _run_child(
    request: dict,
    inputs: dict[str, bytes],
    label: str,
    time_limit: float,
    memory_limit_mb: int,
    arrays: dict[str, np.ndarray] | None = None,
) -> tuple[dict, dict]:
    """Run child_main on `inputs` (files of a private temp folder) under the limits.

    The bytes go through files, each written or read in one call that releases the GIL: a
    pipe fed by subprocess.communicate() would cost the server's interpreter one Python loop
    iteration per 4 KB (measured: a 0.5 s freeze for a 100 MB upload).
    """
    request = {**request, "memory_mb": memory_limit_mb, "seconds": time_limit,
               "inputs": sorted(inputs), "label": label}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="vae-upload-") as folder:
        folder = Path(folder)
        for name, data in inputs.items():
            (folder / name).write_bytes(data)
        with open(folder / "arrays", "wb") as stream:
            write_frame(stream, {}, arrays or {})
        reply_path, log = folder / "reply", folder / "log"
        with open(log, "wb") as stderr:
            child = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(ROOT), json.dumps(request), str(folder)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                cwd=ROOT,
            )
            try:
                child.wait(time_limit)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                raise ParseLimitError(
                    f"{label} took more than {time_limit:.0f} s to read and was stopped"
                ) from None
        try:
            with open(reply_path, "rb") as stream:
                reply, out = read_frame(stream) or (None, {})
        except (OSError, ProtocolError):
            reply, out = None, {}
        if reply is None:
            if -child.returncode in (signal.SIGXCPU, signal.SIGKILL):
                raise ParseLimitError(f"{label} took too long to read and was stopped")
            # A crash (e.g. the memory limit hit inside C code): the log has the details.
            sys.stderr.write(log.read_text(errors="replace")[-2000:])
            raise ParseLimitError(
                f"{label} could not be read within {memory_limit_mb:,} MB of memory"
            )
    return reply, out


def child_main() -> None:
    """In the child: limits first, then the request's work, then one frame into the reply."""
    import resource

    request, folder = json.loads(sys.argv[2]), Path(sys.argv[3])
    limit = request["memory_mb"] * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    seconds = int(request["seconds"]) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    os.nice(CHILD_NICE)
    try:
        if request["kind"] == "checkpoint":  # read from its file: one copy less in memory
            reply, out = _check_checkpoint(folder / "upload", request)
            with open(folder / "reply", "wb") as stream:
                write_frame(stream, reply, out)
            return
        inputs = {name: (folder / name).read_bytes() for name in request["inputs"]}
        with open(folder / "arrays", "rb") as stream:
            _, arrays = read_frame(stream) or ({}, {})
        if request["kind"] == "onnx":
            reply, out = _validate_onnx(inputs, arrays.get("images"))
        elif request["kind"] == "picture":
            reply, out = _parse_picture(inputs["upload"], request)
        else:
            reply, out = _parse(inputs["upload"], request["filename"])
    except MemoryError:
        reply, out = (
            {"error": f"{request['label']} needs more than {request['memory_mb']:,} MB "
                      f"of memory to read", "limit": True},
            {},
        )  # fmt: skip
    except Exception as error:  # a parser's bug: say so, not "out of memory"
        sys.stderr.write(f"{type(error).__name__}: {error}\n")
        reply, out = (
            {"error": f"{request['label']} could not be read (the reader failed with "
                      f"{type(error).__name__}); check that it is a well-formed file"},
            {},
        )  # fmt: skip
    with open(folder / "reply", "wb") as stream:
        write_frame(stream, reply, out)


def _validate_onnx(inputs: dict[str, bytes], images) -> tuple[dict, dict]:
    from vae.data.builtin import DATASET_NAMES
    from vae.foreign.archive import read_archive
    from vae.foreign.card import CardError, parse_card
    from vae.foreign.graph import GraphError
    from vae.foreign.probe import validate_foreign

    if "archive" in inputs:
        try:
            names = ("encoder", "decoder", "card")
            inputs = dict(zip(names, read_archive(inputs["archive"]), strict=True))
        except GraphError as error:
            return {"error": str(error), "kind": "graph"}, {}
    try:
        card = parse_card(inputs["card"], DATASET_NAMES)
    except CardError as error:
        return {"error": str(error), "kind": "card"}, {}
    try:
        validated = validate_foreign(inputs["encoder"], inputs["decoder"], card, images)
    except GraphError as error:
        return {"error": str(error), "kind": "graph"}, {}
    graphs = {name: np.frombuffer(getattr(validated, name), dtype=np.uint8)
              for name in ("encoder", "decoder")}  # fmt: skip
    return {"report": validated.report}, graphs


def _parse_picture(data: bytes, request: dict) -> tuple[dict, dict]:
    from viz.image_input import (
        ImageInputError,
        decode_memory,
        picture_size,
        picture_to_input,
    )

    shape, framing = tuple(request["image_shape"]), Framing(*request["framing"])
    try:
        width, height = picture_size(data)
        need = decode_memory(width, height, shape, framing)
        if need > request["memory_mb"] * 2**20:
            return {"error": f"the picture is {width:,}x{height:,} pixels: it needs about "
                             f"{need / 2**20:,.0f} MB to read, more than the "
                             f"{request['memory_mb']:,} MB allowed; make it smaller",
                    "limit": True}, {}  # fmt: skip
        _cap_address_space(need)  # what reading this picture allocates: no more
        x = picture_to_input(data, shape, framing)
    except ImageInputError as error:
        return {"error": str(error)}, {}
    return {"ok": True}, {"x": np.asarray(x, dtype=np.float32)}


def _check_checkpoint(path: Path, request: dict) -> tuple[dict, dict]:
    import resource

    from vae.checkpoint_header import CheckpointError, check_header, header_length, upload_memory

    label = request["label"]
    try:
        need = upload_memory(path.stat().st_size, header_length(path))
        if need > request["budget_mb"] * 2**20:
            return {"error": f"{label} needs about {need / 2**20:,.0f} MB to check, more than "
                             f"the {request['budget_mb']:,} MB allowed (its header or its "
                             "weights are too large)", "limit": True}, {}  # fmt: skip
        # The header first, without torch (a file that is no checkpoint is refused in a
        # fraction of a second), under the cap; lifted for torch's import, then set again.
        _cap_address_space(need)
        check_header(path, "the uploaded file")
        resource.setrlimit(resource.RLIMIT_AS, resource.getrlimit(resource.RLIMIT_AS)[1:] * 2)
        import torch

        from vae.checkpoint import revalidate_upload

        torch.set_num_threads(1)  # no thread pool whose stacks the cap must hold
        _cap_address_space(need)
        checked = revalidate_upload(path, request["name"])
    except CheckpointError as error:
        return {"error": str(error)}, {}
    if isinstance(checked, dict):
        graphs = {key: np.frombuffer(checked[key], dtype=np.uint8)
                  for key in ("encoder", "decoder")}  # fmt: skip
        return {"foreign": True, "card": checked["card"].decode()}, graphs
    return {"ok": True}, {"checkpoint": np.frombuffer(checked, dtype=np.uint8)}


def _cap_address_space(need: int) -> None:
    """What this process holds now, plus `need` bytes (and 64 MB of slack): no more. The soft
    limit: the hard one stays the child's first limit, so a later step may lift it again."""
    import resource

    in_use = os.sysconf("SC_PAGE_SIZE") * int(Path("/proc/self/statm").read_text().split()[0])
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (min(in_use + need + 64 * 2**20, hard), hard))


def _parse(data: bytes, filename: str) -> tuple[dict, dict]:
    from vae.data.userdata import load_user_data

    try:
        dataset = load_user_data(data, filename)
    except DataError as error:
        return {"error": str(error)}, {}
    fields = {
        "name": dataset.name,
        "image_shape": dataset.image_shape,
        "likelihood": dataset.likelihood,
        "label_kind": dataset.label_kind,
        "class_names": dataset.class_names,
        "preprocessing": dataset.preprocessing,
        "description": dataset.description,
    }
    arrays = {k: getattr(dataset, k) for k in ARRAY_FIELDS if getattr(dataset, k) is not None}
    return {"dataset": {**fields, **dict.fromkeys(ARRAY_FIELDS)}}, arrays
