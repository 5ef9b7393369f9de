"""The decoder in the browser: a click on the latent map shows its picture with no round trip.

A click's server round trip (fragment rerun, elements, image fetch) on a page as big as the
latent map costs 2-4x Streamlit's bare button -> image round trip, however small the fragment
(bench/click_latency.py splits it into stages). The MLP decoder is small (2 -> ... -> D), so
its weights go to the browser once per page run, in a component outside the map's fragment;
ui/click_map.js tells it the clicked z and it draws E[x|z] itself, the same picture
ui/latent_images.to_image makes. The fragment's rerun still brings the rest of the panel (the
example's original, the decodes of mu + sigma * eps, the numbers).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import streamlit as st
from torch import nn

from ui.latent_images import DISPLAY_PIXELS
from vae import VAE

_JS = Path(__file__).with_name("map_decoder.js").read_text(encoding="utf-8")
_mount = st.components.v2.component("vae_explorer_map_decoder", js=_JS, isolate_styles=False)


def mlp_decoder_layers(model: VAE) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """[(W (out, in), b (out,))] of an MLP decoder with SiLU between layers, else None."""
    if model.config.architecture != "mlp" or not isinstance(model.decoder, nn.Sequential):
        return None
    layers = []
    for module in model.decoder:
        if isinstance(module, nn.Linear):
            weight = module.weight.detach().float().cpu().numpy()
            layers.append((weight, module.bias.detach().float().cpu().numpy()))
        elif not isinstance(module, nn.SiLU):
            return None  # some other network: the browser could not run it faithfully
    return layers


def decoder_payload(
    model: VAE,
    image_shape: tuple[int, int],
    target: str,
    z: tuple[float, float] | None,
    pixels: int = DISPLAY_PIXELS,
) -> bytes | None:
    """What map_decoder.js reads: uint32 header length, JSON header, padding, float32 layers.

    None when the browser cannot draw this model's pictures (not an MLP decoder).
    """
    layers = mlp_decoder_layers(model)
    if layers is None:
        return None
    header = {
        "widths": [layers[0][0].shape[1], *(w.shape[0] for w, _ in layers)],
        "likelihood": model.config.likelihood,
        "image_shape": list(image_shape),
        "pixels": pixels,
        "target": target,
        "z": [float(z[0]), float(z[1])] if z is not None else None,
    }
    head = json.dumps(header).encode()
    pad = (4 - (4 + len(head)) % 4) % 4
    floats = np.concatenate([np.concatenate([w.ravel(), b]) for w, b in layers])
    return struct.pack("<I", len(head)) + head + b"\0" * pad + floats.astype("<f4").tobytes()


def browser_decoder(
    model: VAE,
    image_shape: tuple[int, int] | None,
    chart_key: str,
    z: tuple[float, float] | None,
    key: str,
) -> bool:
    """Mount the in-browser picture of the clicked z; returns whether it is shown.

    Call it outside the fragment that reads the clicks (its weights then travel once per page
    run). Not shown for non-image data or a decoder the browser cannot run (the conv one):
    the decode panel then shows the server's picture, as before.
    """
    if image_shape is None or model.config.latent_dim != 2:
        return False
    payload = decoder_payload(model, image_shape, chart_key, z)
    if payload is None:
        return False
    _mount(key=key, data=payload)
    return True
