"""Wherever the prior's circles are drawn, one latent unit is as long on both axes: measured in
Chromium on the figures as Plotly lays them out (a layout can ask for equal aspect and still
not get it: two constraints on one axis, and Plotly drops one).

Each figure is written as a self-contained HTML file (plotly.js inline: nothing is fetched)
and opened at a wide and a narrow width; every x/y axis pair's pixels per unit are read back.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from viz.aggregate import density_figure
from viz.latent_map import latent_map_figure

pytestmark = pytest.mark.slow

_PX_PER_UNIT_JS = """() => {
  const fl = document.querySelector('.js-plotly-plot')._fullLayout;
  return Object.keys(fl).filter(k => /^xaxis\\d*$/.test(k)).map(xa => {
    const x = fl[xa], y = fl[fl[xa].anchor.replace('y', 'yaxis')];
    return [xa, x._length / (x.range[1] - x.range[0]), y._length / (y.range[1] - y.range[0])];
  });
}"""


def _gaussian_grid():
    xs = ys = np.linspace(-4, 4, 60)
    x, y = np.meshgrid(xs, ys)
    log_p = -0.5 * (x**2 + y**2) - np.log(2 * np.pi)
    return SimpleNamespace(xs=xs, ys=ys, log_q=log_p + 0.1 * x, log_p=log_p)


def _figures():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(500, 2)).astype(np.float32)
    sigma = np.full_like(mu, 0.2)
    return {
        "aggregate": density_figure(_gaussian_grid()),
        "latent map": latent_map_figure(mu, sigma, rng.integers(0, 10, 500), prior_contours=True),
    }


@pytest.mark.parametrize("name", ["aggregate", "latent map"])
@pytest.mark.parametrize("width", [1400, 1000])
def test_the_priors_circles_are_round(browser, tmp_path, name, width):
    fig = _figures()[name]
    fig.update_layout(width=width - 320)  # the page's width beside the sidebar
    html = tmp_path / "figure.html"
    fig.write_html(html, include_plotlyjs=True, full_html=True)
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto(html.as_uri())
        page.wait_for_function(
            "() => document.querySelector('.js-plotly-plot')?._fullLayout?._size"
        )
        measured = page.evaluate(_PX_PER_UNIT_JS)
    finally:
        page.close()
    assert measured
    for axis, x_px, y_px in measured:
        assert x_px == pytest.approx(y_px, rel=1e-3), (name, width, axis, x_px, y_px)
