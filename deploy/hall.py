"""A lecture hall on one machine: N Streamlit workers of the app behind HAProxy.

Every worker is a plain `streamlit run app.py` on a loopback port; HAProxy (deploy/haproxy.cfg.in)
is the one address students open, and pins each browser to one worker with a cookie. The
workers share one model library (VAE_EXPLORER_MODELS), so a model saved through any of them is
listed by all. Used by scripts/serve-hall.sh, tests/test_hall.py and bench/load_test.py.

No torch, no Streamlit imported here: this process only starts, watches and stops the others.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = Path(__file__).with_name("haproxy.cfg.in")
COOKIE = "vx_worker"  # HAProxy's sticky-session cookie: the worker's name
HEALTH_PATH = "/_stcore/health"  # Streamlit's own: "ok" once the server is up
STARTUP_SECONDS = 90.0
STOP_SECONDS = 15.0


class HallError(RuntimeError):
    """The hall cannot start: no HAProxy, a port taken, a worker that did not come up."""


@dataclass
class Worker:
    name: str  # also its cookie value
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Hall:
    """The running hall: its workers, the proxy, and where their logs are."""

    url: str
    workers: list[Worker]
    proxy: subprocess.Popen
    config: Path
    logs: Path
    models: Path  # the model library every worker shares
    _stopped: bool = field(default=False, repr=False)

    def worker(self, name: str) -> Worker:
        return next(w for w in self.workers if w.name == name)

    def stop(self) -> None:
        """The proxy first (no new requests), then every worker; each gets SIGTERM, then KILL."""
        if not self._stopped:
            self._stopped = True
            stop_processes([self.proxy, *(w.process for w in self.workers)])


def stop_processes(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to each in order (Streamlit then stops its training processes), KILL if stuck."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)


def haproxy_binary() -> str | None:
    """Path of the haproxy executable, or None (Debian puts it in /usr/sbin, off most PATHs)."""
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def render_config(servers: list[tuple[str, str, int]], bind: str, port: int) -> str:
    """The HAProxy configuration for `servers` = [(name, host, port), ...]."""
    lines = [f"    server {name} {host}:{p} cookie {name}" for name, host, p in servers]
    return TEMPLATE.read_text(encoding="utf-8").format(
        bind=bind, port=port, cookie=COOKIE, servers="\n".join(lines)
    )


def jobs_per_worker(workers: int, environ: os._Environ | dict = os.environ) -> str:
    """Each worker's cap on training jobs (VAE_EXPLORER_MAX_JOBS, see vae/job.py).

    One server trains at most 2 models at once; N workers each get 1 unless the operator set
    the variable, so a hall trains at most max(2, N) at once, each in its own niced process.
    """
    return environ.get("VAE_EXPLORER_MAX_JOBS") or str(max(1, 2 // workers))


def worker_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",  # only the proxy is reachable from outside
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip


def is_healthy(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url + HEALTH_PATH, timeout=timeout) as reply:
            return reply.read().strip() == b"ok"
    except OSError:
        return False


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise HallError(f"{what} exited with code {process.returncode}; {log}:\n{tail}")
        if is_healthy(url):
            return
        time.sleep(0.2)
    raise HallError(
        f"{what} did not answer {HEALTH_PATH} within {STARTUP_SECONDS:.0f} s; see {log}"
    )


def _spawn(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    # Its own session: a Ctrl-C in the terminal reaches only the launcher, which then stops
    # the proxy before the workers (no student is sent to a worker that is going away).
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def start_hall(
    workers: int,
    port: int = 8501,
    bind: str = "0.0.0.0",
    models: Path | None = None,
    logs: Path | None = None,
    env: dict[str, str] | None = None,
) -> Hall:
    """Start `workers` Streamlit workers and HAProxy on bind:port in front; returns once the
    proxy answers. Raises HallError (after stopping what it started) if any part fails."""
    if workers < 1:
        raise HallError("a hall needs at least one worker")
    haproxy = haproxy_binary()
    if haproxy is None:
        raise HallError("HAProxy is not installed (Debian/Ubuntu: sudo apt-get install haproxy)")
    logs = Path(logs or tempfile.mkdtemp(prefix="vx-hall-"))
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ if env is None else env)
    if models is not None:
        env["VAE_EXPLORER_MODELS"] = str(models)
    # One library for every worker: an absolute path, whatever each one's working directory.
    env["VAE_EXPLORER_MODELS"] = str(
        Path(env.get("VAE_EXPLORER_MODELS") or ROOT / "models").resolve()
    )
    env["VAE_EXPLORER_MAX_JOBS"] = jobs_per_worker(workers, env)
    ports = [free_port() for _ in range(workers)]  # loopback only: students see the proxy
    started: list[Worker] = []
    proxy = None
    try:
        for i, worker_port in enumerate(ports, start=1):
            log = logs / f"worker-{i}.log"
            started.append(
                Worker(f"w{i}", worker_port, _spawn(worker_command(worker_port), log, env), log)
            )
        for worker in started:
            _wait_healthy(worker.url, worker.process, worker.log, f"worker {worker.name}")
        config = logs / "haproxy.cfg"
        config.write_text(
            render_config([(w.name, "127.0.0.1", w.port) for w in started], bind, port)
        )
        check = subprocess.run(
            [haproxy, "-c", "-q", "-f", str(config)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise HallError(f"HAProxy refused {config}: {check.stdout}{check.stderr}".strip())
        proxy_log = logs / "haproxy.log"
        proxy = _spawn([haproxy, "-db", "-f", str(config)], proxy_log, env)
        host = "127.0.0.1" if bind in ("0.0.0.0", "::", "") else bind
        url = f"http://{host}:{port}"
        _wait_healthy(url, proxy, proxy_log, "HAProxy")
        return Hall(url=url, workers=started, proxy=proxy, config=config, logs=logs,
                    models=Path(env["VAE_EXPLORER_MODELS"]))  # fmt: skip
    except BaseException:
        stop_processes([p for p in [proxy, *(w.process for w in started)] if p is not None])
        raise


@contextlib.contextmanager
def running_hall(workers: int, **options) -> Iterator[Hall]:
    hall = start_hall(workers, **options)
    try:
        yield hall
    finally:
        hall.stop()


def lan_address() -> str | None:
    """This machine's address on its local network, as students would type it (no packet is
    sent: connecting a UDP socket only picks the outgoing interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))
            address = sock.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def serve(workers: int, port: int, bind: str) -> int:
    """scripts/serve-hall.sh: start the hall, print where it is, wait for Ctrl-C, stop it all."""
    stop_now = {"signal": None}

    def on_signal(signum, _frame) -> None:
        stop_now["signal"] = signum

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        hall = start_hall(workers, port=port, bind=bind)
    except HallError as error:
        print(f"serve-hall: {error}", file=sys.stderr)
        return 1
    lan = lan_address() if bind in ("0.0.0.0", "::") else None
    print(f"vae-explorer lecture hall: {workers} worker(s) behind HAProxy", flush=True)
    print(f"  on this machine: {hall.url}")
    if lan:
        print(f"  for students:    http://{lan}:{port}")
    print(f"  model library:   {hall.models}")
    print(f"  logs:            {hall.logs}")
    print("Press Ctrl-C to stop every worker and the proxy.", flush=True)
    try:
        while stop_now["signal"] is None:
            dead = [w.name for w in hall.workers if w.process.poll() is not None]
            if hall.proxy.poll() is not None:
                print("serve-hall: HAProxy exited; stopping the workers", file=sys.stderr)
                return 1
            if dead and len(dead) == len(hall.workers):
                print("serve-hall: every worker exited; stopping", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        print("stopping ...", flush=True)
        hall.stop()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        description="N Streamlit workers of vae-explorer behind HAProxy."
    )
    parser.add_argument(
        "workers", type=int, nargs="?", default=2, help="how many workers (default 2)"
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("HALL_PORT", "8501")),
                        help="the port students open (default 8501, or $HALL_PORT)")  # fmt: skip
    parser.add_argument("--bind", default=os.environ.get("HALL_BIND", "0.0.0.0"),
                        help="the proxy's address (default 0.0.0.0: every network interface)")  # fmt: skip
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= 64:
        parser.error("the number of workers must be between 1 and 64")
    return serve(args.workers, args.port, args.bind)


if __name__ == "__main__":
    raise SystemExit(main())
