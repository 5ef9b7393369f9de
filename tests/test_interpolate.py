"""The interpolation scrubber's frames: sprite encoding, payload, and the server-wide cache.

References: each sprite tile must be exactly the picture ui.latent_images.to_image makes of
that frame (the strip and the Latent map use it), and the payload's path must be
vae.latent.interpolation_path itself.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ui.active_model import ActiveModel
from ui.components.scrubber import (
    MAP_POINTS,
    RAMP,
    build_frames,
    point_colors,
    scrub_payload,
    sprite_sheet,
)
from ui.interp_panel import (
    SCRUB_STEPS,
    animation_gif,
    model_cache_key,
    path_key,
    scrub_data,
    scrub_frames,
    strip_frames,
)
from ui.latent_images import to_image
from ui.view_cache import compute_latent_view
from vae import VAE, ModelConfig
from vae.latent import decode_latents, interpolation_path
from viz.latent_map import PALETTE

ROOT = Path(__file__).resolve().parent.parent


def _decode_url(url: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))


@pytest.fixture(scope="module")
def active() -> ActiveModel:
    from vae.data import Dataset

    torch.manual_seed(0)
    model = VAE(ModelConfig(input_dim=20, image_shape=(4, 5), hidden=(16,))).eval()
    x = np.random.default_rng(0).random((30, 20), dtype=np.float32)
    dataset = Dataset(
        name="tiny",
        x_train=x,
        x_test=x,
        y_train=None,
        y_test=None,
        image_shape=(4, 5),
        likelihood="bernoulli",
        label_kind=None,
        class_names=None,
        preprocessing={},
        description="4x5 noise",
    )
    return ActiveModel("test:interp", "tiny", model, {"dataset": "tiny"}, dataset, "session")


@pytest.mark.parametrize("n", [1, 7, 101])
def test_every_sprite_tile_is_the_picture_of_its_frame(n: int) -> None:
    rng = np.random.default_rng(n)
    decoded = rng.random((n, 12)).astype(np.float32)
    decoded[0] *= 9.0  # out of [0, 1]: stretched per frame, as to_image does
    sheet, columns = sprite_sheet(decoded, (3, 4))
    assert columns * ((n + columns - 1) // columns) >= n
    for i, x in enumerate(decoded):
        left, top = (i % columns) * 4, (i // columns) * 3
        tile = np.asarray(sheet.crop((left, top, left + 4, top + 3)))
        assert np.array_equal(tile, np.asarray(to_image(x, (3, 4), pixels=4)))


def test_frames_round_trip_through_the_data_url() -> None:
    z = np.linspace([-1.0, 0.0], [1.0, 2.0], 9)
    decoded = np.random.default_rng(1).random((9, 6)).astype(np.float32)
    frames = build_frames(z, decoded, (2, 3))
    sheet, columns = sprite_sheet(decoded, (2, 3))
    assert frames.columns == columns and frames.frame_shape == (2, 3)
    assert np.array_equal(np.asarray(_decode_url(frames.sprite)), np.asarray(sheet))
    # shared between sessions: nobody may write into the arrays
    with pytest.raises(ValueError):
        frames.z[0, 0] = 5.0
    with pytest.raises(ValueError):
        frames.decoded[0, 0] = 5.0


def test_payload_carries_the_path_a_map_sample_and_json_only() -> None:
    rng = np.random.default_rng(2)
    waypoints = np.array([[-2.0, -1.0], [0.5, 1.5], [2.0, 0.0]])
    z = interpolation_path(waypoints, 21, "spherical")
    frames = build_frames(z, rng.random((21, 4)), (2, 2))
    mu = rng.normal(size=(MAP_POINTS + 500, 2))
    mu[:600:7, 1] = np.nan  # a few broken encodings: never sent (JSON has no NaN)
    y = rng.integers(0, 10, size=len(mu))
    sent = json.dumps(scrub_payload(frames, waypoints, mu, y, "class"), allow_nan=False)
    payload = json.loads(sent)
    assert payload["steps"] == 21
    assert np.allclose(payload["path"], z, atol=1e-4)
    assert np.allclose(payload["waypoints"], waypoints)
    assert len(payload["points"]) == len(payload["colors"]) == MAP_POINTS  # capped
    assert payload["palette"] == list(PALETTE) and max(payload["colors"]) < len(PALETTE)
    x0, x1, y0, y1 = payload["bounds"]
    assert x0 <= z[:, 0].min() and z[:, 0].max() <= x1
    assert y0 <= z[:, 1].min() and z[:, 1].max() <= y1
    assert payload["sprite"]["columns"] == frames.columns and "vectors" not in payload


def test_payload_without_images_sends_the_decoded_values() -> None:
    z = np.linspace([0.0, 0.0], [1.0, 1.0], 5)
    decoded = np.arange(15, dtype=np.float32).reshape(5, 3)
    frames = build_frames(z, decoded, None)
    payload = scrub_payload(frames, z[[0, -1]], np.full((4, 2), np.inf), None, None)
    assert payload["points"] == []
    assert frames.sprite is None and "sprite" not in payload
    assert np.allclose(payload["vectors"], decoded)
    assert payload["colors"] is None and len(payload["palette"]) == 1


def test_continuous_labels_use_the_whole_ramp() -> None:
    palette, index = point_colors(np.array([0.0, 0.5, 1.0, np.nan]), "continuous")
    assert index.tolist() == [0, 2, len(palette) - 1, 0]
    assert point_colors(np.zeros(3), "continuous")[1].tolist() == [0, 0, 0]  # no spread


def test_frames_are_computed_once_per_model_path_and_mode(active: ActiveModel) -> None:
    key, path = model_cache_key(active), path_key([[-1.0, 0.0], [1.0, 0.5]])
    first = scrub_frames(key, path, "linear", active)
    assert scrub_frames(key, path, "linear", active) is first  # cached, not recomputed
    assert scrub_frames(key, path, "spherical", active) is not first
    assert len(first.z) == SCRUB_STEPS
    expected_z = interpolation_path(np.asarray(path), SCRUB_STEPS, "linear")
    assert np.allclose(first.z, expected_z)
    assert np.allclose(first.decoded, decode_latents(active.model, expected_z), atol=1e-6)
    # another model object under the same name never sees these frames
    other = ActiveModel(
        active.key, "tiny", VAE(active.model.config).eval(), {}, active.dataset, "session"
    )
    assert model_cache_key(other) != key


def test_two_sessions_own_data_never_share_the_mini_map(active: ActiveModel) -> None:
    """One shared model object, two sessions each with its own uploaded data: the decoded
    frames are shared, but each session's map sample comes from its own test points."""
    import dataclasses

    other_x = np.random.default_rng(9).random((30, 20), dtype=np.float32)
    other = dataclasses.replace(active, dataset=dataclasses.replace(active.dataset, x_test=other_x))
    views = [compute_latent_view(a.model, a.dataset) for a in (active, other)]
    key, path = model_cache_key(active), path_key([[-1.0, 0.0], [1.0, 0.5]])
    assert model_cache_key(other) == key  # the same model, so the frames may be shared
    payloads = [
        scrub_data(key, view.token, path, "linear", a, view)
        for a, view in zip((active, other), views, strict=True)
    ]
    for payload, view in zip(payloads, views, strict=True):
        assert np.allclose(payload["points"], view.mu, atol=1e-3)  # its own points
    assert payloads[0]["sprite"] == payloads[1]["sprite"]
    again = scrub_data(key, views[0].token, path, "linear", active, views[0])
    assert again is payloads[0]  # cached per (model, view)


def test_strip_and_gif_come_from_the_same_path(active: ActiveModel) -> None:
    key, path = model_cache_key(active), path_key([[0.0, -1.0], [0.0, 1.0], [1.0, 1.0]])
    z, decoded, strip = strip_frames(key, path, "linear", 5, active)
    assert np.allclose(z, interpolation_path(np.asarray(path), 5, "linear"))
    assert Image.open(io.BytesIO(strip)).format == "PNG"
    gif = Image.open(io.BytesIO(animation_gif(key, path, "linear", active)))
    forward = len(range(0, SCRUB_STEPS, 2))
    assert gif.format == "GIF" and gif.n_frames == 2 * forward - 2  # ping-pong loop


def test_page_scrubs_points_that_are_not_images() -> None:
    """A swiss roll's 3-D points: the scrubber gets the decoded values, the strip shows numbers."""
    from streamlit.testing.v1 import AppTest

    from vae.data import Dataset

    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    t = rng.random(200).astype(np.float32)
    dataset = Dataset(
        name="roll", x_train=x, x_test=x, y_train=t, y_test=t, image_shape=None,
        likelihood="gaussian", label_kind="continuous", class_names=None, preprocessing={},
        description="3-D points",
    )  # fmt: skip
    torch.manual_seed(0)
    model = VAE(ModelConfig(input_dim=3, hidden=(8,), likelihood="gaussian")).eval()
    active = ActiveModel("test:roll-interp", "roll", model, {"dataset": "roll"}, dataset, "session")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["vx_active_model"] = active
    at.switch_page("pages/interpolate.py").run()
    assert not at.exception, at.exception
    (scrub,) = [c for c in at.get("bidi_component") if c.key == "interp_scrub"]
    data = json.loads(scrub.proto.json)
    assert "sprite" not in data and np.asarray(data["vectors"]).shape == (SCRUB_STEPS, 3)
    assert data["palette"] == list(RAMP)  # coloured by the continuous label
    assert not at.get("image") and not at.get("download_button")  # no pictures to download
    assert sum("**(" in md.value for md in at.markdown) == 8  # the strip, as numbers


def test_clear_keeps_the_map_the_instructions_say_to_click_and_it_has_a_legend(
    active: ActiveModel,
) -> None:
    """Clear removed every waypoint and with them the map ("click the map below"), so a path
    could only be started again from the table; the path map had no legend."""
    from dataclasses import replace

    from streamlit.testing.v1 import AppTest

    labels = np.arange(len(active.dataset.x_test)) % 3
    data = replace(
        active.dataset,
        y_train=labels,
        y_test=labels,
        label_kind="class",
        class_names=("a", "b", "c"),
    )
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["vx_active_model"] = replace(active, dataset=data, key="test:interp-labels")
    at.switch_page("pages/interpolate.py").run()
    at.button(key="interp_clear").click().run()
    assert not at.exception, at.exception
    assert at.session_state["vx_path"] == []
    (chart,) = [c for c in at.get("plotly_chart") if "interp_map" in c.proto.id]
    layout = json.loads(chart.proto.spec)["layout"]
    assert layout.get("showlegend") is not False
    names = {
        t.get("name")
        for t in json.loads(chart.proto.spec)["data"]
        if t.get("showlegend") is not False
    }
    assert len(names) >= 2  # one entry per class
    assert any(c.key == "interp_map_click" for c in at.get("bidi_component"))  # still clickable
    assert "two waypoints" in " ".join(i.value for i in at.info)
