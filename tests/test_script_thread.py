"""The CPU thread policy holds on every thread that runs the app's code, fragments included
(issue 21: a click's fragment ran on a fresh thread and decoded on torch's default count)."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import numpy as np
import torch

import vae.device
from ui.script_thread import on_thread_policy
from vae import VAE, ModelConfig
from vae.latent import decode_latents

ROOT = Path(__file__).resolve().parents[1]


def on_a_fresh_thread(work) -> None:
    """Run `work` on a new thread, as Streamlit runs each script or fragment run."""
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()


def a_model_noting_its_decode_threads() -> tuple[VAE, list[int]]:
    """A model whose decoder notes how many intra-op threads torch gives it."""
    model = VAE(ModelConfig(input_dim=4, latent_dim=2, hidden=(8,)))
    seen: list[int] = []
    model.decoder.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    return model, seen


def test_a_fragment_decodes_on_the_threads_the_policy_says_on_a_fresh_thread(monkeypatch):
    policy = 1
    monkeypatch.setattr(vae.device, "interactive_threads", lambda cpu_count=None: policy)
    before = torch.get_num_threads()
    # What a fresh script thread may find: torch hands a new thread the count set last anywhere
    # in the process (a training thread, a block that restored its own count), here 3.
    on_a_fresh_thread(lambda: torch.set_num_threads(3))
    try:
        model, seen = a_model_noting_its_decode_threads()
        z = np.zeros((1, 2), np.float32)
        on_a_fresh_thread(lambda: decode_latents(model, z))  # without the policy: the bug
        on_a_fresh_thread(on_thread_policy(lambda: decode_latents(model, z)))
        assert seen == [3, policy]
    finally:
        on_a_fresh_thread(lambda: torch.set_num_threads(before))


def test_every_fragment_of_the_app_follows_the_policy():
    """Pages and ui modules declare fragments with ui.script_thread.fragment, never st.fragment."""
    offenders = []
    for path in sorted([*ROOT.joinpath("ui").rglob("*.py"), *ROOT.joinpath("pages").glob("*.py")]):
        if path.name == "script_thread.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr
                in (
                    "fragment",
                    "experimental_fragment",
                )
                and isinstance(node.value, ast.Name)
                and node.value.id == "st"
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_app_py_puts_each_full_run_on_the_policy():
    source = (ROOT / "app.py").read_text()
    calls = {
        n.func.id
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    assert "follow_thread_policy" in calls
