"""ForeignVAE: an imported encoder/decoder pair with the face of vae.model.VAE.

Every page, the CLI's evaluate and the exact inference call encode / decode / decode_mean
and read config and log_sigma_x: a ForeignVAE answers them from the two ONNX graphs
(vae/foreign/runtime.py), so nothing downstream needs to know where the model came from.

Two things differ from a native model:
- ONNX graphs have no autograd, and q* (vae/inference.py) ascends the ELBO by gradients in z.
  The latent is 2-D, so decode's Jacobian in z is taken by central differences (4 more
  decodes per point, only when a gradient is asked for).
- The native soft bound on σ does not apply: σ is shown as the model gives it. Against
  absurd values the same guard as a native model's ceiling keeps a bubble from covering the
  map and a KL from swamping an average: σ is clipped to [SIGMA_FLOOR, SIGMA_CEILING], far
  outside anything a trained model gives its data, and a NaN stays NaN (a point without a
  value, which the map and the averages skip).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..model import VAE
from .card import Card
from .graph import parse_graph
from .layers import decoder_chain
from .runtime import ForeignGraphs

SIGMA_CEILING = 1e2  # 100 prior standard deviations: no meaningful posterior is wider
SIGMA_FLOOR = 1e-12
FD_STEP = 1e-3  # central differences in z: error ~ h² f''' against float32 rounding ~ 1e-7 / h


class _GraphModule(nn.Module):
    """A parameterless stand-in for the encoder or decoder network: pages that look for
    weights to send to the browser find none and run it on the server."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role


class _Decode(torch.autograd.Function):
    """decode(z) with a central-difference Jacobian in z for the backward pass."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, graphs: ForeignGraphs) -> torch.Tensor:
        zn = z.detach().cpu().numpy().astype(np.float32)
        out = torch.from_numpy(graphs.decode(zn))
        if ctx.needs_input_grad[0]:
            columns = []
            for j in range(zn.shape[1]):
                step = np.zeros_like(zn)
                step[:, j] = FD_STEP
                plus, minus = graphs.decode(zn + step), graphs.decode(zn - step)
                columns.append(torch.from_numpy((plus - minus) / (2 * FD_STEP)))
            ctx.save_for_backward(torch.stack(columns, -1))  # (B, D, k)
        return out.to(z.device)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (jacobian,) = ctx.saved_tensors
        return torch.einsum("bd,bdk->bk", grad.float().cpu(), jacobian).to(grad.device), None


class ForeignVAE(nn.Module):
    """The VAE interface over an imported model's graphs; always on the CPU, always eval."""

    is_foreign = True

    def __init__(self, encoder: bytes, decoder: bytes, card: Card) -> None:
        """From the graphs as the library stores them (already validated at import; checked
        statically again here, GraphError if they do not pass)."""
        super().__init__()
        self.card = card
        self.config = card.model_config()
        self.onnx_bytes = (encoder, decoder)
        decoder_graph = parse_graph(decoder, "decoder")
        self.graphs = ForeignGraphs(parse_graph(encoder, "encoder"), decoder_graph, card)
        self._chain = decoder_chain(decoder_graph, card)
        self.encoder_body = _GraphModule("encoder")
        self.encoder_head = nn.Identity()
        self.decoder = _GraphModule("decoder")
        self.max_logvar = None
        fixed = math.log(self.config.gaussian_sigma or 1.0)
        self.register_buffer("log_sigma_x", torch.full((self.config.input_dim,), fixed))
        self.eval()

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D) in [0, 1] -> μ (B, 2), log σ² (B, 2), σ as the model gives it (see module)."""
        mu, logvar = self.graphs.encode(x.detach().float().cpu().numpy())
        logvar = np.clip(logvar, 2 * math.log(SIGMA_FLOOR), 2 * math.log(SIGMA_CEILING))
        return torch.from_numpy(mu).to(x.device), torch.from_numpy(logvar).to(x.device)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, 2) -> (B, D): Bernoulli logits, or the Gaussian mean in [0, 1]."""
        if len(z) == 0:
            return z.new_zeros((0, self.config.input_dim))
        return _Decode.apply(z, self.graphs)

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decode(z)
        return torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out

    reparameterize = staticmethod(VAE.reparameterize)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    def decoder_chain(self) -> list[tuple[dict, list[np.ndarray]]] | None:
        """The decoder as a chain of layers the browser can run (vae/foreign/layers.py), or
        None when it is not one (the picture of a click is then decoded on the server)."""
        return self._chain

    def train(self, mode: bool = True) -> ForeignVAE:
        if mode:
            raise TypeError("an imported model cannot be trained here; it is shown as it is")
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")


__all__ = ["ForeignVAE"]
