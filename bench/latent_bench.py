"""Shared by the latent-map browser benchmarks: servers, Chromium, real data, timing in the page.

Every timing is taken inside the browser with performance.now(), from the pointer event to
the moment the new picture is in the DOM and decoded, so both sides of a ratio are measured
by the same clock in the same run.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model, utc_stamp  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, free_port, start_streamlit, stop  # noqa: E402
from vae.data.idx import read_idx_pair  # noqa: E402

MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
RESULTS = ROOT / "bench" / "RESULTS.md"

# Records performance.now() of every pointerdown (capture phase: before Plotly or React see it).
CLICK_CLOCK_JS = """
() => {
  if (window.__vxClock) return;
  window.__vxClock = true;
  window.addEventListener('pointerdown', () => { window.__vxT0 = performance.now(); }, true);
}
"""

# Resolves with ms from the last pointerdown until the nth st.image (or the nth match of an
# optional selector) shows a new, decoded src (or with null after 30 s: no new picture).
WAIT_NEW_IMAGE_JS = """
async ([before, nth, selector]) => {
  const deadline = performance.now() + 30000;
  while (performance.now() < deadline) {
    const imgs = document.querySelectorAll(selector || '[data-testid="stImage"] img');
    const img = imgs[nth];
    if (img && img.src !== before && img.complete && img.naturalWidth > 0) {
      return [performance.now() - window.__vxT0, img.src];
    }
    await new Promise(r => setTimeout(r, 2));
  }
  return [null, before];
}
"""


def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """The real MNIST test set: x (10000, 784) in [0, 1], y (10000,)."""
    images, labels = read_idx_pair(
        MNIST_DIR / "t10k-images-idx3-ubyte.gz", MNIST_DIR / "t10k-labels-idx1-ubyte.gz"
    )
    return (images.reshape(-1, 784) / np.float32(255)).astype(np.float32), labels


def fashion_train() -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's 60,000 training images: x (60000, 784) in [0, 1], y (60000,)."""
    images, labels = read_idx_pair(
        FASHION_DIR / "train-images-idx3-ubyte.gz", FASHION_DIR / "train-labels-idx1-ubyte.gz"
    )
    return (images.reshape(-1, 784) / np.float32(255)).astype(np.float32), labels


CACHE = ROOT / "artifacts" / "bench-cache"  # quick models, reused across runs (gitignored)


def quick_model(x: np.ndarray, epochs: int, seed: int = 0):
    """A 784-256-128-2 MLP VAE trained briefly on x: the encoder the maps are drawn from.

    Cached under artifacts/bench-cache by (data shape, checksum, epochs, seed): the benches
    time the app, not this training.
    """
    import torch

    from vae import VAE, ModelConfig, TrainConfig, train

    config = ModelConfig(input_dim=x.shape[1], image_shape=(28, 28), hidden=(256, 128))
    model = VAE(config)
    tag = f"{len(x)}-{float(x[:: max(1, len(x) // 1000)].sum()):.3f}-{epochs}-{seed}"
    cached = CACHE / f"quick-{tag}.pt"
    if cached.exists():
        model.load_state_dict(torch.load(cached, weights_only=True))
        return model.eval()
    train(model, x, None, TrainConfig(epochs=epochs, batch_size=128, seed=seed, device="cpu",
                                      snapshot_latents=False))  # fmt: skip
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), cached)
    return model.eval()


def save_harness_inputs(folder: Path, model, x: np.ndarray, y: np.ndarray, name: str) -> Path:
    """What bench/apps/latent_harness.py loads: weights (tensors only), config, data."""
    import torch

    torch.save(model.state_dict(), folder / "weights.pt")
    (folder / "config.json").write_text(json.dumps(model.config.to_dict()))
    np.savez(folder / "data.npz", x=x, y=y, name=name)
    return folder


def machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores; Chromium headless (SwiftShader); {utc_stamp()}"


@contextmanager
def server(script: Path, env_extra: dict[str, str] | None = None):
    """A Streamlit server on a free port for `script`; yields its URL."""
    env = dict(os.environ)
    env.setdefault("VAE_EXPLORER_MODELS", tempfile.mkdtemp(prefix="vx-bench-models-"))
    env["VAE_EXPLORER_MIRROR"] = "http://127.0.0.1:9/"
    env.update(env_extra or {})
    (ROOT / "artifacts" / "e2e").mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = start_streamlit(script, port, env)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def append_results(section: str) -> None:
    """Append one section to bench/RESULTS.md (another benchmark writes there too)."""
    with open(RESULTS, "a", encoding="utf-8") as handle:
        handle.write("\n" + section.rstrip() + "\n")


def wait(seconds: float) -> None:
    time.sleep(seconds)
