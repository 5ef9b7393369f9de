"""The robust test ELBO (vae.train.evaluate) against references, and the cheap per-epoch pass."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from vae import VAE, ModelConfig, TrainConfig, train
from vae.losses import gaussian_kl
from vae.train import epoch_evaluate, evaluate


@pytest.fixture(scope="module")
def x_test() -> torch.Tensor:
    x = load_digits().data.astype(np.float32) / 16.0
    return torch.as_tensor(x[1500:])  # (297, 64)


@pytest.fixture(scope="module")
def trained(x_test) -> VAE:
    torch.manual_seed(0)
    x = load_digits().data.astype(np.float32) / 16.0
    model = VAE(ModelConfig(input_dim=64, hidden=(64, 32)))
    train(model, x[:1500], None, TrainConfig(epochs=4, batch_size=64, device="cpu"))
    return model.eval()


def z_blind_model() -> VAE:
    """A decoder that ignores z: the reconstruction term is then exact, whatever the samples."""
    torch.manual_seed(1)
    model = VAE(ModelConfig(input_dim=64, hidden=(16,)))
    with torch.no_grad():
        model.decoder[0].weight.zero_()  # the first layer sees z only through its weights
    return model.eval()


def test_matches_closed_forms_when_the_decoder_ignores_z(x_test) -> None:
    model = z_blind_model()
    metrics = evaluate(model, x_test, z_samples=7)
    with torch.no_grad():
        mu, logvar = model.encode(x_test)
        logits = model.decode(torch.zeros(len(x_test), 2))  # any z gives these
    recon = F.binary_cross_entropy_with_logits(logits, x_test, reduction="none").sum(-1)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    kl = torch.distributions.kl_divergence(q, p).sum(-1)
    assert metrics["recon"] == pytest.approx(float(recon.mean()), rel=1e-5)
    assert metrics["kl"] == pytest.approx(float(kl.mean()), rel=1e-5)
    assert metrics["elbo"] == pytest.approx(-float((recon + kl).mean()), rel=1e-5)
    elbo = -(recon + kl).double()
    assert metrics["elbo_sem"] == pytest.approx(float(elbo.std() / len(elbo) ** 0.5), rel=1e-4)
    assert metrics["z_samples"] == 7 and metrics["binarizations"] == 0
    assert metrics["max_sigma"] == pytest.approx(float(torch.exp(0.5 * logvar).max()), rel=1e-5)


def test_binarised_scores_average_to_the_grey_level_likelihood(x_test) -> None:
    """-log p(x_b|z) is linear in x_b: with a decoder that ignores z, its mean over many
    binarisations tends to the cross-entropy of the grey levels themselves."""
    model = z_blind_model()
    with torch.no_grad():
        logits = model.decode(torch.zeros(1, 2))
    grey = F.binary_cross_entropy_with_logits(
        logits.expand_as(x_test), x_test, reduction="none"
    ).sum(-1)
    metrics = evaluate(model, x_test, z_samples=1, binarizations=50, seed=3)
    # 297 examples x 50 draws: the standard error of the mean is well under 0.1 nats.
    assert metrics["recon"] == pytest.approx(float(grey.mean()), abs=0.3)
    assert metrics["binarizations"] == 50


def test_each_example_is_encoded_under_independent_binary_draws(trained, x_test) -> None:
    seen = []
    encode = trained.encode
    trained.encode = lambda x: seen.append(x.clone()) or encode(x)  # record, then encode
    try:
        evaluate(trained, x_test, binarizations=5, seed=0)
    finally:
        del trained.encode
    inputs = torch.cat(seen).view(5, len(x_test), -1)  # draw-major, one chunk here
    assert set(inputs.unique().tolist()) <= {0.0, 1.0}
    assert all(not torch.equal(inputs[0], inputs[b]) for b in range(1, 5))
    # Each pixel is on with its grey level's probability (1,485 draws of each pixel).
    frequency = inputs.mean(0).mean(0)
    assert torch.allclose(frequency, x_test.mean(0), atol=0.06)


def test_seeded_and_averaged(trained, x_test) -> None:
    a = evaluate(trained, x_test, binarizations=5, seed=5)
    assert evaluate(trained, x_test, binarizations=5, seed=5) == a  # the same seed, the same
    # The 10-sample estimate varies less from seed to seed than the 1-sample one.
    one = [evaluate(trained, x_test, z_samples=1, seed=s)["elbo"] for s in range(8)]
    ten = [evaluate(trained, x_test, z_samples=10, seed=s)["elbo"] for s in range(8)]
    assert np.std(ten) < np.std(one)
    # Both estimate the same ELBO as the per-epoch pass (one z each), within Monte Carlo error.
    cheap = epoch_evaluate(trained, x_test)
    assert cheap["elbo"] == pytest.approx(np.mean(ten), abs=1.0)


def test_memory_chunks_do_not_change_the_mean(trained, x_test, monkeypatch) -> None:
    """Chunking only re-orders the random draws: the means agree within Monte Carlo error."""
    whole = evaluate(trained, x_test, z_samples=20, binarizations=5)
    module = sys.modules["vae.train"]  # the package's `vae.train` attribute is the function
    monkeypatch.setattr(module, "EVAL_MAX_ELEMENTS", 64 * 20 * 5 * 7)  # 7 examples a chunk
    chunked = evaluate(trained, x_test, z_samples=20, binarizations=5)
    assert chunked["kl"] == pytest.approx(whole["kl"], rel=0.05)
    assert chunked["elbo"] == pytest.approx(whole["elbo"], abs=4 * whole["elbo_sem"])


def test_rejects_nonsense_counts(trained, x_test) -> None:
    with pytest.raises(ValueError):
        evaluate(trained, x_test, z_samples=0)
    with pytest.raises(ValueError):
        evaluate(trained, x_test, binarizations=-1)


def test_leaves_the_training_mode_alone(trained, x_test) -> None:
    trained.train()
    evaluate(trained, x_test[:10])
    assert trained.training
    trained.eval()


def test_kl_is_exact_not_sampled(trained, x_test) -> None:
    a = evaluate(trained, x_test, z_samples=1, seed=0)["kl"]
    b = evaluate(trained, x_test, z_samples=3, seed=9)["kl"]
    with torch.no_grad():
        exact = gaussian_kl(*trained.encode(x_test)).sum(-1).mean()
    assert a == b == pytest.approx(float(exact), rel=1e-6)
