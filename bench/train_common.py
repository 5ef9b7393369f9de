"""Shared by the training benchmarks: the data and the faithful baseline.

The baseline is the training loop of pytorch/examples `vae/main.py` (TensorDataset +
DataLoader(batch_size=128, shuffle=True), `loss.item()` every step, summed loss, default Adam),
so that our numbers are measured against what most people would write, not a straw man.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from vae.config import ModelConfig
from vae.data import load_dataset
from vae.train import binarize


def load_fashion_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """x_train (60000, 784), y_train, x_test (10000, 784), y_test, and where they came from.

    Pixels in [0, 1] float32, read by the app's own loader (vae.data), so the benchmarks train on
    exactly what the app trains on.
    """
    data = load_dataset("fashion-mnist")
    return data.x_train, data.y_train, data.x_test, data.y_test, "vae.data.load_dataset"


class ExamplesVAE(nn.Module):
    """The pytorch/examples VAE, with the issue's 784-512-256-2 widths and ReLU."""

    def __init__(self, hidden: tuple[int, ...] = (512, 256), latent_dim: int = 2) -> None:
        super().__init__()
        # Only so that vae.losses / vae.train.evaluate can score it like one of ours.
        self.config = ModelConfig(784, latent_dim=latent_dim, hidden=hidden)
        widths = (784, *hidden)
        self.encoder = nn.Sequential(
            *[
                m
                for a, b in zip(widths, widths[1:], strict=False)
                for m in (nn.Linear(a, b), nn.ReLU())
            ]
        )
        self.fc_mu = nn.Linear(hidden[-1], latent_dim)
        self.fc_logvar = nn.Linear(hidden[-1], latent_dim)
        back = (latent_dim, *reversed(hidden))
        self.decoder = nn.Sequential(
            *[
                m
                for a, b in zip(back, back[1:], strict=False)
                for m in (nn.Linear(a, b), nn.ReLU())
            ],
            nn.Linear(hidden[0], 784),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # Bernoulli logits

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z), mu, logvar


def examples_loss(
    logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """pytorch/examples loss_function: summed BCE + KLD (Kingma & Welling, Appendix B)."""
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def examples_loader(x: np.ndarray, y: np.ndarray, batch_size: int = 128) -> DataLoader:
    return DataLoader(
        TensorDataset(torch.as_tensor(x), torch.as_tensor(y)), batch_size=batch_size, shuffle=True
    )


def examples_train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    dynamic_binarization: bool = True,
) -> float:
    """One epoch of pytorch/examples `train()`; returns the mean loss per example."""
    model.train()
    train_loss = 0.0
    for data, _ in loader:
        data = data.to(device)
        if dynamic_binarization:
            data = binarize(data)  # the same draw as ours (vae.train)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = examples_loss(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    return train_loss / len(loader.dataset)


@torch.no_grad()
def examples_test(model: nn.Module, loader: DataLoader, device: torch.device) -> float:
    """pytorch/examples `test()`: mean -ELBO per example (one z sample)."""
    model.eval()
    test_loss = 0.0
    for data, _ in loader:
        data = data.to(device)
        recon_batch, mu, logvar = model(data)
        test_loss += examples_loss(recon_batch, data, mu, logvar).item()
    return test_loss / len(loader.dataset)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device) -> tuple[float, object]:
    synchronize(device)
    start = time.perf_counter()
    value = fn()
    synchronize(device)
    return time.perf_counter() - start, value
