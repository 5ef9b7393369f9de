"""The posterior sigma bound: the parameterisation, hostile inputs, training, old checkpoints.

Every model built with ModelConfig's default max_posterior_sigma (3) gives sigma <= 3 for any
input; a checkpoint written before the bound existed loads unbounded, exactly as it was.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save as safetensors_save
from sklearn.datasets import load_digits

from vae import VAE, ModelConfig, TrainConfig, load_checkpoint, save_checkpoint, train
from vae.checkpoint import FORMAT_KEY, FORMAT_NAME, FORMAT_VERSION
from vae.data.idx import read_idx_pair
from vae.model import soft_upper_bound

BOUND = 3.0
HIGH = 2 * math.log(BOUND)  # the ceiling of log sigma^2
# exp(0.5 * HIGH) in float32 can land one ulp above 3: allow that rounding, nothing more.
ROUNDING = 1 + 1e-6
# ../shared/data/mnist beside the checkout (or beside the folder of a git worktree).
MNIST_DIRS = tuple(Path(__file__).resolve().parents[n] / "shared/data/mnist" for n in (2, 3))


def sigma_of(model: VAE, x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Posterior standard deviations (N, k) of inputs (N, D)."""
    with torch.no_grad():
        _, logvar = model.encode(torch.as_tensor(x, dtype=torch.float32))
    return torch.exp(0.5 * logvar)


def assert_bounded(sigma: torch.Tensor, what: str, bound: float = BOUND) -> None:
    assert not torch.isnan(sigma).any(), f"{what}: NaN sigma"
    assert float(sigma.max()) <= bound * ROUNDING, f"{what}: sigma {float(sigma.max()):.4g}"


# --- the parameterisation -----------------------------------------------------------------


def test_soft_upper_bound_is_monotone_and_bounded_everywhere() -> None:
    raw = (
        torch.cat(
            [
                torch.linspace(-200, 200, 40_001),
                torch.tensor([-1e30, -1e10, 1e10, 1e30, float("inf"), -float("inf")]),
            ]
        )
        .sort()
        .values
    )
    out = soft_upper_bound(raw, HIGH)
    assert (out <= HIGH).all()
    assert (out.diff() >= 0).all()  # non-decreasing in float32; strictly increasing in reals
    inside = raw < HIGH + 5  # where float32 still resolves the 0.01 steps (slope > 0.007)
    assert (out[inside].diff() > 0).all()


def test_soft_upper_bound_is_the_identity_well_inside_the_range() -> None:
    raw = torch.linspace(-30, HIGH - 5, 10_001, dtype=torch.float64)
    out = soft_upper_bound(raw, HIGH)
    # Closed form: raw - log(1 + e^(raw - high)); so raw - out <= e^(raw - high) < 0.007.
    assert torch.allclose(out, raw - torch.log1p(torch.exp(raw - HIGH)), atol=1e-12)
    assert float((raw - out).max()) < math.exp(-5) + 1e-12
    assert (out <= raw).all()
    # The sigma of a trained model's data (0.01-0.3) is kept to within 0.6 % (0.06: 0.02 %).
    sigma = torch.tensor([0.01, 0.06, 0.3], dtype=torch.float64)
    kept = torch.exp(0.5 * soft_upper_bound(2 * torch.log(sigma), HIGH))
    assert torch.allclose(kept, sigma, rtol=6e-3)
    assert float(kept[1]) == pytest.approx(0.06, rel=2e-4)


def test_soft_upper_bound_gradient_is_a_sigmoid() -> None:
    raw = torch.linspace(-20, 40, 601, dtype=torch.float64, requires_grad=True)
    soft_upper_bound(raw, HIGH).sum().backward()
    assert torch.allclose(raw.grad, torch.sigmoid(HIGH - raw.detach()))
    assert (raw.grad > 0).all() and (raw.grad <= 1).all()


@pytest.mark.parametrize("bound", [0.5, 3.0, 50.0])
def test_no_weights_can_push_sigma_over_the_bound(bound: float) -> None:
    """By construction: even a head whose log sigma^2 output is astronomically large."""
    model = VAE(ModelConfig(input_dim=64, hidden=(16,), max_posterior_sigma=bound))
    with torch.no_grad():
        model.encoder_head.bias[2:] = 1e30
    sigma = sigma_of(model, torch.rand(8, 64))
    assert_bounded(sigma, "huge head bias", bound)
    assert float(sigma.min()) == pytest.approx(bound, rel=1e-5)  # it saturates at the bound


# --- hostile inputs to trained models ---------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x = load_digits().data.astype(np.float32) / 16.0  # (1797, 64)
    return x[:1500], x[1500:]


@pytest.fixture(scope="module")
def trained_digits(digits) -> tuple[VAE, list[dict]]:
    """A digits model with the default bound, trained as the app's quick start trains one."""
    torch.manual_seed(0)
    model = VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(256, 128)))
    config = TrainConfig(epochs=20, batch_size=128, lr=8e-3, device="cpu", snapshot_latents=False)
    result = train(model, *digits, config)
    return model.eval(), result.history


def mnist_test_images() -> np.ndarray:
    """MNIST's t10k images in [0, 1], (N, 28, 28); skips when the files are not here."""
    for folder in MNIST_DIRS:
        images = folder / "t10k-images-idx3-ubyte.gz"
        if images.is_file():
            x, _ = read_idx_pair(images, folder / "t10k-labels-idx1-ubyte.gz")
            return x[:2000].astype(np.float32) / 255.0
    pytest.skip(f"MNIST test images not found in {', '.join(map(str, MNIST_DIRS))}")


def hostile_inputs(x_train: np.ndarray, x_test: np.ndarray) -> dict[str, np.ndarray]:
    """What the issue's list names, for images of x_test's width D."""
    rng = np.random.default_rng(0)
    d = x_test.shape[1]
    inputs = {"train": x_train, "test": x_test}
    for seed in range(5):
        draw = np.random.default_rng(100 + seed).random(x_test.shape)
        inputs[f"binarised test, seed {seed}"] = (draw < x_test).astype(np.float32)
    inputs |= {
        "uniform noise": rng.random((500, d), dtype=np.float32),
        "all zeros": np.zeros((1, d), np.float32),
        "all ones": np.ones((1, d), np.float32),
        "grey 0.5": np.full((1, d), 0.5, np.float32),
        "inverted test": 1.0 - x_test,
        "huge values": np.full((3, d), 1e6, np.float32) * np.array([[1], [-1], [1e30]], "f4"),
        "huge noise": rng.normal(0, 1e4, (200, d)).astype(np.float32),
    }
    return inputs


def test_trained_digits_model_keeps_sigma_bounded_for_hostile_inputs(digits, trained_digits):
    model, _ = trained_digits
    for what, x in hostile_inputs(*digits).items():
        assert_bounded(sigma_of(model, x), what)


def test_trained_digits_model_on_foreign_images(trained_digits):
    """MNIST test digits (28x28), shrunk to 8x8: another dataset's pictures."""
    model, _ = trained_digits
    mnist = torch.as_tensor(mnist_test_images()).unsqueeze(1)  # (N, 1, 28, 28)
    small = F.adaptive_avg_pool2d(mnist, 8).flatten(1)  # (N, 64)
    assert_bounded(sigma_of(model, small), "MNIST shrunk to 8x8")
    assert_bounded(sigma_of(model, 1 - small), "inverted MNIST")


def test_the_bound_leaves_in_distribution_sigma_alone(digits, trained_digits):
    """On its own data the model's sigma sits far below the ceiling, where the bound is the
    identity: the raw head output and the bounded one agree."""
    model, _ = trained_digits
    x = torch.as_tensor(digits[1])
    with torch.no_grad():
        raw = model.encoder_head(model.encoder_body(x)).chunk(2, dim=-1)[1]
        _, logvar = model.encode(x)
    assert float(torch.exp(0.5 * raw).max()) < 1.0
    assert torch.allclose(logvar, raw, atol=0.1)


def test_training_with_the_bound_still_learns(trained_digits):
    """Gradients flow through the bound: the test ELBO improves from epoch 1 to the last."""
    _, history = trained_digits
    assert history[-1]["test_elbo"] > history[0]["test_elbo"] + 1.0
    assert all(math.isfinite(h["train_loss"]) for h in history)


def test_gradient_reaches_the_log_variance_head() -> None:
    torch.manual_seed(0)
    model = VAE(ModelConfig(input_dim=64, hidden=(16,)))
    with torch.no_grad():
        model.encoder_head.bias[2:] = 4.0  # above the ceiling (2 log 3 = 2.2): the soft part
    _, logvar = model.encode(torch.rand(4, 64))
    logvar.sum().backward()
    grad = model.encoder_head.bias.grad[2:]
    assert (grad > 0).all() and (grad < 4).all()  # each of 4 rows gives sigmoid(2.2 - 4) < 1


def test_shipped_fashion_model_on_hostile_and_foreign_inputs():
    """The 784-input model in pretrained/: noise, blank, huge and MNIST's digits."""
    from ui.models import PRETRAINED_FASHION, PRETRAINED_ROOT

    model, _ = load_checkpoint(PRETRAINED_ROOT / f"{PRETRAINED_FASHION}.safetensors")
    fake_test = np.random.default_rng(1).random((200, 784), dtype=np.float32) ** 4
    for what, x in hostile_inputs(fake_test, fake_test).items():
        assert_bounded(sigma_of(model, x), what)
    mnist = mnist_test_images().reshape(-1, 784)
    assert_bounded(sigma_of(model, mnist), "MNIST into a Fashion model")
    assert_bounded(sigma_of(model, (mnist > 0.5).astype(np.float32)), "binarised MNIST")
    assert_bounded(sigma_of(model, 1 - mnist), "inverted MNIST")


# --- configs and checkpoints ----------------------------------------------------------------


def test_config_round_trip_and_validation() -> None:
    config = ModelConfig(input_dim=4)
    assert config.max_posterior_sigma == BOUND
    assert ModelConfig.from_dict(config.to_dict()) == config
    unbounded = ModelConfig(input_dim=4, max_posterior_sigma=None)
    assert ModelConfig.from_dict(unbounded.to_dict()) == unbounded
    for bad in (0, -1.0, float("nan"), float("inf"), "3", True):
        with pytest.raises(ValueError, match="max_posterior_sigma"):
            ModelConfig(input_dim=4, max_posterior_sigma=bad)


def old_format_checkpoint(path: Path, model: VAE) -> None:
    """A checkpoint as vae-explorer wrote it before the bound: no max_posterior_sigma key."""
    config = {k: v for k, v in model.config.to_dict().items() if k != "max_posterior_sigma"}
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_config": config,
        "metadata": {"name": path.stem, "dataset": "digits", "test_metrics": {}},
    }
    tensors = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    path.write_bytes(safetensors_save(tensors, metadata={FORMAT_KEY: json.dumps(document)}))


def test_checkpoints_from_before_the_bound_load_unbounded_and_unchanged(tmp_path) -> None:
    torch.manual_seed(0)
    old = VAE(ModelConfig(input_dim=64, hidden=(16,), max_posterior_sigma=None))
    with torch.no_grad():
        old.encoder_head.bias[2:] = 8.0  # sigma ~ e^4 ~ 55, as an old model could give
    x = torch.rand(32, 64)
    with torch.no_grad():
        mu_then, logvar_then = old.encoder_head(old.encoder_body(x)).chunk(2, dim=-1)
    path = tmp_path / "old.safetensors"
    old_format_checkpoint(path, old)
    assert "max_posterior_sigma" not in path.read_bytes()[:4096].decode("utf-8", "replace")

    loaded, metadata = load_checkpoint(path)
    assert loaded.config.max_posterior_sigma is None
    assert metadata["model_config"]["max_posterior_sigma"] is None
    with torch.no_grad():
        mu, logvar = loaded.encode(x)
    assert torch.equal(mu, mu_then) and torch.equal(logvar, logvar_then)  # bit for bit
    assert float(torch.exp(0.5 * logvar).min()) > 10 * BOUND  # still unbounded, as trained

    # Saved again by today's code, it stays unbounded (the key is now written, as None).
    again = tmp_path / "again.safetensors"
    save_checkpoint(again, loaded, metadata)
    assert load_checkpoint(again)[0].config.max_posterior_sigma is None


def test_new_checkpoints_keep_their_bound(tmp_path) -> None:
    model = VAE(ModelConfig(input_dim=64, hidden=(16,), max_posterior_sigma=2.0))
    path = tmp_path / "new.safetensors"
    save_checkpoint(path, model, {"name": "new", "dataset": "digits"})
    loaded, _ = load_checkpoint(path)
    assert loaded.config.max_posterior_sigma == 2.0
    with torch.no_grad():
        loaded.encoder_head.bias[2:] = 1e6
    assert_bounded(sigma_of(loaded, torch.rand(4, 64)), "reloaded", 2.0)
