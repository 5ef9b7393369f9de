"""Parse an uploaded data file in a child process with a time limit and a memory limit.

The server's sessions share one interpreter: a parser that holds the GIL for seconds (a
pathological CSV, an image decoder's slow path) freezes every student's page, and one that
allocates gigabytes can take the server down. Here the parse runs in a fresh child process
under RLIMIT_AS and RLIMIT_CPU, at a lower priority, and the server waits for it without
holding the GIL; a child that runs past the wall-clock limit is killed. Whatever the parser's
bug, the worst case is one refused upload.

The child sends the Dataset back as one frame of runner/frames.py (JSON plus raw arrays):
nothing is unpickled on either side.
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
CHILD_NICE = 10  # the server's sessions come first, as for training
ARRAY_FIELDS = ("x_train", "x_test", "y_train", "y_test")

# The child imports vae.data only. vae/__init__.py imports torch (3-4 s and ~500 MB of address
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
    request = {"kind": "data", "filename": filename, "memory_mb": memory_limit_mb,
               "seconds": time_limit}  # fmt: skip
    reply, arrays = _run_child(data, request)
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
    request = {"kind": "picture", "filename": filename, "memory_mb": memory_limit_mb,
               "seconds": time_limit, "image_shape": list(image_shape),
               "framing": [framing.fill, framing.stroke]}  # fmt: skip
    _, arrays = _run_child(data, request)
    x = arrays.get("x")
    if x is None or x.shape != (image_shape[0] * image_shape[1],):
        raise DataError(f"{filename} could not be read")
    return x.astype(np.float32, copy=False)


def _run_child(data: bytes, request: dict) -> tuple[dict, dict]:
    """Run the child on `data`: its reply and arrays, or the DataError it (or its limits) gave.

    The bytes go through files in a private temp folder, each written or read in one call that
    releases the GIL: a pipe fed by subprocess.communicate() would cost the server's interpreter
    one Python loop iteration per 4 KB (measured: a 0.5 s freeze for a 100 MB upload).
    """
    filename, time_limit = request["filename"], request["seconds"]
    memory_limit_mb = request["memory_mb"]
    with tempfile.TemporaryDirectory(prefix="vae-upload-") as folder:
        upload, reply_path, log = (Path(folder) / n for n in ("upload", "reply", "log"))
        upload.write_bytes(data)
        with open(log, "wb") as stderr:
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _CHILD,
                    str(ROOT),
                    json.dumps(request),
                    str(upload),
                    str(reply_path),
                ],  # fmt: skip
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
                    f"{filename} took more than {time_limit:.0f} s to read and was stopped"
                ) from None
        try:
            with open(reply_path, "rb") as stream:
                reply, arrays = read_frame(stream) or (None, {})
        except (OSError, ProtocolError):
            reply, arrays = None, {}
        if reply is None:
            if -child.returncode in (signal.SIGXCPU, signal.SIGKILL):
                raise ParseLimitError(f"{filename} took too long to read and was stopped")
            # A crash (e.g. the memory limit hit inside C code): the log has the details.
            sys.stderr.write(log.read_text(errors="replace")[-2000:])
            raise ParseLimitError(
                f"{filename} could not be read within {memory_limit_mb:,} MB of memory"
            )
    if "error" in reply:
        error_type = ParseLimitError if reply.get("limit") else DataError
        raise error_type(reply["error"])
    return reply, arrays


def child_main() -> None:
    """In the child: limits first, then parse the upload, then one frame into the reply file."""
    import resource

    request, upload, reply_path = json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
    limit = request["memory_mb"] * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    seconds = int(request["seconds"]) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    os.nice(CHILD_NICE)
    try:
        with open(upload, "rb") as stream:
            data = stream.read()
        if request["kind"] == "picture":
            reply, arrays = _parse_picture(data, request)
        else:
            reply, arrays = _parse(data, request["filename"])
    except MemoryError:
        reply, arrays = (
            {"error": f"{request['filename']} needs more than {request['memory_mb']:,} MB "
                      f"of memory to read", "limit": True},
            {},
        )  # fmt: skip
    except Exception as error:  # a parser's bug: say so, not "out of memory"
        sys.stderr.write(f"{type(error).__name__}: {error}\n")
        reply, arrays = (
            {"error": f"{request['filename']} could not be read (the reader failed with "
                      f"{type(error).__name__}); check that it is a well-formed file"},
            {},
        )  # fmt: skip
    with open(reply_path, "wb") as stream:
        write_frame(stream, reply, arrays)


def _parse_picture(data: bytes, request: dict) -> tuple[dict, dict]:
    import resource

    from viz.image_input import (
        Framing,
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
        # What this process holds now, plus what reading this picture allocates: no more.
        in_use = os.sysconf("SC_PAGE_SIZE") * int(Path("/proc/self/statm").read_text().split()[0])
        limit = in_use + need + 64 * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        x = picture_to_input(data, shape, framing)
    except ImageInputError as error:
        return {"error": str(error)}, {}
    return {"ok": True}, {"x": np.asarray(x, dtype=np.float32)}


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
