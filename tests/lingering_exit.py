"""A training child that lingers after its last frame, as a busy machine makes it: the test
decides when its interpreter may exit (a sitecustomize on the child's PYTHONPATH holds its exit
until a gate file appears), and checks that nothing is left behind once it has.

Used by the tests of "done when the last frame has arrived, not when the child has exited"
(issue 18: 20 of a 47.6 s digits run were the child's exit)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HOOK = """
import atexit, os, time
from pathlib import Path

def _hold_the_exit(gate=Path(os.environ["VAE_TEST_EXIT_GATE"])):
    deadline = time.monotonic() + 300  # never forever, whatever happens to the test
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.05)

atexit.register(_hold_the_exit)  # registered first: runs after every other exit handler
"""


@dataclass
class ExitGate:
    gate: Path
    temp_dir: Path  # the child's TMPDIR: empty once it has gone

    def release(self) -> None:
        self.gate.touch()


def hold_child_exits(tmp_path: Path, monkeypatch) -> ExitGate:
    """Every training child started from now on waits at its exit for ExitGate.release()."""
    from runner.worker import close_all_workers

    close_all_workers()  # a warm spare would have started without the hook
    hook = tmp_path / "exit_hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    temp_dir = tmp_path / "child_tmp"
    temp_dir.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(hook))
    monkeypatch.setenv("VAE_TEST_EXIT_GATE", str(tmp_path / "exit_gate"))
    monkeypatch.setenv("TMPDIR", str(temp_dir))
    return ExitGate(tmp_path / "exit_gate", temp_dir)


def running(pid: int) -> bool:
    """Still running (a zombie, exited but not reaped, counts as not running)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def reaped(pid: int) -> bool:
    """Exited and reaped by its parent: no process table entry left, not even a zombie."""
    return not Path(f"/proc/{pid}").exists()
