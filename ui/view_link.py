"""A view of the app as URL query parameters, and back, so that a link opens the same view in
another browser: the model (a ModelRef: its name and where it lives), the latent map's zoom window, colour-by, bubbles and prior, the
clicked z and the data point there, the selected points, the interpolation path, presenter mode,
and the Inference lab's test point and binary-sample number (the same point and number are the
same sample on any machine, so the number the class saw is the number the link shows).

The URL is untrusted input: decoding checks every value (type, finiteness, bounds, counts) and
raises ShareError with one human sentence; unknown parameters are reported, not fatal. The same
codec validates the lecture scenes read from the model library (ui/scenes.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from vae.library import safe_model_name

from . import colourings

# Parameter names, short so that links stay short.
MODEL, SOURCE, Z, SELECTED, PATH, PRESENT = "model", "src", "z", "sel", "path", "present"
WINDOW, COLOR, BUBBLES, PRIOR, INDEX = "win", "color", "bub", "prior", "i"
LAB_POINT, LAB_DRAW = "lab", "b"
KNOWN_PARAMS = (MODEL, SOURCE, Z, INDEX, SELECTED, PATH, WINDOW, COLOR, BUBBLES, PRIOR, PRESENT,
                LAB_POINT, LAB_DRAW)  # fmt: skip

# Where a linked model is looked up (ui/models.py opens each): the model library (the default,
# so a saved model's link is just ?model=name) and the models shipped with the app.
SAVED, PRETRAINED = "saved", "pretrained"
MODEL_SOURCES = (SAVED, PRETRAINED)
# Links written before the source had its own parameter named a shipped model by its display
# name, "fashion-mnist (pretrained)"; they were shared, so they still open.
_OLD_PRETRAINED = re.compile(r"(.+) \(pretrained\)")

# The latent map's options (the widgets of pages/latent_map.py) and their short link codes:
# plain ASCII, so a link stays readable where "σ" would be percent-encoded.
COLOR_CHOICES = colourings.NAMES
COLOR_CODES = colourings.CODES
BUBBLE_CHOICES = ("off", "1σ", "2σ")
BUBBLE_CODES = dict(zip(("off", "1", "2"), BUBBLE_CHOICES, strict=True))

MAX_COORD = 1000.0  # a latent coordinate further out than this is not a real view
MAX_SELECTED = 500  # indices in the link; keeps a URL under ~4 kB
MAX_WAYPOINTS = 32
MAX_INDEX = 10_000_000
MAX_DRAW = 999_999  # the Inference lab's binary-sample numbers: 0 … MAX_DRAW
MIN_WINDOW = 1e-6  # a narrower zoom window is not a view Plotly can draw
MAX_VALUE_CHARS = 20_000  # longer values are refused before any parsing
_INDEX = re.compile(r"[0-9]{1,8}")  # ASCII digits only: str.isdigit() also accepts '²'


class ShareError(ValueError):
    """A query parameter of a shared link is malformed or out of range."""


@dataclass(frozen=True)
class ModelRef:
    """How a link names a model: the one owner of what a link may name, for its writer (the
    active model's `ref`) and its reader (decode_view) alike. A ref that exists reopens: its
    name follows the model library's file-name rules (vae.library.safe_model_name), which
    every saved or shipped model's name does, and its source is one the app can open."""

    name: str
    source: str = SAVED

    def __post_init__(self) -> None:
        if self.source not in MODEL_SOURCES:
            raise ShareError(
                f"{SOURCE} must be one of {', '.join(MODEL_SOURCES)}, got {_quote(self.source)}"
            )
        try:
            name = safe_model_name(self.name)  # no paths, no traversal, no control characters
        except ValueError as error:
            raise ShareError(f"the model name in the link is not valid: {error}") from None
        if name != self.name:
            raise ShareError("the model name in the link has spaces around it")

    @classmethod
    def read(cls, name: str, source: str | None) -> ModelRef:
        """The ref of a link's `model` and `src` values (ShareError if they name none)."""
        if source is None and (old := _OLD_PRETRAINED.fullmatch(name.strip())):
            return cls(old.group(1).strip(), PRETRAINED)
        return cls(name.strip(), SAVED if source is None else source)

    def params(self) -> dict[str, str]:
        """The link's parameters for this model: the source only when it is not the library."""
        return {MODEL: self.name} | ({SOURCE: self.source} if self.source != SAVED else {})


@dataclass(frozen=True)
class SharedView:
    """What a link restores. Every field is optional: a link may carry any subset."""

    model: ModelRef | None = None  # a saved or shipped model
    z: tuple[float, float] | None = None  # the clicked latent point
    index: int | None = None  # the test point clicked at z (its μ), None: empty space
    selected: tuple[int, ...] = ()  # indices into the test set as the latent map shows it
    path: tuple[tuple[float, float], ...] = ()  # interpolation waypoints
    window: tuple[float, float, float, float] | None = None  # map zoom (x0, x1, y0, y1)
    color_by: str | None = None  # one of COLOR_CHOICES
    bubbles: str | None = None  # one of BUBBLE_CHOICES
    prior: bool | None = None  # the prior's circles on the map
    present: bool = False  # presenter mode
    lab_point: int | None = None  # the Inference lab's test point
    lab_draw: int | None = None  # the binary sample of it the lab scores (0 … MAX_DRAW)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _fmt_z(value: float) -> str:
    """Clicked z: 7 significant digits, so that a point's float32 μ comes back as it was."""
    return f"{value:.7g}"


def _code(codes: dict[str, str], choice: str) -> str:
    return next(code for code, name in codes.items() if name == choice)


def encode_view(view: SharedView) -> dict[str, str]:
    """SharedView -> {param: value} holding only the fields that are set."""
    params: dict[str, str] = {}
    if view.model is not None:
        params.update(view.model.params())
    if view.z is not None:
        params[Z] = f"{_fmt_z(view.z[0])},{_fmt_z(view.z[1])}"
        if view.index is not None:
            params[INDEX] = str(int(view.index))
    if view.selected:
        params[SELECTED] = ",".join(str(int(i)) for i in view.selected[:MAX_SELECTED])
    if view.path:
        params[PATH] = ";".join(f"{_fmt(x)},{_fmt(y)}" for x, y in view.path[:MAX_WAYPOINTS])
    if view.window is not None:
        params[WINDOW] = ",".join(_fmt_z(v) for v in view.window)
    if view.color_by is not None:
        params[COLOR] = _code(COLOR_CODES, view.color_by)
    if view.bubbles is not None:
        params[BUBBLES] = _code(BUBBLE_CODES, view.bubbles)
    if view.prior is not None:
        params[PRIOR] = "1" if view.prior else "0"
    if view.present:
        params[PRESENT] = "1"
    if view.lab_point is not None:
        params[LAB_POINT] = str(int(view.lab_point))
    if view.lab_draw is not None:
        params[LAB_DRAW] = str(int(view.lab_draw))
    return params


def _quote(text: str, limit: int = 40) -> str:
    """A short, one-line repr of untrusted text for an error message."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _numbers(text: str, count: int, what: str) -> tuple[float, ...]:
    """`count` finite comma-separated numbers within ±MAX_COORD, or ShareError."""
    parts = text.split(",")
    try:
        if len(parts) != count or max(len(p) for p in parts) > 32:
            raise ValueError
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ShareError(
            f"{what} must be {count} numbers separated by commas, got {_quote(text)}"
        ) from None
    if not all(math.isfinite(v) for v in values) or max(abs(v) for v in values) > MAX_COORD:
        raise ShareError(f"{what} must be finite latent coordinates within ±{MAX_COORD:g}")
    return values


def _point(text: str, what: str) -> tuple[float, float]:
    x, y = _numbers(text, 2, what)
    return x, y


def _window(text: str) -> tuple[float, float, float, float]:
    x0, x1, y0, y1 = _numbers(text, 4, "the zoom window (win=x0,x1,y0,y1)")
    if not (x1 - x0 >= MIN_WINDOW and y1 - y0 >= MIN_WINDOW):
        raise ShareError("the zoom window needs x0 < x1 and y0 < y1 (win=x0,x1,y0,y1)")
    return x0, x1, y0, y1


def checked_window(values: object) -> tuple[float, float, float, float] | None:
    """A zoom window from the session (the browser reported it) if a link could carry it."""
    try:
        x0, x1, y0, y1 = (float(v) for v in values)  # type: ignore[union-attr]
        return _window(f"{x0!r},{x1!r},{y0!r},{y1!r}")
    except (TypeError, ValueError):  # ShareError is a ValueError
        return None


def _choice(params: Mapping[str, str], name: str, codes: dict[str, str]) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if value not in codes:
        raise ShareError(f"{name} must be one of {', '.join(codes)}, got {_quote(value)}")
    return codes[value]


def _flag(params: Mapping[str, str], name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if value not in ("0", "1"):
        raise ShareError(f"{name} must be 0 or 1, got {_quote(value)}")
    return value == "1"


def _whole_number(params: Mapping[str, str], name: str, what: str, top: int) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not (_INDEX.fullmatch(raw) and int(raw) <= top):
        raise ShareError(
            f"{name} ({what}) must be a whole number from 0 to {top:,}, got {_quote(raw)}"
        )
    return int(raw)


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
    if MODEL in params:
        model = ModelRef.read(params[MODEL], params.get(SOURCE))
    elif SOURCE in params:
        raise ShareError(f"{SOURCE} (where the model is) needs {MODEL}, the model's name")
    else:
        model = None
    z = _point(params[Z], "z") if Z in params else None
    index = None
    if params.get(INDEX) is not None:
        raw = params[INDEX]
        if not (_INDEX.fullmatch(raw) and int(raw) <= MAX_INDEX):
            raise ShareError(
                f"i must be a point number (a non-negative integer), got {_quote(raw)}"
            )
        if z is None:
            raise ShareError("i (the clicked point) needs z, where it was clicked")
        index = int(raw)
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
    window = _window(params[WINDOW]) if WINDOW in params else None
    view = SharedView(
        model=model,
        z=z,
        index=index,
        selected=selected,
        path=path,
        window=window,
        color_by=_choice(params, COLOR, COLOR_CODES),
        bubbles=_choice(params, BUBBLES, BUBBLE_CODES),
        prior=_flag(params, PRIOR),
        present=bool(_flag(params, PRESENT)),
        lab_point=_whole_number(params, LAB_POINT, "the Inference lab's test point", MAX_INDEX),
        lab_draw=_whole_number(params, LAB_DRAW, "the binary sample number", MAX_DRAW),
    )
    return view, unknown


def fit_view(view: SharedView, points: int) -> tuple[SharedView, list[str]]:
    """`view` with only the point numbers the model's map has (0 … points - 1), and a sentence
    for each kind of number dropped. decode_view checks what a link alone can tell; how many
    points there are is known once its model is open, so this is the second half of the check,
    run once where a link or a scene is applied (ui/share.py), never by its readers."""
    notes: list[str] = []
    index = view.index
    if index is not None and index >= points:
        notes.append(
            f"The link's point #{index} is not one of this model's {points:,} test points: "
            "its z is shown without it."
        )
        index = None
    lab_point = view.lab_point
    if lab_point is not None and lab_point >= points:
        notes.append(
            f"The link's Inference lab point #{lab_point} is not one of this model's "
            f"{points:,} test points: the lab keeps its own."
        )
        lab_point = None
    selected = tuple(i for i in view.selected if i < points)
    if len(selected) < len(view.selected):
        missing = len(view.selected) - len(selected)
        notes.append(
            f"{missing} selected point number{'s' if missing != 1 else ''} of the link "
            f"{'are' if missing != 1 else 'is'} not among this model's {points:,} test points."
        )
    return replace(view, index=index, selected=selected, lab_point=lab_point), notes


__all__ = [
    "BUBBLE_CHOICES",
    "COLOR_CHOICES",
    "KNOWN_PARAMS",
    "MAX_DRAW",
    "MODEL_SOURCES",
    "PRETRAINED",
    "SAVED",
    "ModelRef",
    "SharedView",
    "ShareError",
    "checked_window",
    "decode_view",
    "encode_view",
    "fit_view",
]
