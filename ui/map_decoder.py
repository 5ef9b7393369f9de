"""The decoder in the browser: a click on the latent map shows its picture with no round trip.

A click's server round trip (fragment rerun, elements, image fetch) on a page as big as the
latent map costs 2-4x Streamlit's bare button -> image round trip, however small the fragment
(measured: bench/click_latency.py). The decoder is small (2 -> ... -> D), so its weights go to
the browser once per page run, in a component outside the map's fragment;
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

# Above this many weights (8 MB of float32) the decoder stays on the server: the weights are
# re-sent with every full run of the page. The defaults are well below (MLP 0.53M, conv 0.84M).
MAX_BROWSER_WEIGHTS = 2_000_000
_JS = Path(__file__).with_name("map_decoder.js").read_text(encoding="utf-8")
_mount = st.components.v2.component("vae_explorer_map_decoder", js=_JS, isolate_styles=False)


def decoder_ops(model: VAE) -> list[tuple[dict, list[np.ndarray]]] | None:
    """The decoder as the browser runs it: [(op, its arrays)], in order; None if it cannot.

    ops: {"op": "linear", "in", "out"} with W (out, in) and b (out,); {"op": "silu"};
    {"op": "unflatten", "shape": [C, H, W]}; {"op": "conv_transpose", "cin", "cout", "k",
    "stride", "pad"} with W (cin, cout, k, k) and b (cout,); {"op": "flatten"}. That covers
    both decoders of vae.model (the MLP and the conv one); anything else stays on the server.
    """
    net = model.decoder
    net = getattr(net, "net", net)  # _ConvDecoder keeps its layers in .net
    if not isinstance(net, nn.Sequential):
        return None

    def arrays(module: nn.Module) -> list[np.ndarray]:
        return [p.detach().float().cpu().numpy() for p in (module.weight, module.bias)]

    ops: list[tuple[dict, list[np.ndarray]]] = []
    for m in net:
        if isinstance(m, nn.Linear) and m.bias is not None:
            ops.append(({"op": "linear", "in": m.in_features, "out": m.out_features}, arrays(m)))
        elif isinstance(m, nn.SiLU):
            ops.append(({"op": "silu"}, []))
        elif isinstance(m, nn.Unflatten) and m.dim == 1:
            ops.append(({"op": "unflatten", "shape": list(m.unflattened_size)}, []))
        elif (
            isinstance(m, nn.ConvTranspose2d)
            and m.bias is not None
            and m.groups == 1
            and m.dilation == (1, 1)
            and m.output_padding == (0, 0)
            and m.kernel_size[0] == m.kernel_size[1]
            and m.stride[0] == m.stride[1]
            and m.padding[0] == m.padding[1]
        ):
            op = {"op": "conv_transpose", "cin": m.in_channels, "cout": m.out_channels,
                  "k": m.kernel_size[0], "stride": m.stride[0], "pad": m.padding[0]}  # fmt: skip
            ops.append((op, arrays(m)))
        elif isinstance(m, nn.Flatten) and m.start_dim == 1:
            ops.append(({"op": "flatten"}, []))
        else:
            return None  # some other layer: the browser could not run it faithfully
    return ops


def decoder_payload(
    model: VAE,
    image_shape: tuple[int, int],
    target: str,
    z: tuple[float, float] | None,
    pixels: int = DISPLAY_PIXELS,
) -> bytes | None:
    """What map_decoder.js reads: uint32 header length, JSON header, padding, float32 arrays.

    None when the browser cannot run this model's decoder, or it is too big to send.
    """
    ops = decoder_ops(model)
    if ops is None or sum(a.size for _, arrays in ops for a in arrays) > MAX_BROWSER_WEIGHTS:
        return None
    header = {
        "ops": [op for op, _ in ops],
        "likelihood": model.config.likelihood,
        "image_shape": list(image_shape),
        "pixels": pixels,
        "target": target,
        "z": [float(z[0]), float(z[1])] if z is not None else None,
    }
    head = json.dumps(header).encode()
    pad = (4 - (4 + len(head)) % 4) % 4
    floats = np.concatenate([a.ravel() for _, arrays in ops for a in arrays])
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
    run). Not shown for non-image data or a decoder the browser cannot run: the decode panel
    then shows the server's picture.
    """
    if image_shape is None or model.config.latent_dim != 2:
        return False
    payload = decoder_payload(model, image_shape, chart_key, z)
    if payload is None:
        return False
    _mount(key=key, data=payload)
    return True
