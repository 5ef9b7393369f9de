"""How the components' JavaScript and CSS reach the browser: as files, fetched once.

The components' code lives in ui/components/web/ as ES modules that import each other
(web/lib/: the frame parser, the LRU, the network interpreter, the latent<->pixel mapping,
the registry of live instances). Streamlit serves a components-v2 component's files from its
`asset_dir` at /_stcore/bidi-components/<name>/<path>, and an element then carries only that
path: the browser imports the module once per page (and its HTTP cache keeps it), where an
inline `js=` string would travel with every message that carries the element (for the map
layer, every click).

Streamlit finds an `asset_dir` in the pyproject.toml of an *installed* package. This app is
run from its checkout, not installed, so the same manifest is handed to the component manager
here: `ComponentManager.register_from_manifest` is what Streamlit's own package scan calls,
and the manager is per runtime (AppTest makes one per test), so each mount makes sure its
runtime's manager knows the directory before the component is registered there.

A new component: its entry module web/<name>.js (default export: the mount function; lib/ for
what it shares), its name in COMPONENTS, and `WebComponent("<name>")` in its Python mount.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.components.v2.get_bidi_component_manager import get_bidi_component_manager
from streamlit.components.v2.manifest_scanner import ComponentConfig, ComponentManifest

PACKAGE = "vae_explorer"
WEB = Path(__file__).with_name("web")
COMPONENTS = ("map_layer", "map_decoder", "click_panel", "drawing_pad", "scrubber", "shortcuts")
_MANIFEST = ComponentManifest(
    name=PACKAGE,
    version="1",
    components=[ComponentConfig(name=name, asset_dir=WEB.name) for name in COMPONENTS],
)


def _serve_web_dir() -> None:
    """Tell this runtime's component manager that web/ is every component's asset_dir."""
    manager = get_bidi_component_manager()
    if manager.get_component_asset_root(f"{PACKAGE}.{COMPONENTS[0]}") is None:
        manager.register_from_manifest(_MANIFEST, WEB.parent)


class WebComponent:
    """A components-v2 component whose JS (and CSS) are files in web/: call it to mount.

    Registered with Streamlit at the first mount, not at import: without a running app (a
    unit test importing the module) there is no manager to register with.
    """

    def __init__(self, name: str, *, css: str | None = None, isolate_styles: bool = True):
        assert name in COMPONENTS, name
        self.name = f"{PACKAGE}.{name}"
        self._files = {"js": f"{name}.js", "css": css}
        self._isolate_styles = isolate_styles
        self._mount = None

    def __call__(self, **kwargs):
        _serve_web_dir()
        if self._mount is None:
            self._mount = st.components.v2.component(
                self.name, **self._files, isolate_styles=self._isolate_styles
            )
        return self._mount(**kwargs)
