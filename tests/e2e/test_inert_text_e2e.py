"""Rule 1 of docs/SECURITY.md in a real render: hostile strings shown through ui.text.plain()
in Markdown, a caption, an alert, a button label, its help tooltip and a checkbox label give
no link and no image in Chromium (the old backslash escaping gave 60 links: GFM autolinks URLs,
`www.` names and e-mail addresses after the escapes are resolved)."""

from __future__ import annotations

import os

from tests.e2e.conftest import ROOT, free_port, start_streamlit, stop
from tests.e2e.driver import wait_idle
from tests.hostile_text import HOSTILE_STRINGS


def test_hostile_strings_render_as_text_without_links_or_images(browser, artifacts_dir) -> None:
    process = start_streamlit(ROOT / "tests" / "e2e" / "inert_text_app.py", port := free_port(),
                              dict(os.environ))  # fmt: skip
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}")
        page.get_by_text("rendered-all").wait_for(timeout=120_000)
        wait_idle(page)
        last = len(HOSTILE_STRINGS) - 1
        page.get_by_text(f"checkbox {last}:").wait_for(timeout=60_000)
        main = page.locator('[data-testid="stMain"]')
        links = main.locator("a[href]").evaluate_all("els => els.map(e => e.outerHTML)")
        images = main.locator("img").evaluate_all("els => els.map(e => e.outerHTML)")
        shown = main.locator('[data-testid="stMarkdownContainer"]').all_inner_texts()
        page.screenshot(path=str(artifacts_dir / "inert_text_1400.png"), full_page=True)
        page.close()
    finally:
        stop(process)
    assert links == [] and images == []
    visible = " ".join(shown).replace("\u2060", "")
    for text in HOSTILE_STRINGS:  # each one reads as it was written (on one line)
        if text.isascii() and "\n" not in text:
            assert text in visible, text
