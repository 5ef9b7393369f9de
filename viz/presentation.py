"""A figure made legible on a projector: every font at least a given size, dark text, taller.

Works on the figure's dict (what st.plotly_chart sends), not on a go.Figure: the latent map is
built once per server and shared, frozen, by every session, so presenter mode makes a restyled
copy of its layout and leaves the data arrays shared, never copied.
"""

from __future__ import annotations

import copy

PRESENTER_FONT_PX = 24  # the smallest text on a projected figure: legible from a hall's back row
PRESENTER_MARKER_SCALE = 1.6  # markers on a projector, relative to their size on a laptop
PRESENTER_TEXT_COLOR = "#000000"
PRESENTER_GRID_COLOR = "#bdbdbd"
# Trace keys that may hold fonts (directly or in a colour bar); data arrays are never touched.
_TRACE_FONT_KEYS = ("textfont", "colorbar", "legendgrouptitle", "title", "insidetextfont")


def raise_fonts(node: object, minimum: int) -> None:
    """In place: every `*font` dict below `node` gets size >= minimum (an unset size inherits
    the layout's font, which is raised too)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("font") and isinstance(value, dict):
                size = value.get("size")
                if isinstance(size, (int, float)) and size < minimum:
                    value["size"] = minimum
            raise_fonts(value, minimum)
    elif isinstance(node, list):
        for item in node:
            raise_fonts(item, minimum)


def _at_least(node: dict, key: str, minimum: int) -> None:
    """node[key] is a font dict whose size is at least `minimum`, in black unless coloured
    (set explicitly: Streamlit's chart theme gives every font a figure leaves unset its own
    size, in rem, and a grey)."""
    font = node.get(key)
    if not isinstance(font, dict):
        font = node[key] = {}
    size = font.get("size")
    font["size"] = max(minimum, size if isinstance(size, (int, float)) else 0)
    font.setdefault("color", PRESENTER_TEXT_COLOR)


def _title_font(node: dict, minimum: int) -> None:
    title = node.get("title")
    if isinstance(title, str):
        title = node["title"] = {"text": title}
    if isinstance(title, dict):
        _at_least(title, "font", minimum)


def _colorbar(colorbar: dict, minimum: int) -> None:
    _at_least(colorbar, "tickfont", minimum)
    _title_font(colorbar, minimum)


_SCALED_TYPES = ("heatmap", "contour", "surface", "histogram2d", "histogram2dcontour")


def _restyled_trace(trace: dict, minimum: int, marker_scale: float) -> dict:
    """A shallow copy of a trace with its font-bearing parts (text, colour bars) copied and
    raised, its marker sizes (a number) scaled; its data arrays are shared, never copied."""
    marker = trace.get("marker") if isinstance(trace.get("marker"), dict) else {}
    own_bar = trace.get("type") in _SCALED_TYPES and trace.get("showscale", True)
    marker_bar = "colorbar" in marker or marker.get("showscale")
    sized = isinstance(marker.get("size"), (int, float)) and marker_scale != 1
    if not (any(k in trace for k in _TRACE_FONT_KEYS) or own_bar or marker_bar or sized):
        return trace
    trace = dict(trace)
    if sized:
        marker = trace["marker"] = dict(marker, size=round(marker["size"] * marker_scale, 2))
    for key in _TRACE_FONT_KEYS:
        if key in trace:
            trace[key] = copy.deepcopy(trace[key])
            if key.endswith("font") and isinstance(trace[key], dict):
                size = trace[key].get("size")
                trace[key]["size"] = max(minimum, size if isinstance(size, (int, float)) else 0)
            raise_fonts(trace[key], minimum)
    if own_bar or isinstance(trace.get("colorbar"), dict):
        trace["colorbar"] = trace.get("colorbar") or {}
        _colorbar(trace["colorbar"], minimum)
    if marker_bar:
        trace["marker"] = dict(marker, colorbar=copy.deepcopy(marker.get("colorbar") or {}))
        _colorbar(trace["marker"]["colorbar"], minimum)
    return trace


def projector_figure(
    figure: dict,
    minimum: int = PRESENTER_FONT_PX,
    height: int | None = None,
    marker_scale: float = 1.0,
) -> dict:
    """A figure dict restyled for a projector: fonts >= `minimum` px in the layout, axes,
    legend, colour bars, annotations and trace text; black text, darker grid; markers of a
    single size `marker_scale` times larger; `height` if given. The input is not changed; its
    data arrays are shared with the result."""
    layout = copy.deepcopy(figure.get("layout", {}))
    font = layout.setdefault("font", {})
    font["size"] = max(minimum, font.get("size") or 0)
    font["color"] = PRESENTER_TEXT_COLOR
    raise_fonts(layout, minimum)
    for name, axis in list(layout.items()):
        if name.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            axis["automargin"] = True  # larger tick labels need room
            _at_least(axis, "tickfont", minimum)
            _title_font(axis, minimum)
            if axis.get("showgrid", True):
                axis.setdefault("gridcolor", PRESENTER_GRID_COLOR)
            if axis.get("type") == "log" and "dtick" not in axis:
                axis["dtick"] = 1  # decades only: Plotly writes 2 and 5 between them smaller
                axis.setdefault("exponentformat", "power")
        elif name.startswith("scene") and isinstance(axis, dict):  # 3-D axes
            for inner in ("xaxis", "yaxis", "zaxis"):
                sub = axis.setdefault(inner, {})
                _at_least(sub, "tickfont", minimum)
                _title_font(sub, minimum)
        elif name.startswith("coloraxis") and isinstance(axis, dict):
            _colorbar(axis.setdefault("colorbar", {}), minimum)
    _at_least(layout.setdefault("legend", {}), "font", minimum)
    _title_font(layout["legend"], minimum)
    if "title" in layout:
        _title_font(layout, minimum)
    hover = layout.setdefault("hoverlabel", {}).setdefault("font", {})
    hover["size"] = max(minimum, hover.get("size") or 0)  # its colour follows each trace
    for annotation in layout.get("annotations", []):
        if isinstance(annotation, dict):
            _at_least(annotation, "font", minimum)
    if height is not None:
        layout["height"] = int(height)
    data = [_restyled_trace(t, minimum, marker_scale) for t in figure.get("data", [])]
    return {**figure, "data": data, "layout": layout}


def smallest_font(figure: dict) -> float:
    """The smallest font size set anywhere in a figure dict (the layout's 12 px default if none)."""
    sizes: list[float] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith("font") and isinstance(value, dict):
                    size = value.get("size")
                    if isinstance(size, (int, float)):
                        sizes.append(float(size))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    layout = figure.get("layout", {})
    walk(layout)
    for trace in figure.get("data", []):
        walk({k: v for k, v in trace.items() if k in _TRACE_FONT_KEYS or k == "marker"})
    base = layout.get("font", {}).get("size", 12)
    return min([*sizes, float(base)])


__all__ = [
    "PRESENTER_FONT_PX",
    "PRESENTER_MARKER_SCALE",
    "projector_figure",
    "raise_fonts",
    "smallest_font",
]
