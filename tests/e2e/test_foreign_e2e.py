"""A foreign model (ONNX encoder and decoder imported into the library) in Chromium: its
Latent map, a click decoded (in the browser: the graph is a chain of layers it runs),
a data point's panel, and the Inference lab on it. Screenshots: artifacts/e2e/foreign_*.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.driver import (
    empty_spots,
    exceptions,
    keyed_graph,
    lonely_points,
    to_page,
    wait_idle,
)

MODEL = "their fashion vae"
MAP_PICTURE = ".st-key-map_decoded img"  # ui/components/map_decoder.py's picture


@pytest.fixture(scope="module")
def foreign_url(library: Path, library_url: str) -> str:
    """The shared server (tests/e2e/conftest.py), the foreign model added to its library."""
    from tests.foreign_graphs import card, shipped_decoder, shipped_encoder
    from vae.data import load_dataset
    from vae.foreign.model import ForeignVAE
    from vae.foreign.probe import validate_foreign
    from vae.library import ModelLibrary
    from vae.metadata import imported_metadata

    images = load_dataset("fashion-mnist").x_test
    validated = validate_foreign(shipped_encoder(), shipped_decoder(), card(), images)
    model = ForeignVAE(validated.encoder, validated.decoder, card())
    ModelLibrary(library).save(MODEL, model, imported_metadata(MODEL, card(), validated.report, {}))
    return library_url


def test_a_foreign_models_map_click_and_inference_lab(browser, foreign_url, artifacts_dir):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(foreign_url + f"/latent_map?model={MODEL}")
    page.get_by_text(f"Model: {MODEL}").first.wait_for(timeout=120_000)
    gd = keyed_graph(page, "map_chart")
    wait_idle(page, timeout=120)
    assert gd.evaluate("gd => gd._fullData.reduce((n, t) => n + (t._length || 0), 0)") > 9000

    # Its decoder is a chain of Gemm and SiLU: the browser draws the picture of the clicked
    # z from the graph's weights, as for a native model (ui/components/map_decoder.js).
    page.mouse.click(*to_page(gd, *empty_spots(gd, 1)[0]))
    page.get_by_text("what the decoder imagines at z").wait_for(timeout=60_000)
    page.wait_for_function(
        "() => (document.querySelector(PICTURE) || {}).src?.startsWith('data:image/png')".replace(
            "PICTURE", repr(MAP_PICTURE)
        ),
        timeout=60_000,
    )
    wait_idle(page, timeout=60)
    page.screenshot(path=str(artifacts_dir / "foreign_map_click.png"), full_page=True)

    x, y, index = lonely_points(gd, 1)[0]
    page.mouse.click(*to_page(gd, x, y))
    page.get_by_text(f"test point #{index}").first.wait_for(timeout=60_000)
    page.get_by_text("decoded from μ").first.wait_for(timeout=60_000)
    wait_idle(page, timeout=60)
    page.screenshot(path=str(artifacts_dir / "foreign_map_point.png"), full_page=True)
    assert not exceptions(page)

    page.locator('[data-testid="stSidebarNav"] a', has_text="Inference lab").click()
    page.get_by_text(f"Last clicked on the Latent map (#{index})").wait_for(timeout=120_000)
    page.get_by_text("estimators of log p(x) against k").wait_for(timeout=240_000)
    wait_idle(page, timeout=180)
    assert page.get_by_text("exact posterior p(z|x) against q").count()
    assert page.get_by_text("log p(x), exact (quadrature)").count()
    page.screenshot(path=str(artifacts_dir / "foreign_inference.png"), full_page=True)
    assert not exceptions(page)
    context.close()
