"""Draw & encode: draw or upload a picture, watch its μ and bubble move, send it on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from runner.sandbox import parse_picture
from ui.components.drawing_pad import drawing_pad, drawn_value, pad_map, upload_input
from ui.guards import require_active_model
from ui.latent_images import to_image
from ui.script_thread import fragment
from ui.session_keys import DRAW_CURRENT_KEY, DRAW_UPLOAD_SEEN_KEY, INFERENCE_INPUT_KEY
from ui.text import plain
from ui.view_cache import latent_view
from vae.data import DataError
from vae.latent import encode_dataset
from viz.image_input import measure_framing

INFERENCE_PAGE = "pages/inference.py"
PAD_KEY = "draw_pad"

st.title("Draw & encode")
active = require_active_model()
model = active.model
shape = model.config.image_shape or active.dataset.image_shape
if shape is None or shape[0] * shape[1] != model.config.input_dim:
    st.info(
        f"This model's data ({plain(active.dataset.name)}) are not images, so there is nothing to "
        "draw. Train a model on digits, MNIST or Fashion-MNIST (or your own images) first."
    )
    st.stop()
if model.config.latent_dim != 2:
    st.info(
        f"This model has a {model.config.latent_dim:d}-D latent space; the pad draws μ and its "
        "bubble on the 2-D map, so it needs a model with latent dimension 2."
    )
    st.stop()

view = latent_view(active)
h, w = shape
framing = view.derived(("pad-framing",), lambda: measure_framing(view.x.reshape(-1, h, w)))
the_map = view.derived(
    ("pad-map",), lambda: pad_map(view.mu, view.y, view.label_kind, view.class_names)
)
current = st.session_state[DRAW_CURRENT_KEY]
if current is not None and len(current["x"]) != model.config.input_dim:  # another model's
    st.session_state[DRAW_CURRENT_KEY] = current = None

st.caption(
    f"Draw a {plain(active.dataset.name)} example with the mouse, a pen or a finger. The drawing is "
    f"framed as the training images are (the ink fills {framing.fill:.0%} of the frame) and "
    f"reduced to {h:d}×{w:d}; your browser encodes it at every move, so **μ and its 1σ/2σ bubble "
    "follow the pen** on the map of the test set, and the decoder draws what μ looks like."
)

with st.expander(
    "Upload a picture instead", expanded=current is not None and current["source"] == "upload"
):
    upload = st.file_uploader(
        "A PNG or JPEG of any size: made grey, inverted if its background is light, cropped "
        "to its content and framed like the training images",
        type=["png", "jpg", "jpeg"],
        key="draw_upload",
    )
    if upload is not None and st.session_state.get(DRAW_UPLOAD_SEEN_KEY) != upload.file_id:
        try:
            # Decoded in a child process under a memory cap (runner/sandbox.py), never here.
            x = parse_picture(upload.getvalue(), upload.name, (h, w), framing)
        except DataError as err:
            st.error(f"{plain(upload.name)}: {plain(err)}.")  # the pad keeps what it had
        else:
            st.session_state[DRAW_UPLOAD_SEEN_KEY] = upload.file_id
            current = {
                "x": x.tolist(),
                "source": "upload",
                "name": upload.name,
                "id": upload.file_id,
            }
            st.session_state[DRAW_CURRENT_KEY] = current
    if current is not None and current["source"] == "upload":
        st.image(
            to_image(np.asarray(current["x"]), (h, w)),
            caption=f"what the model sees: {plain(current['name'])} as {h:d}×{w:d}",
            output_format="PNG",
        )


def drawing_finished() -> None:
    """A stroke ended (or the pad was cleared): the drawing becomes the current input."""
    x = drawn_value(PAD_KEY, model.config.input_dim)  # checked: it comes from the browser
    drawing = {"x": x.tolist(), "source": "drawing", "name": "drawing"} if x is not None else None
    st.session_state[DRAW_CURRENT_KEY] = drawing


@fragment
def pad_and_send() -> None:
    """A finished stroke reruns only this."""
    now = st.session_state[DRAW_CURRENT_KEY]
    upload_shown = (
        upload_input(np.asarray(now["x"]), now["name"], now.get("id", ""))
        if now is not None and now["source"] == "upload"
        else None
    )
    drawing_pad(model, (h, w), framing, the_map, PAD_KEY, upload_shown, drawing_finished)
    now = st.session_state[DRAW_CURRENT_KEY]
    left, right = st.columns([2, 3], vertical_alignment="center")
    send = left.button(
        "Send to the Inference lab",
        key="draw_send",
        icon=":material/send:",
        disabled=now is None,
        help="Opens the exact posterior of this picture beside q(z|x)",
    )
    if now is None:
        right.caption("Draw something (or upload a picture) to send it on.")
    else:
        mu, sigma = encode_dataset(model, np.asarray(now["x"], dtype=np.float32)[None])
        what = "your drawing" if now["source"] == "drawing" else f"**{plain(now['name'])}**"
        right.caption(
            f"Encoded on the server, {what} has μ = ({mu[0, 0]:.3f}, "
            f"{mu[0, 1]:.3f}), σ = ({sigma[0, 0]:.3f}, {sigma[0, 1]:.3f})"
        )
    if send and now is not None:
        st.session_state[INFERENCE_INPUT_KEY] = {
            "x": list(now["x"]),
            "source": now["source"],
            "name": now["name"],
        }
        if (Path(__file__).resolve().parents[1] / INFERENCE_PAGE).exists():
            st.switch_page(INFERENCE_PAGE)
        st.success("Stored for the Inference lab (that page is not in this build yet).")


pad_and_send()
