"""A classroom against one server: N sessions use the latent map as a class does while one
more session trains a model, and one real Chromium student among them times click -> complete
panel. Loopback only, bounded, stops by itself.

Each simulated session speaks Streamlit's own websocket protocol (BackMsg / ForwardMsg
protobufs from streamlit.proto): the rerun requests a Chromium tab sends, as captured from
Chromium's frames for the same actions. 100 sessions cost the client little, so the numbers
are the server's. A student clicks in bursts of 1-4 clicks with pauses, half of the clicks on
test points, and once each zooms, presses B, C or P and opens Interpolate. A click is exactly
what the map layer sends: where the page draws the panel in the browser
(ui/components/click_panel.py), the click costs nothing at once and the server hears of it
later (the notice: a fragment rerun 1.5 s after a burst's last click, or before the student's
next request); otherwise the click is the fragment rerun that draws the server's panel, its
pictures fetched over HTTP like the browser does, and the student waits for it.

Phases, in one run: (0) a first session on the fresh server, timed on its own (it pays the
server's one-off imports: torch, plotly, sklearn); (1) one session alone on the warm server:
the baseline; (2) N sessions at once plus one training session that starts training on the
Train page (in a child process unless --runner thread) and polls its progress like the page.
Server memory counts the server and its children (the training process). Between phases 1
and 2, the server CPU of each kind of interaction is timed (cpu_by_kind). --app serves another
checkout's app.py (an older tree), so that two trees are compared by the same client.

With --workers N the sessions go through HAProxy to N Streamlit workers (deploy/hall.py, the
lecture hall of scripts/serve-hall.sh): each session first fetches a page as a browser does,
keeps the proxy's sticky cookie and sends it with its websocket and its picture fetches.
Memory and CPU then count every worker with its children, and the proxy.

Usage: .venv/bin/python bench/load_test.py [--sessions 30] [--clicks 12] [--dataset digits]
       [--workers N] [--runner process|thread] [--browser-clicks 16] [--cpu-repeats 60]
       [--app PATH] [--record]   (--record appends to RESULTS.md)
Targets: every interaction completed, 0 errors, the Chromium student's p95(click -> panel)
under load <= 3x alone, server CPU per click <= 0.5 ms (points and empty space alike).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402  (installed with streamlit's server)
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

from bench.machine import cpu_model, utc_stamp  # noqa: E402
from deploy.hall import COOKIE, running_hall  # noqa: E402
from tests.conftest import child_pids  # noqa: E402
from tests.e2e.conftest import free_port, start_streamlit, stop  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
TIMEOUT = 90.0  # seconds one interaction may take before it counts as an error
MODEL_NAME = "classroom"
ID_RE = re.compile(rb"\$\$ID-[0-9a-f]+-[A-Za-z0-9_]+")
EPOCH_RE = re.compile(r"epoch (\d+) of \d+")  # the Train page's progress text


class InteractionError(RuntimeError):
    """An interaction that failed: timeout, exception on the page, or a broken connection."""


@dataclass
class Run:
    """What one script run (full page or fragment) sent back."""

    done: asyncio.Event = field(default_factory=asyncio.Event)
    status: int | None = None
    images: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)


class Session:
    """One browser tab, spoken in protobufs."""

    def __init__(
        self, url: str, name: str, timeline: list | None = None, sticky: bool = False
    ) -> None:
        self.url = url
        # Behind the proxy: the cookies a browser gets with its first page (the worker it is
        # pinned to, Streamlit's XSRF token), sent with every later request.
        self.sticky = sticky
        self.cookie = ""
        self.pin = ""  # a worker's name: this session asks the proxy for that worker
        self.name = name
        self.timeline = timeline  # (start, end, kind) of each run given a kind, if not None
        self.ws = None
        self.pages: dict[str, str] = {}  # url path -> page_script_hash
        self.page_hash = ""
        self.widget_ids: dict[str, str] = {}  # user key -> widget id
        self.fragments: dict[str, str] = {}  # user key -> fragment id holding it
        self.auto_rerun: tuple[float, str] | None = None  # (interval, fragment id)
        self.run: Run | None = None
        self.reader: asyncio.Task | None = None
        self.closed = False
        self.progress_text = ""  # the last progress bar's text (the training session's epoch)
        # The map layer's header as last sent: notice_ms > 0 when the browser answers a click
        # alone (ui/components/click_panel.py) and tells the server later; n test points.
        self.map_header: dict = {}
        self.pending_click: dict | None = None  # a click the server has not heard of yet
        self.notice_due = 0.0  # perf_counter() time its notice is sent

    async def connect(self) -> None:
        if self.sticky:
            self.cookie = await first_page_cookies(self.url, self.pin)
        ws_url = self.url.replace("http://", "ws://") + "/_stcore/stream"
        self.ws = await websockets.connect(
            ws_url, subprotocols=["streamlit"], origin=self.url, max_size=2**28,
            open_timeout=TIMEOUT,
            additional_headers={"Cookie": self.cookie} if self.cookie else None,
        )  # fmt: skip
        self.reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        self.closed = True
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                message = ForwardMsg()
                message.ParseFromString(data)
                self._handle(message)
        except (websockets.ConnectionClosed, asyncio.CancelledError):
            pass
        finally:
            if self.run is not None and not self.closed:
                self.run.exceptions.append("connection closed")
                self.run.done.set()

    def _handle(self, message: ForwardMsg) -> None:
        kind = message.WhichOneof("type")
        if kind == "navigation":
            for page in message.navigation.app_pages:
                self.pages[page.url_pathname] = page.page_script_hash
        elif kind == "new_session":
            for page in message.new_session.app_pages:
                self.pages[page.url_pathname] = page.page_script_hash
        elif kind == "delta" and self.run is not None:
            delta = message.delta
            element = delta.new_element
            which = (
                element.WhichOneof("type") if delta.WhichOneof("type") == "new_element" else None
            )
            if which == "progress":
                self.progress_text = element.progress.text
            if which == "bidi_component" and element.bidi_component.component_name.endswith(
                "map_layer"
            ):
                self.map_header = payload_header(element.bidi_component.bytes)
            if which == "exception":
                self.run.exceptions.append(element.exception.message[:200])
            elif which == "imgs":
                self.run.images.extend(img.url for img in element.imgs.imgs)
            if which is not None:
                # Searched in the element's wire bytes, not str(element): the text form of the
                # map page's decoder weights (200 KB-2 MB) took this one client ~20 ms per run,
                # during which every other session's answers waited unread.
                for widget_id in ID_RE.findall(element.SerializeToString()):
                    widget_id = widget_id.decode()
                    key = widget_id.rsplit("-", 1)[1]
                    self.widget_ids[key] = widget_id
                    if delta.fragment_id:
                        self.fragments[key] = delta.fragment_id
        elif kind == "auto_rerun":
            self.auto_rerun = (message.auto_rerun.interval, message.auto_rerun.fragment_id)
        elif kind == "stop_auto_rerun":
            self.auto_rerun = None
        elif kind == "script_finished" and self.run is not None:
            self.run.status = message.script_finished
            # 0 FINISHED_SUCCESSFULLY, 1 with compile error, 2 early for rerun, 3 fragment ok
            if message.script_finished != 2:
                self.run.done.set()

    async def rerun(
        self, page: str | None = None, widgets=(), fragment: str = "", kind: str = ""
    ) -> Run:
        """Send one rerun request and wait until the script (or fragment) has finished."""
        back = BackMsg()
        request = back.rerun_script
        if page is not None:
            if page not in self.pages:
                request.page_name = page  # the first request names the page by its path
            else:
                self.page_hash = self.pages[page]
        if self.page_hash:
            request.page_script_hash = self.page_hash
        request.query_string = ""
        for widget_id, setter in widgets:
            state = request.widget_states.widgets.add()
            state.id = widget_id
            setter(state)
        if fragment:
            request.fragment_id = fragment
        request.context_info.timezone = "UTC"
        request.context_info.locale = "en-US"
        request.context_info.url = f"{self.url}/{page or ''}"
        self.run = run = Run()
        start = time.perf_counter()
        await self.ws.send(back.SerializeToString())
        try:
            await asyncio.wait_for(run.done.wait(), TIMEOUT)
        except TimeoutError:
            raise InteractionError(f"{self.name}: no answer in {TIMEOUT:.0f} s") from None
        if run.exceptions:
            raise InteractionError(f"{self.name}: {run.exceptions[0]}")
        if kind and self.timeline is not None:
            self.timeline.append((start, time.perf_counter(), kind))
        if self.page_hash == "" and page in self.pages:
            self.page_hash = self.pages[page]
        return run

    def widget(self, key: str) -> str:
        if key not in self.widget_ids:
            raise InteractionError(f"{self.name}: no widget {key!r} on the page")
        return self.widget_ids[key]


def payload_header(payload: bytes) -> dict:
    """A component payload's JSON header: a frame's (runner/frames.py: big-endian length) or,
    from an older tree, the little-endian length the components read before the frames."""
    for order in ("big", "little"):
        size = int.from_bytes(payload[:4], order)
        if 4 + size <= len(payload):
            try:
                return json.loads(payload[4 : 4 + size])
            except ValueError:
                continue
    return {}


async def fetch(url: str, cookie: str = "") -> int:
    """GET a media file the way the browser does after the delta; returns its size."""

    def get() -> int:
        request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:
            return len(reply.read())

    return await asyncio.get_running_loop().run_in_executor(None, get)


async def first_page_cookies(url: str, pin: str = "") -> str:
    """The Cookie header a browser sends after its first page: what Set-Cookie gave it (and
    the proxy's cookie naming worker `pin`, if given, which the proxy then keeps)."""

    def get() -> str:
        sent = f"{COOKIE}={pin}" if pin else ""
        request = urllib.request.Request(url + "/", headers={"Cookie": sent} if sent else {})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:
            reply.read()
            cookies = reply.headers.get_all("Set-Cookie") or []
        return "; ".join([sent] * bool(sent) + [cookie.split(";", 1)[0] for cookie in cookies])

    return await asyncio.get_running_loop().run_in_executor(None, get)


def set_string(value: str):
    return lambda state: setattr(state, "string_value", value)


def set_trigger(state) -> None:
    state.trigger_value = True


def set_int(value: int):
    return lambda state: setattr(state, "int_value", value)


def set_json_trigger(value: object):
    return lambda state: setattr(state, "json_trigger_value", json.dumps(value))


def set_json_value(value: object):
    return lambda state: setattr(state, "json_value", json.dumps(value))


async def open_shared_model(session: Session) -> None:
    """Models page -> Load the shared model -> Latent map page."""
    await session.connect()
    await session.rerun(page="models")
    await session.rerun(
        page="models",
        widgets=[
            (session.widget("models_chosen"), set_string(MODEL_NAME)),
            (session.widget("models_load"), set_trigger),
        ],  # fmt: skip
    )
    await session.rerun(page="latent_map")


def events_widget(session: Session, key: str) -> str:
    """The widget id a components-v2 element's triggers travel under."""
    return "$$STREAMLIT_INTERNAL_KEY_" + session.widget(key) + "__events"


def click_event(session: Session, rng: random.Random) -> dict:
    """What map_layer.js sends for one click: on a test point half of the time (the server
    then takes that point's own mu), else on empty latent space."""
    n = int(session.map_header.get("n") or 0)
    at = int(time.time() * 1000)
    if n and rng.random() < 0.5:
        return {"x": 0.0, "y": 0.0, "index": rng.randrange(n), "at": at}
    return {"x": rng.uniform(-2.5, 2.5), "y": rng.uniform(-2.5, 2.5), "index": None, "at": at}


async def send_click(session: Session, event: dict, kind: str) -> None:
    """The fragment rerun that carries one click, and every picture it shows fetched (in
    parallel, as the browser does)."""
    run = await session.rerun(
        page="latent_map",
        widgets=[(events_widget(session, "map_layer"),
                  set_json_trigger([{"event": "click", "value": event}]))],
        fragment=session.fragments.get("map_layer", ""), kind=kind,
    )  # fmt: skip
    await asyncio.gather(
        *(fetch(session.url + u if u.startswith("/") else u, session.cookie) for u in run.images)
    )


async def click(session: Session, rng: random.Random, tally: Tally) -> None:
    """One click, as the page's browser code makes it.

    Where the page answers a click in the browser (the map layer's notice_ms > 0), the click
    costs the server nothing now: it becomes the session's notice, sent notice_ms after the
    last click (see idle) or before the session's next request. Else the click is the
    fragment rerun that draws the server's panel, and the student waits for it.
    """
    event = click_event(session, rng)
    kind = "point click" if event["index"] is not None else "empty click"
    tally.kinds[kind] = tally.kinds.get(kind, 0) + 1
    notice_ms = session.map_header.get("notice_ms") or 0
    if notice_ms:
        session.pending_click = event
        session.notice_due = time.perf_counter() + notice_ms / 1000
        return
    start = time.perf_counter()
    await send_click(session, event, "click")
    tally.clicks.append((time.perf_counter() - start) * 1000)


async def send_notice(session: Session, tally: Tally) -> None:
    """The waiting click's notice, if any: a fragment rerun no one waits for."""
    event, session.pending_click = session.pending_click, None
    if event is None:
        return
    start = time.perf_counter()
    await send_click(session, event, "click notice")
    tally.notices.append((time.perf_counter() - start) * 1000)


async def idle(session: Session, seconds: float, tally: Tally) -> None:
    """The student thinks for `seconds`; a notice falls due meanwhile is sent on time."""
    end = time.perf_counter() + seconds
    if session.pending_click is not None and session.notice_due <= end:
        await asyncio.sleep(max(0.0, session.notice_due - time.perf_counter()))
        await send_notice(session, tally)
    await asyncio.sleep(max(0.0, end - time.perf_counter()))


async def zoom(session: Session, rng: random.Random, tally: Tally) -> None:
    """A zoom or pan settles: the map layer reports the window (a fragment rerun)."""
    await send_notice(session, tally)  # the browser sends a waiting click first
    cx, cy, half = rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5), rng.uniform(0.5, 2.0)
    window = [cx - half, cx + half, cy - half, cy + half]
    start = time.perf_counter()
    await session.rerun(
        page="latent_map",
        widgets=[(session.widget("map_layer"), set_json_value({"window": window}))],
        fragment=session.fragments.get("map_layer", ""), kind="zoom",
    )  # fmt: skip
    tally.zooms.append((time.perf_counter() - start) * 1000)


async def key_press(session: Session, rng: random.Random, tally: Tally) -> None:
    """B, C or P on the Latent map: a full rerun with the new bubbles, colouring or prior."""
    await send_notice(session, tally)  # the browser sends a waiting click first
    action = rng.choice(["bubbles", "colour", "prior"])
    start = time.perf_counter()
    await session.rerun(
        page="latent_map",
        widgets=[(events_widget(session, "page_shortcuts"), set_json_trigger(
            [{"event": "key", "value": {"action": action, "at": int(time.time() * 1000)}}]))],
        kind="key press",
    )  # fmt: skip
    tally.keys.append((time.perf_counter() - start) * 1000)


async def open_interpolation(session: Session, tally: Tally) -> float:
    """Open the Interpolate page (it builds the path and the scrubber's frames) and come back."""
    await send_notice(session, tally)  # a page change sends a waiting click first
    start = time.perf_counter()
    run = await session.rerun(page="interpolate", kind="Interpolate page")
    for url in run.images[:1]:
        await fetch(session.url + url if url.startswith("/") else url, session.cookie)
    took = (time.perf_counter() - start) * 1000
    await session.rerun(page="latent_map", kind="Latent map page")
    return took


@dataclass
class Tally:
    opens: list[float] = field(default_factory=list)  # Models page -> Load -> Latent map
    clicks: list[float] = field(default_factory=list)  # click -> the server's panel, ms
    notices: list[float] = field(default_factory=list)  # a click's notice -> answer, ms
    zooms: list[float] = field(default_factory=list)
    keys: list[float] = field(default_factory=list)
    interps: list[float] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)  # clicks made, by kind
    browser: list[float] = field(default_factory=list)  # the Chromium student: click -> panel
    attempted: int = 0
    errors: list[str] = field(default_factory=list)
    timeline: list[tuple[float, float, str]] = field(default_factory=list)  # after the gate


class Gate:
    """Every session has opened the model (or failed to): the clicking starts together."""

    def __init__(self, sessions: int) -> None:
        self.left = sessions
        self.event = asyncio.Event()

    def arrive(self) -> None:
        self.left -= 1
        if self.left == 0:
            print("  every session has opened the model: the clicking starts", flush=True)
        if self.left <= 0:
            self.event.set()

    async def wait(self) -> None:
        await asyncio.wait_for(self.event.wait(), TIMEOUT * 3)


async def student(url: str, name: str, clicks: int, tally: Tally, seed: int, think: float,
                  gate: Gate | None = None, interpolate: bool = True,
                  sticky: bool = False, pin: str = "") -> None:  # fmt: skip
    rng = random.Random(seed)
    session = Session(url, name, tally.timeline, sticky)
    session.pin = pin
    try:
        try:
            tally.attempted += 1
            start = time.perf_counter()
            await open_shared_model(session)
            tally.opens.append((time.perf_counter() - start) * 1000)
        finally:
            if gate is not None:
                gate.arrive()
        if gate is not None:
            await gate.wait()
        # A class's rhythm: bursts of 1-4 clicks a moment apart, then a pause to look. Once
        # each, after a click of their own choosing (all at the same one would make a hundred
        # page runs land within a second): a zoom, a key (B, C or P), a visit to Interpolate.
        moments: dict[int, list[str]] = {}
        for extra in ("zoom", "key") + (("interpolate",) if interpolate else ()):
            moments.setdefault(rng.randrange(clicks), []).append(extra)
        burst_left = 0
        for i in range(clicks):
            if burst_left == 0:
                burst_left = rng.randint(1, 4)
                await idle(session, rng.uniform(1.0, 3.0) * think, tally)
            else:
                await idle(session, rng.uniform(0.15, 0.6) * think, tally)
            burst_left -= 1
            tally.attempted += 1
            await click(session, rng, tally)
            for extra in moments.get(i, ()):
                tally.attempted += 1
                if extra == "zoom":
                    await zoom(session, rng, tally)
                elif extra == "key":
                    await key_press(session, rng, tally)
                else:
                    tally.interps.append(await open_interpolation(session, tally))
        if session.pending_click is not None:  # the last click's notice, on time
            await idle(session, session.notice_due - time.perf_counter(), tally)
    except (InteractionError, OSError, websockets.WebSocketException, TimeoutError) as error:
        tally.errors.append(f"{name}: {error}"[:200])
    finally:
        await session.close()


async def trainer(url: str, stop: asyncio.Event, report: dict, started: asyncio.Event,
                  timeline: list, sticky: bool = False) -> None:  # fmt: skip
    """Start training on the Train page and poll it like the page does until `stop`.

    `started` is set once the page shows a finished epoch: the class starts clicking then.
    """
    session = Session(url, "trainer", timeline, sticky)
    try:
        await session.connect()
        await session.rerun(page="train")
        await session.rerun(
            page="train",
            widgets=[
                (session.widget("train_epochs"), set_int(1000)),
                (session.widget("train_start"), set_trigger),
            ],  # fmt: skip
        )
        pressed = time.perf_counter()
        polls = 0
        while not stop.is_set():
            if session.auto_rerun is None:
                raise InteractionError("the Train page did not start polling")
            interval, fragment = session.auto_rerun
            await asyncio.sleep(interval)
            run = await session.rerun(page="train", fragment=fragment, kind="training poll")
            polls += 1
            del run
            epoch = EPOCH_RE.match(session.progress_text)
            if epoch and int(epoch.group(1)) >= 1 and not started.is_set():
                report["start_seconds"] = time.perf_counter() - pressed
                started.set()
        report["polls"] = polls
        report["progress"] = session.progress_text
        await session.rerun(page="train", widgets=[(session.widget("train_stop"), set_trigger)])
    except (InteractionError, OSError, websockets.WebSocketException) as error:
        report["error"] = str(error)[:200]
    finally:
        started.set()  # never leave the class waiting
        await session.close()


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of one process, MB; (0, 0) once it has exited.

    An exited process holds no memory: gone from /proc, or a zombie whose status has no Vm*
    lines at all (HAProxy, say, when the hall stopped before the last sample: that was a
    KeyError 'VmRSS' at the end of a run).
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0.0
    fields = dict(line.partition(":")[::2] for line in status.splitlines())
    if "VmRSS" not in fields:
        return 0.0, 0.0
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(pid: int) -> tuple[float, float]:
    """(server, its children) CPU seconds so far; children that ended meanwhile are missed."""
    children_seconds = 0.0
    for child in child_pids(pid):
        try:
            children_seconds += cpu_seconds(child)
        except OSError:
            continue
    return cpu_seconds(pid), children_seconds


def tree_rss_mb(pid: int) -> float:
    """Resident memory of the server plus its children, MB (shared pages counted twice)."""
    return rss_mb(pid)[0] + sum(rss_mb(child)[0] for child in child_pids(pid))


def slow_click_company(timeline: list[tuple[float, float, str]], slow_ms: float) -> dict:
    """What was running alongside the class's clicks: for the clicks slower than `slow_ms` and
    for the others, how many runs of each kind overlapped one click on average.

    Other sessions' clicks count too ("click"); a click never overlaps its own session's runs.
    """
    clicks = [run for run in timeline if run[2] in ("click", "click notice")]
    company = {"slow": {}, "others": {}, "n_slow": 0, "n_others": 0}
    for click_run in clicks:
        start, end, _ = click_run
        group = "slow" if (end - start) * 1000 > slow_ms else "others"
        company["n_" + group] += 1
        for run in timeline:
            if run is not click_run and run[0] < end and run[1] > start:
                company[group][run[2]] = company[group].get(run[2], 0) + 1
    for group in ("slow", "others"):
        n = max(1, company["n_" + group])
        company[group] = {kind: count / n for kind, count in sorted(company[group].items())}
    return company


async def cpu_by_kind(url: str, servers: Servers, repeats: int, sticky: bool) -> dict:
    """Server CPU milliseconds per interaction, by kind, one session alone on the warm server.

    Each kind is repeated back to back and the server process's CPU (user + system, every
    thread, /proc) read before and after: per interaction = the difference / repeats. Clicks
    follow the class's rhythm in bursts of 1-4: where the browser answers them, the server's
    share is one notice per burst, and that is divided by the clicks made.
    """
    rng = random.Random(7)
    session = Session(url, "cpu", None, sticky)
    tally = Tally()
    costs: dict[str, float] = {}
    try:
        await open_shared_model(session)

        async def clicks_of(kind: str) -> None:
            made = 0
            while made < repeats:
                for _ in range(min(rng.randint(1, 4), repeats - made)):
                    event = click_event(session, rng)
                    while (event["index"] is not None) != (kind == "point click"):
                        event = click_event(session, rng)
                    made += 1
                    if session.map_header.get("notice_ms"):
                        session.pending_click = event
                    else:
                        await send_click(session, event, kind)
                await send_notice(session, tally)

        actions = {
            "point click": lambda: clicks_of("point click"),
            "empty click": lambda: clicks_of("empty click"),
            "zoom": lambda: repeat(lambda: zoom(session, rng, tally)),
            "key press (B, C, P)": lambda: repeat(lambda: key_press(session, rng, tally)),
            "Interpolate visit (there and back)": lambda: repeat(
                lambda: open_interpolation(session, tally), max(3, repeats // 10)
            ),
        }

        async def repeat(action, times: int = repeats) -> None:
            for _ in range(times):
                await action()

        for kind, action in actions.items():
            times = max(3, repeats // 10) if kind.startswith("Interpolate") else repeats
            before = servers.cpu_seconds()[0]
            await action()
            costs[kind] = (servers.cpu_seconds()[0] - before) * 1000 / times
    finally:
        await session.close()
    costs["click, points and empty space alike"] = (costs["point click"] + costs["empty click"]) / 2
    costs["notice_ms"] = session.map_header.get("notice_ms") or 0
    return costs


# Is the Latent map's click panel complete for the click on (x, y, index)? The browser's panel
# (ui/components/click_panel.js) says so itself; the server's panel of a tree without it is
# complete when its text names this click, every picture has loaded and no run is under way.
PANEL_DONE_JS = """([x, y, index, before]) => {
  const panel = document.querySelector('.st-key-map_click_panel .vx-click-panel');
  if (panel) {
    if (panel.dataset.complete !== 'true') return false;
    const s = JSON.parse(panel.dataset.shown || 'null');
    if (!s) return false;
    return index === null ? Math.abs(s.z[0] - x) < 1e-3 && Math.abs(s.z[1] - y) < 1e-3
                          : s.index === index;
  }
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
  const row = document.querySelector('.st-key-map_row');
  const text = row ? row.innerText : '';
  if (text === before) return false;
  if (!text.includes(index === null ? 'empty space' : `test point #${index}`)) return false;
  const imgs = [...row.querySelectorAll('[data-testid="stImage"] img')];
  return imgs.every((i) => i.complete && i.naturalWidth > 0) && (index === null || imgs.length >= 2);
}"""


async def chromium_student(url: str, clicks: int, out: list[float], seed: int,
                           gate: Gate | None = None, screenshot: Path | None = None) -> None:  # fmt: skip
    """A real Chromium tab on the shared model's Latent map: `clicks` clicks, on test points
    and on empty space in turn, a moment apart; each timed from the press to the complete
    panel (PANEL_DONE_JS), in ms, into `out`. With a gate: clicks once the class clicks."""
    from playwright.async_api import async_playwright

    from tests.e2e.driver import _EMPTY_SPOTS_JS, _LONELY_POINTS_JS, _TO_PAGE_JS

    rng = random.Random(seed)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await page.goto(f"{url}/latent_map?model={MODEL_NAME}", timeout=TIMEOUT * 1000)
            graph = page.locator(".st-key-map_chart .js-plotly-plot").first
            await graph.locator(".nsewdrag").first.wait_for(timeout=TIMEOUT * 3000)
            await page.wait_for_function(
                "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                timeout=TIMEOUT * 3000,
            )
            await page.wait_for_timeout(1500)  # the components mounted, their data decoded
            handle = await graph.element_handle()
            points = await page.evaluate(_LONELY_POINTS_JS, [handle, clicks])
            spots = await page.evaluate(_EMPTY_SPOTS_JS, [handle, clicks])
            if gate is not None:
                await gate.wait()
            for i in range(clicks):
                x, y, index = (*points[i // 2 % len(points)],) if i % 2 == 0 else (
                    *spots[i // 2 % len(spots)], None)  # fmt: skip
                index = None if index is None else int(index)
                px, py = await graph.evaluate(_TO_PAGE_JS, [x, y])
                row = page.locator(".st-key-map_row")
                before = await row.inner_text() if await row.count() else ""
                start = time.perf_counter()
                await page.mouse.click(px, py)
                await page.wait_for_function(PANEL_DONE_JS, arg=[x, y, index, before],
                                             polling="raf", timeout=TIMEOUT * 1000)  # fmt: skip
                out.append((time.perf_counter() - start) * 1000)
                await asyncio.sleep(rng.uniform(0.5, 1.5))
            if screenshot is not None:
                await page.screenshot(path=str(screenshot))
        finally:
            await browser.close()


@dataclass
class Servers:
    """What serves the class: one Streamlit process, or N workers and the proxy in front."""

    pids: list[int]
    proxy: int | None = None
    names: list[str] = field(default_factory=list)  # the workers' names behind the proxy

    def rss_mb(self) -> float:
        return sum(rss_mb(pid)[0] for pid in self.pids)

    def hwm_mb(self) -> float:
        return sum(rss_mb(pid)[1] for pid in self.pids)

    def tree_rss_mb(self) -> float:
        """Every server with its training processes, plus the proxy."""
        proxy = rss_mb(self.proxy)[0] if self.proxy else 0.0
        return sum(tree_rss_mb(pid) for pid in self.pids) + proxy

    def cpu_seconds(self) -> tuple[float, float, float]:
        """(servers, their children, proxy) CPU seconds so far."""
        each = [server_cpu_seconds(pid) for pid in self.pids]
        proxy = cpu_seconds(self.proxy) if self.proxy else 0.0
        return sum(e[0] for e in each), sum(e[1] for e in each), proxy


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def train_shared_model(root: Path, dataset_name: str) -> str:
    """The model every student opens: a short real training run, saved to the library."""
    import torch

    from vae import VAE, ModelConfig, TrainConfig, train
    from vae.data import load_dataset
    from vae.library import ModelLibrary

    data = load_dataset(dataset_name)
    torch.manual_seed(0)
    model = VAE(ModelConfig(input_dim=data.input_dim, image_shape=data.image_shape,
                            hidden=(256, 128), likelihood=data.likelihood))  # fmt: skip
    train(model, data.x_train, data.x_test, TrainConfig(epochs=3, batch_size=128,
                                                        snapshot_latents=False))  # fmt: skip
    ModelLibrary(root).save(MODEL_NAME, model, {"name": MODEL_NAME, "dataset": dataset_name})
    return f"{dataset_name} ({data.n_test:,} test points on the map)"


async def measure(url: str, servers: Servers, sessions: int, clicks: int, think: float,
                  interpolate: bool = True, training: bool = True, browser_clicks: int = 0,
                  cpu_repeats: int = 0) -> dict:  # fmt: skip
    sticky = servers.proxy is not None
    memory = {"start": servers.rss_mb()}
    # Phase 0: the first session on a fresh server pays its one-off imports; timed apart. One
    # per worker behind a proxy, each pinned to its worker, so that the class meets warm ones.
    cold = Tally()
    for pin in servers.names or [""]:
        await student(url, "cold", 2, cold, seed=99, think=0.1, interpolate=interpolate,
                      sticky=sticky, pin=pin)  # fmt: skip
    # Phase 1: one session alone on the warm server: the baseline.
    alone = Tally()
    # 60+ clicks: the ratio's denominator is a p95, which 24 clicks left at the mercy of one
    # slow click (alone p95 ranged 10-46 ms run to run).
    await student(
        url,
        "alone",
        max(40, clicks * 2),
        alone,
        seed=0,
        think=think,
        interpolate=interpolate,
        sticky=sticky,
    )
    if browser_clicks:  # the real Chromium student, alone on the warm server
        print("  the Chromium student, alone ...", flush=True)
        await chromium_student(url, browser_clicks, alone.browser, seed=1)
    costs = await cpu_by_kind(url, servers, cpu_repeats, sticky) if cpu_repeats else {}
    memory["after_alone"] = servers.rss_mb()
    # Phase 2: the class, plus one session training.
    crowd = Tally()
    stop_training = asyncio.Event()
    training_started = asyncio.Event()
    train_report: dict = {}
    if training:
        trainer_task = asyncio.create_task(
            trainer(url, stop_training, train_report, training_started, crowd.timeline, sticky)
        )
        # Training is under way (an epoch finished) before the class starts clicking.
        await asyncio.wait_for(training_started.wait(), TIMEOUT)
    peak = [0.0]

    async def sample() -> None:
        last_print = time.perf_counter()
        while True:
            peak[0] = max(peak[0], servers.tree_rss_mb())
            await asyncio.sleep(0.5)
            if time.perf_counter() - last_print > 15:
                last_print = time.perf_counter()
                print(f"  {len(crowd.clicks)} clicks, {len(crowd.errors)} errors, "
                      f"{servers.tree_rss_mb():.0f} MB", flush=True)  # fmt: skip

    sampler = asyncio.create_task(sample())
    print(f"  the class of {sessions} starts" + (" (training under way)" if training else ""),
          flush=True)  # fmt: skip
    started = time.perf_counter()
    # Where the CPU went during the class: the server, its training process, and this client
    # (which shares the machine: on 2 cores its protobuf parsing competes with the server).
    server_before, client_before = servers.cpu_seconds(), time.process_time()
    gate = Gate(sessions)
    watcher = (
        asyncio.create_task(chromium_student(
            url, browser_clicks, crowd.browser, seed=2, gate=gate,
            screenshot=ROOT / "artifacts" / "e2e" / "load_test_student.png"))
        if browser_clicks else None
    )  # fmt: skip
    await asyncio.gather(*[
        student(url, f"s{i:02d}", clicks, crowd, seed=i + 1, think=think, gate=gate,
                interpolate=interpolate, sticky=sticky)
        for i in range(sessions)
    ])  # fmt: skip
    if watcher is not None:
        try:
            await watcher
        except Exception as error:  # noqa: BLE001 - Playwright's errors, reported as errors
            crowd.errors.append(f"Chromium student: {error}"[:200])
    crowd_seconds = time.perf_counter() - started
    server_after = servers.cpu_seconds()
    cpu = {
        "server": server_after[0] - server_before[0],
        "training": server_after[1] - server_before[1],
        "proxy": server_after[2] - server_before[2],
        "client": time.process_time() - client_before,
    }
    stop_training.set()
    if training:
        await trainer_task
    sampler.cancel()
    memory["peak_under_load"] = max(peak[0], servers.tree_rss_mb())
    memory["hwm"] = servers.hwm_mb()
    return {"cold": cold, "alone": alone, "crowd": crowd, "train": train_report,
            "memory": memory, "crowd_seconds": crowd_seconds, "training": training, "cpu": cpu,
            "load_after": os.getloadavg()[0], "costs": costs}  # fmt: skip


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu_model()}, {os.cpu_count()} cores, load average {load:.1f} at start; {utc_stamp()}"


def p50_p95(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{percentile(values, 50):.0f} / {percentile(values, 95):.0f} ms"


def ratio_row(label: str, alone: list[float], crowd: list[float]) -> str:
    """A p95 row with the class's p95 as a multiple of the same thing alone."""
    if not alone or not crowd:
        return f"| {label} | {p50_p95(alone)} | {p50_p95(crowd)} |"
    a, c = percentile(alone, 95), percentile(crowd, 95)
    return f"| {label} | {a:.0f} ms | {c:.0f} ms (**{c / a:.1f}x** alone, target <= 3x) |"


def browser_row(alone: list[float], crowd: list[float]) -> str:
    """The Chromium student's p95, its ratio written as the issue asks: (N.Nx alone)."""
    if not alone or not crowd:
        return f"| browser click -> panel p95 | {p50_p95(alone)} | {p50_p95(crowd)} |"
    a, c = percentile(alone, 95), percentile(crowd, 95)
    return f"| browser click -> panel p95 (target <= 3x) | {a:.0f} ms | {c:.0f} ms ({c / a:.1f}x alone) |"


def summary(result: dict, sessions: int, clicks: int, data: str, where: str, command: str) -> str:
    alone, crowd = result["alone"], result["crowd"]
    extras = 2 + (1 if crowd.interps or alone.interps else 0)  # a zoom, a key, Interpolate
    planned = sessions * (clicks + 1 + extras)
    made = sum(crowd.kinds.values())
    done = len(crowd.opens) + made + len(crowd.zooms) + len(crowd.keys) + len(crowd.interps)
    mem = result["memory"]
    train = result["train"]
    in_browser = bool(result["costs"].get("notice_ms")) or bool(crowd.notices)
    lines = [
        f"## Load test: a classroom of {sessions} sessions"
        f"{'' if result['training'] else ' (no training)'} ({where})",
        "",
        f"`{command}`; shared model trained on "
        f"{data}; Streamlit's websocket protocol driven directly (one asyncio client), loopback, "
        "plus one real Chromium student. All sessions open the model at once; then each clicks "
        f"{clicks} times, half on test points, in bursts of 1-4 clicks with pauses, and once "
        "each zooms and presses B, C or P"
        + (" and opens Interpolate" if crowd.interps else "")
        + (", while the training session polls its progress." if result["training"] else ".")
        + (
            " The page answers clicks in the browser: the server hears of a click "
            f"{result['costs'].get('notice_ms', 0) / 1000:.1f} s after a burst's last one (a "
            "notice no one waits for)."
            if in_browser
            else " The server answers every click (its panel, awaited)."
        ),
        "",
        f"| | alone | class of {sessions}{' + training' if result['training'] else ''} |",
        "|---|---|---|",
        browser_row(alone.browser, crowd.browser),
        f"| browser click -> panel p50 | {percentile(alone.browser, 50):.0f} ms | "
        f"{percentile(crowd.browser, 50):.0f} ms |",
        ratio_row(
            "click -> server's panel p95 (the simulated students wait)", alone.clicks, crowd.clicks
        )
        if not in_browser
        else ratio_row("click notice -> answer p95 (no one waits)", alone.notices, crowd.notices),
        f"| zoom (the window reported) p50 / p95 | {p50_p95(alone.zooms)} | {p50_p95(crowd.zooms)} |",
        f"| key press B/C/P p50 / p95 | {p50_p95(alone.keys)} | {p50_p95(crowd.keys)} |",
        f"| open Interpolate p50 / p95 | {p50_p95(alone.interps)} | {p50_p95(crowd.interps)} |",
        f"| open the shared model (Models -> Load -> Latent map) p50 / p95 | "
        f"{percentile(alone.opens, 50):.0f} ms | {p50_p95(crowd.opens)} (all {sessions} at once) |",
        f"| the same, first session on a fresh server (one-off imports) | "
        f"{percentile(result['cold'].opens, 50):.0f} ms | |",
        f"| clicks made (point / empty) | {alone.kinds.get('point click', 0)} / "
        f"{alone.kinds.get('empty click', 0)} | {crowd.kinds.get('point click', 0)} / "
        f"{crowd.kinds.get('empty click', 0)} of {sessions * clicks} |",
        f"| server runs for those clicks | {len(alone.clicks) + len(alone.notices)} | "
        f"{len(crowd.clicks) + len(crowd.notices)} |",
        f"| interactions completed | | {done} of {planned} ({done / planned:.0%}) |",
        f"| errors | {len(alone.errors) + len(result['cold'].errors)} | {len(crowd.errors)} |",
    ]
    if result["costs"]:
        lines += ["", "Server CPU per interaction (one session alone, each kind repeated back to "
                  "back; the server process's user + system time):", "",
                  "| interaction | server CPU |", "|---|---|"]  # fmt: skip
        lines += [
            f"| {kind} | {ms:.2f} ms |"
            for kind, ms in result["costs"].items()
            if kind != "notice_ms"
        ]
    lines += [
        "",
        (
            f"Training session (runner: {result['runner']}): first epoch shown "
            f"{train.get('start_seconds', float('nan')):.1f} s after Start; "
            f"{train.get('polls', 0)} progress polls answered while the class "
            f'clicked (last: "{train.get("progress", "?")}")'
            f"{'; error: ' + train['error'] if 'error' in train else ''}. "
            if result["training"]
            else "No training session. "
        )
        + f"The class phase took {result['crowd_seconds']:.0f} s; load average "
        f"{result['load_after']:.1f} at the end. CPU used in it: server "
        f"{result['cpu']['server']:.1f} s, its children (training) "
        f"{result['cpu']['training']:.1f} s, "
        + (f"the proxy {result['cpu']['proxy']:.1f} s, " if result["cpu"]["proxy"] else "")
        + f"this client {result['cpu']['client']:.1f} s.",
        f"Memory (RSS): server {mem['start']:.0f} MB at start, {mem['after_alone']:.0f} MB after "
        f"one session; server + training process"
        f"{' + proxy' if result['cpu']['proxy'] else ''} {mem['peak_under_load']:.0f} MB peak under load "
        f"(server high-water mark {mem['hwm']:.0f} MB).",
    ]
    company = slow_click_company(crowd.timeline, 3 * percentile(alone.clicks + alone.notices, 95))
    if company["n_slow"]:

        def overlaps(group: str) -> str:
            return ", ".join(f"{n:.2f} {kind}" for kind, n in company[group].items()) or "none"

        lines.append(
            f"What ran alongside the class's clicks: the {company['n_slow']} clicks slower than 3x "
            f"the single session's p95 overlapped on average {overlaps('slow')}; the other "
            f"{company['n_others']} clicks overlapped {overlaps('others')}."
        )
    errors = result["cold"].errors + alone.errors + crowd.errors
    if errors:
        lines.append("")
        lines.append("Errors: " + "; ".join(errors[:5]))
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--clicks", type=int, default=12, help="clicks per session")
    parser.add_argument("--think", type=float, default=1.0,
                        help="up to this many seconds between a session's clicks")  # fmt: skip
    parser.add_argument("--dataset", default="digits", help="what the shared model learned")
    parser.add_argument("--no-interpolate", action="store_true",
                        help="sessions only click (no Interpolate page)")  # fmt: skip
    parser.add_argument("--no-train", action="store_true", help="no training session")
    parser.add_argument("--runner", choices=["process", "thread"], default="process",
                        help="where the Train page trains (the app's default: process)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=0,
                        help="N > 0: through HAProxy to N Streamlit workers (the lecture hall); "
                        "0: straight to one server (default)")  # fmt: skip
    parser.add_argument("--browser-clicks", type=int, default=16,
                        help="clicks of the real Chromium student (0: none)")  # fmt: skip
    parser.add_argument("--cpu-repeats", type=int, default=60,
                        help="repeats of each interaction timed for server CPU (0: none)")  # fmt: skip
    parser.add_argument("--app", type=Path, default=ROOT,
                        help="the checkout whose app.py is served (an older tree, to compare)")  # fmt: skip
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    if not 1 <= args.sessions <= 300 or not 1 <= args.clicks <= 100:
        parser.error("--sessions must be between 1 and 300 and --clicks between 1 and 100")
    if not 0 <= args.workers <= 8:
        parser.error("--workers must be between 0 and 8")

    where = machine()
    with tempfile.TemporaryDirectory(prefix="vx-load-") as folder:
        models = Path(folder) / "models"
        print(f"training the shared model on {args.dataset} ...", flush=True)
        data = train_shared_model(models, args.dataset)
        env = {**os.environ, "VAE_EXPLORER_MODELS": str(models),
               "VAE_EXPLORER_MIRROR": "http://127.0.0.1:9/",
               "VAE_EXPLORER_TRAIN_RUNNER": args.runner}  # fmt: skip
        (ROOT / "artifacts" / "e2e").mkdir(parents=True, exist_ok=True)

        def run(url: str, servers: Servers) -> dict:
            print(f"serving from {url} (pids {servers.pids}); measuring ...", flush=True)
            return asyncio.run(asyncio.wait_for(
                measure(url, servers, args.sessions, args.clicks, args.think,
                        not args.no_interpolate, not args.no_train, args.browser_clicks,
                        args.cpu_repeats),
                timeout=1800,
            ))  # fmt: skip

        if args.workers:
            with running_hall(args.workers, port=free_port(), bind="127.0.0.1", models=models,
                              logs=ROOT / "artifacts" / "hall", env=env) as hall:  # fmt: skip
                pids = [worker.process.pid for worker in hall.workers]
                names = [worker.name for worker in hall.workers]
                result = run(hall.url, Servers(pids, proxy=hall.proxy.pid, names=names))
            where += f"; through HAProxy to {args.workers} worker(s)"
        else:
            port = free_port()
            app = args.app.resolve()
            process = start_streamlit(app / "app.py", port, env, cwd=app)  # 127.0.0.1 only
            if app != ROOT:
                where += f"; serving {app}"
            try:
                result = run(f"http://127.0.0.1:{port}", Servers([process.pid]))
            finally:
                stop(process)
    result["runner"] = args.runner
    command = "bench/load_test.py " + " ".join(sys.argv[1:])
    text = summary(result, args.sessions, args.clicks, data, where, command)
    print(text)
    if args.record:
        with open(RESULTS, "a", encoding="utf-8") as handle:
            handle.write("\n" + text)
    crowd = result["crowd"]
    return 0 if not (crowd.errors or result["alone"].errors or result["cold"].errors) else 1


if __name__ == "__main__":
    raise SystemExit(main())
