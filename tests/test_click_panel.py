"""The browser's click panel, its Python side and its arithmetic (ui/components/click_panel.py,
ui/components/click_panel.js, ui/latent_panel.epsilon).

The atlas is checked against the pictures ui.latent_images.to_image makes and cut back out of
its decoded PNG; the payload against its own layout; eps against N(0, I) by its moments and
against the browser's generator run in node; the browser's KL against vae.latent's.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runner.frames import read_frame
from ui.components.click_panel import (
    atlas_picture,
    atlas_sheet,
    build_atlas,
    panel_payload,
    picture_levels,
)
from ui.components.map_layer import MapClick
from ui.latent_images import to_image
from ui.latent_panel import epsilon
from ui.view_cache import LatentView
from vae.latent import kl_per_example

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "ui" / "components" / "web"
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def a_view(n: int = 23, shape=(5, 4), standardised: bool = False) -> LatentView:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1.5, (n, shape[0] * shape[1])) if standardised else rng.random((n, 20))
    mu = rng.normal(size=(n, 2)).astype(np.float32)
    sigma = rng.uniform(0.05, 1.2, (n, 2)).astype(np.float32)
    return LatentView(
        x=x.astype(np.float32),
        y=rng.integers(0, 3, n),
        mu=mu,
        sigma=sigma,
        kl=kl_per_example(mu, sigma),
        recon_nll=np.zeros(n, np.float32),
        label_kind="class",
        class_names=("a", "b<script>", "c"),
    )


@pytest.mark.parametrize("standardised", [False, True])
def test_each_atlas_picture_is_the_picture_the_panel_showed(standardised: bool) -> None:
    view = a_view(standardised=standardised)
    levels = picture_levels(view.x, (5, 4))
    for i in range(len(view.x)):
        assert np.array_equal(levels[i], np.asarray(to_image(view.x[i], (5, 4), pixels=5)))


def test_the_atlas_png_gives_every_picture_back_in_rows_of_cols() -> None:
    view = a_view(n=23)
    atlas = build_atlas(view, (5, 4))
    sheet = np.asarray(Image.open(io.BytesIO(atlas.png)))
    rows = -(-23 // atlas.cols)
    assert sheet.shape == (rows * 5, atlas.cols * 4) and sheet.dtype == np.uint8
    levels = picture_levels(view.x, (5, 4))
    for i in range(23):
        assert np.array_equal(atlas_picture(sheet, (5, 4), atlas.cols, i), levels[i])
    # A last row not full: 23 pictures in rows of 10 leave 7 black places.
    small = atlas_sheet(levels, cols=10)
    assert small.shape == (15, 40) and not small[10:, 12:].any()


def test_the_payload_carries_the_arrays_and_the_png_once() -> None:
    view = a_view()
    atlas = build_atlas(view, (5, 4))
    kwargs = dict(
        target="chart", decoder="d" * 16, likelihood="bernoulli", pixels=168,
        clicked=MapClick((0.5, -1.0), 3), seed=2, n_samples=6,
    )  # fmt: skip
    header, arrays = read_frame(io.BytesIO(panel_payload(atlas, view, with_data=True, **kwargs)))
    assert header["index"] == 3 and header["clicked"] == [0.5, -1.0] and header["seed"] == 2
    assert header["class_names"] == ["a", "b<script>", "c"]  # as text: the JS sets textContent
    assert np.array_equal(arrays["mu"], view.mu) and np.array_equal(arrays["sigma"], view.sigma)
    assert np.array_equal(arrays["labels"], view.y.astype(np.float32))
    assert arrays["png"].tobytes() == atlas.png
    header, arrays = read_frame(io.BytesIO(panel_payload(atlas, view, with_data=False, **kwargs)))
    assert arrays == {} and header["id"] == atlas.id and not header["data"]


def test_the_atlas_id_names_its_content() -> None:
    view = a_view()
    assert build_atlas(view, (5, 4)).id == build_atlas(view, (5, 4)).id
    other = a_view()
    other.mu[0, 0] += 1
    assert build_atlas(other, (5, 4)).id != build_atlas(view, (5, 4)).id


def test_epsilon_is_standard_normal_and_fixed_by_seed_and_point() -> None:
    draws = np.vstack([epsilon(0, i, 6) for i in range(4000)])  # 24k pairs
    assert abs(draws.mean()) < 0.03 and abs(draws.std() - 1) < 0.03
    assert abs(np.corrcoef(draws.T)[0, 1]) < 0.03
    assert np.array_equal(epsilon(3, 17), epsilon(3, 17))
    assert not np.allclose(epsilon(3, 17), epsilon(4, 17))
    assert not np.allclose(epsilon(3, 17), epsilon(3, 18))


@needs_node
def test_the_browser_draws_the_same_eps_and_kl(tmp_path: Path) -> None:
    # The browser's modules as they are served, in a folder node reads as ES modules.
    web = shutil.copytree(WEB, tmp_path / "web")
    (web / "package.json").write_text('{"type": "module"}', encoding="utf-8")
    module = web / "click_panel.js"
    cases = [(0, 0), (0, 9999), (7, 123), (2**20, 59_999)]
    view = a_view()
    script = f"""
import {{ epsilon, klDivergence }} from {json.dumps(module.as_uri())};
const cases = {json.dumps(cases)};
const mu = {json.dumps(view.mu.tolist())}, sigma = {json.dumps(view.sigma.tolist())};
console.log(JSON.stringify({{
  eps: cases.map(([s, i]) => epsilon(s, i, 6)),
  kl: mu.map((m, i) => klDivergence(m, sigma[i])),
}}));
"""
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    for (seed, index), eps in zip(cases, result["eps"], strict=True):
        assert np.allclose(eps, epsilon(seed, index, 6), rtol=0, atol=1e-12), (seed, index)
    assert np.allclose(result["kl"], view.kl, rtol=1e-5)
