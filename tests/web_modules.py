"""The components' ES modules (ui/components/web) in a bare Chromium page, as the app serves
them: real files that import each other, fetched from one origin (routed by Playwright to the
folder, so no server runs)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

WEB = Path(__file__).resolve().parents[1] / "ui" / "components" / "web"
ORIGIN = "http://vx-modules.test"


def module_page(browser, *modules: str):
    """A page whose window.modules[name] is the module web/<name>.js, for each name."""
    page = browser.new_page()

    def serve(route) -> None:
        path = route.request.url.removeprefix(ORIGIN + "/").split("?")[0]
        if path == "":
            route.fulfill(body="<html><body></body></html>", content_type="text/html")
            return
        file = (WEB / path).resolve()
        if WEB not in file.parents or not file.is_file():
            route.fulfill(status=404, body="not found")
            return
        kind = "text/javascript" if file.suffix == ".js" else mimetypes.guess_type(file.name)[0]
        route.fulfill(body=file.read_bytes(), content_type=kind or "application/octet-stream")

    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/")
    page.evaluate(
        """async (names) => {
          window.modules = {};
          for (const name of names) window.modules[name] = await import(`/${name}.js`);
        }""",
        list(modules),
    )
    return page


def last_mark(page, name: str) -> dict | None:
    """The detail of the latest performance mark `name` a component made (what it drew last:
    web/lib/registry.js mark), with its time as "at" (ms since the page's start); None before
    the first."""
    return page.evaluate(
        """(name) => {
          const m = performance.getEntriesByName(name).pop();
          return m ? { ...m.detail, at: m.startTime } : null;
        }""",
        name,
    )
