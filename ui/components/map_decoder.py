"""The decoder in the browser: a click on the latent map shows its picture with no round trip.

A click's server round trip (fragment rerun, elements, image fetch) on a page as big as the
latent map costs 2-4x Streamlit's bare button -> image round trip, however small the fragment
(measured: bench/click_latency.py). The decoder is small (2 -> ... -> D), so its weights go to
the browser, in a component outside the map's fragment; the map layer (web/map_layer.js) tells
it the clicked z and it draws E[x|z] itself (web/map_decoder.js), the same picture
ui/latent_images.to_image makes. The fragment's rerun still brings the rest of the panel (the
example's original, the decodes of mu + sigma * eps, the numbers).

The weights (200 KB for the quick-start digits model, 2.1 MB for the default MNIST MLP) go
once per browser session and model, not with every full run of the page: the browser keeps
them by a content id, the session remembers which ids it has sent (SentIds), and later runs
send only the small header (the clicked z, the image shape). Should the browser not have them
after all (its cache dropped them, a run's message was lost), it asks, and the next run sends
them again. (Streamlit's own message cache does not cover this: the payload's bytes change
with every click's z, and its cache forgets an element after a few runs without it.)
"""

from __future__ import annotations

from runner.frames import frame_bytes
from ui.components.assets import WebComponent
from ui.components.network import browser_decoder as browser_decoder_net
from ui.components.sending import SentIds, forget_needed
from ui.latent_images import DISPLAY_PIXELS
from ui.session_keys import DECODERS_SENT_KEY
from vae import VAE

_mount = WebComponent("map_decoder", isolate_styles=False)
# The ids of the networks this session's browser holds: the map decoder's and the drawing
# pad's share them, as the browser shares its cache of them.
NETWORKS_SENT = SentIds(DECODERS_SENT_KEY)


def decoder_payload(
    model: VAE,
    image_shape: tuple[int, int],
    target: str,
    z: tuple[float, float] | None,
    pixels: int = DISPLAY_PIXELS,
    with_weights: bool = True,
) -> bytes | None:
    """What web/map_decoder.js reads: a frame (runner/frames.py) whose header names the decoder
    (id, ops) and says whether its "weights" array follows (else the browser has it from an
    earlier payload). None when the browser cannot run this model's decoder, or it is too big."""
    net = browser_decoder_net(model)
    if net is None:
        return None
    header = {
        "decoder": net.header(with_weights),
        "likelihood": model.config.likelihood,
        "image_shape": list(image_shape),
        "pixels": pixels,
        "target": target,
        "z": [float(z[0]), float(z[1])] if z is not None else None,
    }
    return frame_bytes(header, {"decoder": net.floats} if with_weights else None)


def browser_decoder(
    model: VAE,
    image_shape: tuple[int, int] | None,
    chart_key: str,
    z: tuple[float, float] | None,
    key: str,
    pixels: int = DISPLAY_PIXELS,
) -> bool:
    """Mount the in-browser picture of the clicked z, `pixels` wide; returns whether it is shown.

    Call it outside the fragment that reads the clicks. The weights go with the first run
    that shows this model in this session; later runs send the header only, unless the
    browser said it lacks them (its "need" trigger). Not shown for non-image data or a
    decoder the browser cannot run: the decode panel then shows the server's picture.
    """
    if image_shape is None or model.config.latent_dim != 2:
        return False
    net = browser_decoder_net(model)
    if net is None:
        return False
    with_weights = net.id not in NETWORKS_SENT
    payload = decoder_payload(model, image_shape, chart_key, z, pixels, with_weights)
    _mount(key=key, data=payload, on_need_change=forget_needed(NETWORKS_SENT, key))
    NETWORKS_SENT.add(net.id)
    return True
