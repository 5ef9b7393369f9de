"""A view of the app as URL query parameters, and back: the model, the clicked z, the selected
points and the interpolation path, so that a link opens the same view in another browser.

The URL is untrusted input: decoding checks every value (type, finiteness, bounds, counts) and
raises ShareError with one human sentence; unknown parameters are reported, not fatal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from vae.library import safe_model_name

# Parameter names, short so that links stay short.
MODEL, Z, SELECTED, PATH, PRESENT = "model", "z", "sel", "path", "present"
KNOWN_PARAMS = (MODEL, Z, SELECTED, PATH, PRESENT)

MAX_COORD = 1000.0  # a latent coordinate further out than this is not a real view
MAX_SELECTED = 500  # indices in the link; keeps a URL under ~4 kB
MAX_WAYPOINTS = 32
MAX_INDEX = 10_000_000
MAX_VALUE_CHARS = 20_000  # longer values are refused before any parsing
_INDEX = re.compile(r"[0-9]{1,8}")  # ASCII digits only: str.isdigit() also accepts '²'


class ShareError(ValueError):
    """A query parameter of a shared link is malformed or out of range."""


@dataclass(frozen=True)
class SharedView:
    """What a link restores. Every field is optional: a link may carry any subset."""

    model: str | None = None  # a saved model's name in the library
    z: tuple[float, float] | None = None  # the clicked latent point
    selected: tuple[int, ...] = ()  # indices into the test set as the latent map shows it
    path: tuple[tuple[float, float], ...] = ()  # interpolation waypoints
    present: bool = False  # presenter mode


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def encode_view(view: SharedView) -> dict[str, str]:
    """SharedView -> {param: value} holding only the fields that are set."""
    params: dict[str, str] = {}
    if view.model:
        params[MODEL] = view.model
    if view.z is not None:
        params[Z] = f"{_fmt(view.z[0])},{_fmt(view.z[1])}"
    if view.selected:
        params[SELECTED] = ",".join(str(int(i)) for i in view.selected[:MAX_SELECTED])
    if view.path:
        params[PATH] = ";".join(f"{_fmt(x)},{_fmt(y)}" for x, y in view.path[:MAX_WAYPOINTS])
    if view.present:
        params[PRESENT] = "1"
    return params


def _quote(text: str, limit: int = 40) -> str:
    """A short, one-line repr of untrusted text for an error message."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _point(text: str, what: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        if len(parts) != 2 or max(len(p) for p in parts) > 32:
            raise ValueError
        x, y = float(parts[0]), float(parts[1])
    except ValueError:
        raise ShareError(
            f"{what} must be two numbers separated by a comma, got {_quote(text)}"
        ) from None
    if not (math.isfinite(x) and math.isfinite(y)) or max(abs(x), abs(y)) > MAX_COORD:
        raise ShareError(f"{what} must be finite latent coordinates within ±{MAX_COORD:g}")
    return x, y


def decode_view(params: Mapping[str, str]) -> tuple[SharedView, list[str]]:
    """{param: value} -> (SharedView, names of unknown parameters).

    Raises ShareError for a known parameter whose value is malformed.
    """
    unknown = sorted(str(k)[:30] for k in params if k not in KNOWN_PARAMS)
    for name in KNOWN_PARAMS:
        value = params.get(name)
        if value is not None and not isinstance(value, str):
            raise ShareError(f"the link parameter {name!r} must appear once, as text")
        if value is not None and len(value) > MAX_VALUE_CHARS:
            raise ShareError(f"the link parameter {name!r} is too long ({len(value):,} characters)")
    model = params.get(MODEL)
    if model is not None:
        try:
            model = safe_model_name(model)  # the library's own rule: no paths, no traversal
        except ValueError as error:
            raise ShareError(f"the model name in the link is not valid: {error}") from None
    z = _point(params[Z], "z") if Z in params else None
    selected: tuple[int, ...] = ()
    if params.get(SELECTED):
        raw = params[SELECTED].split(",")
        if len(raw) > MAX_SELECTED:
            raise ShareError(f"a link can select at most {MAX_SELECTED} points, got {len(raw)}")
        if not all(_INDEX.fullmatch(r) and int(r) <= MAX_INDEX for r in raw):
            raise ShareError(
                "sel must be point numbers (non-negative integers) separated by commas"
            )
        selected = tuple(dict.fromkeys(int(r) for r in raw))  # de-duplicated, order kept
    path: tuple[tuple[float, float], ...] = ()
    if params.get(PATH):
        legs = params[PATH].split(";")
        if len(legs) > MAX_WAYPOINTS:
            raise ShareError(f"a path can have at most {MAX_WAYPOINTS} waypoints, got {len(legs)}")
        path = tuple(_point(leg, "each path waypoint") for leg in legs)
        if len(path) < 2:
            raise ShareError("a path needs at least two waypoints")
    present = params.get(PRESENT, "0")
    if present not in ("0", "1"):
        raise ShareError(f"present must be 0 or 1, got {_quote(present)}")
    return SharedView(
        model=model, z=z, selected=selected, path=path, present=present == "1"
    ), unknown


__all__ = ["KNOWN_PARAMS", "SharedView", "ShareError", "decode_view", "encode_view"]
