"""vae: a small PyTorch library for variational autoencoders with a 2-D latent space.

Plain torch/numpy: nothing here imports Streamlit, so the CLI, the app and tests share it.
"""

from .config import ConfigError, ModelConfig, TrainConfig
from .device import describe_device, pick_device
from .losses import gaussian_kl, iwae_log_likelihood, reconstruction_nll, vae_loss
from .model import VAE
from .train import EpochReport, LatentSnapshot, TrainingDiverged, TrainResult, evaluate, train
from .version import __version__

__all__ = [
    "VAE",
    "ConfigError",
    "EpochReport",
    "LatentSnapshot",
    "ModelConfig",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "__version__",
    "describe_device",
    "evaluate",
    "gaussian_kl",
    "iwae_log_likelihood",
    "pick_device",
    "reconstruction_nll",
    "train",
    "vae_loss",
]

# Checkpoints and the model library (safetensors + JSON; never pickle).
from .checkpoint import CheckpointError, load_checkpoint, read_metadata, save_checkpoint  # noqa: E402

# Exact inference in the 2-D latent plane: log p(x), p(z|x), q*(z|x) and the gaps.
from .inference import (  # noqa: E402
    ExactLogLikelihood,
    InferenceGaps,
    decode_plane,
    exact_log_likelihood,
    exact_posterior,
    inference_gaps,
    log_px_estimates,
    optimal_gaussian,
)
from .library import ModelEntry, ModelLibrary, safe_model_name  # noqa: E402

__all__ += [
    "ExactLogLikelihood",
    "InferenceGaps",
    "decode_plane",
    "exact_log_likelihood",
    "exact_posterior",
    "inference_gaps",
    "log_px_estimates",
    "optimal_gaussian",
    "CheckpointError",
    "ModelEntry",
    "ModelLibrary",
    "load_checkpoint",
    "read_metadata",
    "safe_model_name",
    "save_checkpoint",
]
