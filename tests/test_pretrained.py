"""The Fashion-MNIST model shipped in pretrained/: it loads, is bounded, matches its metrics,
and the app opens it from Home and Models - or says how to get the images, never downloading."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.models import PRETRAINED_FASHION, PRETRAINED_ROOT
from vae import load_checkpoint
from vae.config import EVAL_BINARIZATIONS
from vae.data import DataError, load_dataset, local_idx_folder
from vae.library import ModelLibrary
from vae.scoring import not_a_likelihood, trained_binarized
from vae.train import evaluate

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED = PRETRAINED_ROOT / f"{PRETRAINED_FASHION}.safetensors"
MAX_SHIPPED_BYTES = 3 * 2**20  # the repository carries it: a few MB at most

needs_fashion = pytest.mark.skipif(
    local_idx_folder("fashion-mnist") is None,
    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)",
)


def test_the_shipped_file_is_small_bounded_and_described():
    assert PRETRAINED.is_file(), "run scripts/make_pretrained.sh"
    assert PRETRAINED.stat().st_size <= MAX_SHIPPED_BYTES
    model, metadata = load_checkpoint(PRETRAINED)
    assert model.config.max_posterior_sigma == 3.0
    assert model.config.input_dim == 784 and model.config.latent_dim == 2
    assert metadata["dataset"] == "fashion-mnist" and metadata["dataset_source"] == "builtin"
    assert metadata["interrupted"] is False
    # Trained and scored as the literature does: its ELBO is a log-likelihood of binary images.
    assert metadata["train_config"]["dynamic_binarization"] is True
    assert trained_binarized(metadata) and not_a_likelihood(metadata) is None
    assert len(metadata["history"]) == metadata["train_config"]["epochs"] == 30
    metrics = metadata["test_metrics"]
    assert metrics["z_samples"] == 10 and metrics["max_sigma"] <= 3.0
    assert metrics["binarizations"] == EVAL_BINARIZATIONS
    assert [e.name for e in ModelLibrary(PRETRAINED_ROOT).list() if e.ok] == [PRETRAINED_FASHION]


@pytest.mark.slow
@needs_fashion
def test_the_shipped_model_matches_its_recorded_test_metrics():
    """The robust ELBO recomputed on the 10k test images equals what the file says."""
    model, metadata = load_checkpoint(PRETRAINED)
    recorded = metadata["test_metrics"]
    data = load_dataset("fashion-mnist", download=False)
    assert len(data.x_test) == 10_000
    seed = metadata["train_config"]["seed"]
    import torch

    now = evaluate(model, torch.as_tensor(data.x_test), binarizations=recorded["binarizations"],
                   seed=seed)  # fmt: skip
    for key in ("elbo", "recon", "kl", "max_sigma"):
        assert now[key] == pytest.approx(recorded[key], rel=1e-4), key
    # The per-epoch figure of the last epoch (one z) estimates the same ELBO.
    assert now["elbo"] == pytest.approx(metadata["history"][-1]["test_elbo"], abs=1.0)


def test_without_the_images_nothing_is_downloaded_and_the_message_says_how(tmp_path, monkeypatch):
    import vae.data.builtin as builtin

    monkeypatch.setattr(builtin, "SYSTEM_DIRS", {"mnist": (), "fashion-mnist": ()})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("VAE_EXPLORER_DATA", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("the app must not download")

    monkeypatch.setattr(builtin.dl, "download", no_network)
    assert local_idx_folder("fashion-mnist") is None
    with pytest.raises(DataError) as caught:
        load_dataset("fashion-mnist", download=False)
    message = str(caught.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "VAE_EXPLORER_DATA" in message and "t10k-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "cache" / "vae-explorer" / "fashion-mnist") in message


# --- in the app ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def library_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(folder))
    return folder


def run_home() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def test_home_without_the_images_explains_and_stays(monkeypatch):
    import ui.models

    monkeypatch.setattr(ui.models, "local_idx_folder", lambda name: None)
    at = run_home()
    at.button(key="home_open_pretrained").click().run()
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith("Cannot open the pretrained map: this model is shown with")
    assert "apt-get install dataset-fashion-mnist" in error.value
    assert at.session_state["vx_active_model"] is None
    assert [t.value for t in at.title] == ["VAE explorer"]


@pytest.mark.slow
@needs_fashion
def test_home_opens_the_pretrained_fashion_map():
    at = run_home()
    at.button(key="home_open_pretrained").click().run()
    assert not at.exception and not at.error
    active = at.session_state["vx_active_model"]
    assert active.name == "fashion-mnist (pretrained)" and active.source == "library"
    assert active.dataset.name == "fashion-mnist"
    assert not any(p.requires_grad for p in active.model.parameters())  # shared, read-only
    assert [t.value for t in at.title] == ["Latent map"]


@pytest.mark.slow
@needs_fashion
def test_models_page_lists_and_loads_the_shipped_model():
    at = run_home()
    at.switch_page("pages/models.py").run()
    assert not at.exception
    shipped = at.dataframe[-1].value  # the last table: the library above it is empty here
    assert list(shipped["name"]) == [PRETRAINED_FASHION]
    assert not any(b.key == "models_delete" for b in at.button)  # nothing to delete: read-only
    at.button(key=f"models_load_shipped_{PRETRAINED_FASHION}").click().run()
    assert not at.exception and not at.error
    assert at.session_state["vx_active_model"].name == "fashion-mnist (pretrained)"
