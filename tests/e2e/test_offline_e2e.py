"""Nothing leaves the machine: every request Chromium makes, on every page, goes to the app.

A classroom may have no internet, and the app must not tell anyone outside who uses it.
The session quick-starts a model first, so that every page draws what it draws for a user.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

from tests.e2e.driver import exceptions, keyed_graph, wait_idle
from tests.e2e.test_app_e2e import NAV, QUICK_START

LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
LOCAL_SCHEMES = {"data", "blob", "about"}  # in-page URLs: nothing goes on the network


def leaves_the_machine(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme not in LOCAL_SCHEMES and parts.hostname not in LOCAL_HOSTS


def test_leaves_the_machine_tells_local_from_remote() -> None:
    assert leaves_the_machine("https://fonts.gstatic.com/s/i/x/24px.svg")
    assert leaves_the_machine("http://example.org/")
    assert not leaves_the_machine("http://127.0.0.1:8501/_stcore/health")
    assert not leaves_the_machine("ws://localhost:8501/_stcore/stream")
    assert not leaves_the_machine("data:image/svg+xml;base64,PHN2Zz4=")
    assert not leaves_the_machine("blob:http://127.0.0.1:8501/5b1c")


def test_no_page_makes_a_request_off_the_machine(browser, app_url, artifacts_dir) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    try:
        page.goto(app_url)
        page.get_by_role("button", name=QUICK_START).click()
        page.get_by_role("heading", name="Latent map").wait_for(timeout=120_000)
        keyed_graph(page, "map_chart")
        wait_idle(page)
        titles = [t.strip().split("\n")[-1] for t in page.locator(NAV).all_inner_texts()]
        assert len(titles) >= 10, titles
        for i, title in enumerate(titles):
            page.locator(NAV).nth(i).click()
            page.wait_for_timeout(500)
            with contextlib.suppress(TimeoutError):  # a page that polls never idles: look anyway
                wait_idle(page, timeout=60)
            page.wait_for_timeout(500)  # images, fonts and the favicon load after the run
            assert not exceptions(page), f"{title}: {exceptions(page)}"
    finally:
        context.close()
    remote_all = [url for url in requests if leaves_the_machine(url)]
    remote = sorted(set(remote_all))
    (artifacts_dir / "offline-requests.txt").write_text(
        f"{len(requests)} requests, {len(remote_all)} off the machine ({len(remote)} distinct):\n"
        + "\n".join(remote)
    )
    assert len(requests) > 20, "the recorder saw too little to vouch for anything"
    assert not remote, f"{len(remote)} requests leave the machine: {remote}"
