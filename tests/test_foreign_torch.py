"""Foreign models exported from torch with each convention a card can declare: imported, stored,
loaded, and their μ, σ and decodes checked against torch. Plus the CLI (`import`, `export`, the
round trip to 1e-5) and an import that fails leaving the library as it was."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from foreign_graphs import card, shipped_model
from torch import nn

from vae import ModelLibrary
from vae.cli import main
from vae.config import ModelConfig
from vae.data import load_dataset
from vae.foreign.graph import GraphError
from vae.foreign.model import ForeignVAE
from vae.foreign.probe import validate_foreign
from vae.metadata import imported_metadata
from vae.model import VAE

SHAPES = {"flat": [784], "nchw": [1, 28, 28], "nhwc": [28, 28, 1]}


class Encoder(nn.Module):
    """The shipped model's encoder in another convention: layout, range, outputs."""

    def __init__(self, model: VAE, layout: str, low: int, outputs: str) -> None:
        super().__init__()
        self.model, self.layout, self.low, self.outputs = model, layout, low, outputs

    def forward(self, x: torch.Tensor):
        x = x.flatten(1)  # NCHW and NHWC of one channel flatten alike
        if self.low == -1:
            x = (x + 1) / 2
        mu, logvar = self.model.encode(x)
        sigma = torch.exp(0.5 * logvar)
        if self.outputs == "logvar,mu":
            return logvar, mu
        if self.outputs == "mu,sigma":
            return mu, sigma
        if self.outputs == "mu,softplus":  # σ = softplus(t), as many Keras/JAX models write it
            return mu, F.softplus(torch.log(torch.exp(sigma) - 1))
        if self.outputs == "mu,logvar,z":  # the Keras example: [z_mean, z_log_var, z]
            return mu, logvar, mu + sigma * torch.randn_like(mu)
        if self.outputs == "mu_logvar":
            return torch.cat([mu, logvar], 1)
        if self.outputs == "logvar_mu":
            return torch.cat([logvar, mu], 1)
        return mu, logvar


class Decoder(nn.Module):
    def __init__(self, model: VAE, output: str, layout: str) -> None:
        super().__init__()
        self.model, self.output, self.layout = model, output, layout

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.model.decode(z)
        if self.output == "probs":
            y = torch.sigmoid(y)
        elif self.output == "tanh":
            y = torch.tanh(y / 2)  # = 2 sigmoid(y) - 1: an image in [-1, 1]
        return y.reshape(-1, *SHAPES[self.layout])


CARD_OUTPUTS = {
    "mu,logvar": ["mu", "logvar"],
    "logvar,mu": ["logvar", "mu"],
    "mu,sigma": ["mu", "sigma"],
    "mu,softplus": ["mu", "sigma"],
    "mu,logvar,z": ["mu", "logvar", "ignore"],
    "mu_logvar": ["mu_logvar"],
    "logvar_mu": ["logvar_mu"],
}


def to_onnx(module: nn.Module, example: torch.Tensor, fixed_batch: bool, dynamo: bool = False):
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if dynamo:
            program = torch.onnx.export(module, (example,), dynamo=True, opset_version=18,
                                        dynamic_shapes=({0: torch.export.Dim("b")},))  # fmt: skip
            return program.model_proto.SerializeToString()
        torch.onnx.export(module, (example,), buffer, dynamo=False, opset_version=18,
                          input_names=["in"],
                          dynamic_axes=None if fixed_batch else {"in": {0: "batch"}})  # fmt: skip
    return buffer.getvalue()


@pytest.fixture(scope="module")
def shipped():
    model, metadata = shipped_model()
    return model, load_dataset("fashion-mnist").x_test[:3000]


CASES = {
    # name: (encoder outputs, layout, input range low, decoder output, fixed batch, dynamo)
    "mu then logvar, flat, logits": ("mu,logvar", "flat", 0, "logits", False, True),
    "logvar then mu": ("logvar,mu", "flat", 0, "logits", False, False),
    "sigma": ("mu,sigma", "flat", 0, "logits", False, False),
    "softplus scale": ("mu,softplus", "flat", 0, "logits", False, False),
    "extra random output": ("mu,logvar,z", "flat", 0, "logits", False, False),
    "one tensor mu_logvar": ("mu_logvar", "flat", 0, "logits", False, False),
    "one tensor logvar_mu": ("logvar_mu", "flat", 0, "logits", False, False),
    "NCHW": ("mu,logvar", "nchw", 0, "logits", False, False),
    "NHWC": ("mu,logvar", "nhwc", 0, "logits", False, False),
    "inputs in [-1, 1]": ("mu,logvar", "nchw", -1, "logits", False, False),
    "probabilities": ("mu,logvar", "flat", 0, "probs", False, False),
    "tanh decoder": ("mu,logvar", "flat", -1, "tanh", False, False),
    "fixed batch size": ("mu,logvar", "nchw", 0, "probs", True, False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_convention_gives_the_models_own_mu_sigma_and_decodes(case, shipped, tmp_path):
    model, images = shipped
    outputs, layout, low, decoder_output, fixed, dynamo = CASES[case]
    batch = 1 if fixed else 3
    encoder = to_onnx(Encoder(model, layout, low, outputs).eval(),
                      torch.rand(batch, *SHAPES[layout]), fixed, dynamo)  # fmt: skip
    decoder = to_onnx(Decoder(model, decoder_output, layout).eval(),
                      torch.randn(5 if fixed else 3, 2), fixed, dynamo)  # fmt: skip
    gaussian = decoder_output == "tanh"
    the_card = card(
        input_shape=SHAPES[layout],
        input_range=[low, 1],
        encoder_outputs=CARD_OUTPUTS[outputs],
        decoder_output=decoder_output,
        likelihood="gaussian" if gaussian else "bernoulli",
        gaussian_sigma=0.2 if gaussian else None,
    )
    validated = validate_foreign(encoder, decoder, the_card, images)
    library = ModelLibrary(tmp_path)
    library.save("foreign", ForeignVAE(validated.encoder, validated.decoder, the_card),
                 imported_metadata("foreign", the_card, validated.report, {}))  # fmt: skip
    foreign, metadata = library.load("foreign")  # through the library file, as the app does
    assert metadata["foreign"]["encoder_outputs"] == CARD_OUTPUTS[outputs]

    x = torch.as_tensor(images[:37])  # not a multiple of a fixed batch
    z = torch.randn(23, 2) * 2
    with torch.no_grad():
        mu, logvar = model.encode(x)
        f_mu, f_logvar = foreign.encode(x)
        torch.testing.assert_close(f_mu, mu, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(torch.exp(0.5 * f_logvar), torch.exp(0.5 * logvar),
                                   atol=1e-5, rtol=1e-4)  # fmt: skip
        torch.testing.assert_close(foreign.decode_mean(z), model.decode_mean(z), atol=1e-5,
                                   rtol=1e-5)  # fmt: skip
    if gaussian:  # σ given for [-1, 1] images: 0.1 in the app's [0, 1] pixels
        assert foreign.config.gaussian_sigma == pytest.approx(0.1)


def test_a_latent_that_is_not_2d_is_refused(shipped):
    _, images = shipped
    wide = VAE(ModelConfig(input_dim=784, latent_dim=3, hidden=(16,))).eval()
    encoder = to_onnx(Encoder(wide, "flat", 0, "mu,logvar"), torch.rand(3, 784), False)
    decoder = to_onnx(Decoder(wide, "logits", "flat"), torch.randn(3, 3), False)
    with pytest.raises(GraphError, match="2-D latent spaces only"):
        validate_foreign(encoder, decoder, card(), images)


def test_decode_has_gradients_in_z_for_q_star(shipped, tmp_path):
    model, images = shipped
    encoder = to_onnx(Encoder(model, "flat", 0, "mu,logvar"), torch.rand(3, 784), False)
    decoder = to_onnx(Decoder(model, "logits", "flat"), torch.randn(3, 2), False)
    validated = validate_foreign(encoder, decoder, card(), images)
    foreign = ForeignVAE(validated.encoder, validated.decoder, card())
    x = torch.as_tensor(images[:4])
    z = torch.randn(4, 2)
    grads = []
    for net in (model, foreign):
        zz = z.clone().requires_grad_(True)
        logits = net.decode(zz)
        loss = (x * logits - F.softplus(logits)).sum()  # log p(x|z), as q* ascends it
        grads.append(torch.autograd.grad(loss, zz)[0])
    torch.testing.assert_close(grads[1], grads[0], rtol=2e-3, atol=2e-2)


# --- the command line ----------------------------------------------------------------------------


def write_files(folder: Path, model: VAE, the_card: dict, outputs="mu,logvar") -> list[str]:
    folder.mkdir(exist_ok=True)
    (folder / "enc.onnx").write_bytes(to_onnx(Encoder(model, "flat", 0, outputs),
                                              torch.rand(3, 784), False))  # fmt: skip
    (folder / "dec.onnx").write_bytes(to_onnx(Decoder(model, "logits", "flat"),
                                              torch.randn(3, 2), False))  # fmt: skip
    (folder / "card.json").write_text(json.dumps(the_card))
    return ["--encoder", str(folder / "enc.onnx"), "--decoder", str(folder / "dec.onnx"),
            "--card", str(folder / "card.json")]  # fmt: skip


def test_cli_import_prints_the_path_last_and_info_describes_it(shipped, tmp_path, capsys):
    model, _ = shipped
    files = write_files(tmp_path / "in", model, card().to_dict())
    root = tmp_path / "library"
    assert main(["import", *files, "--name", "their model", "--root", str(root)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == str(root / "their model.safetensors")
    assert "checked on 256 test images of fashion-mnist" in out[0]
    assert main(["info", "--checkpoint", out[-1]]) == 0
    info = capsys.readouterr().out
    assert "imported ONNX graphs" in info and "['mu', 'logvar']" in info


def test_cli_import_refusal_leaves_the_library_as_it_was(shipped, tmp_path, capsys):
    model, _ = shipped
    root = tmp_path / "library"
    good = write_files(tmp_path / "good", model, card().to_dict())
    assert main(["import", *good, "--name", "kept", "--root", str(root)]) == 0
    before = {p.name: p.read_bytes() for p in root.iterdir()}
    capsys.readouterr()

    swapped = write_files(tmp_path / "bad", model, card().to_dict(), outputs="logvar,mu")
    for name in ("kept", "new one"):
        assert main(["import", *swapped, "--name", name, "--root", str(root), "--force"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("error: not imported:")
        assert '"encoder_outputs": ["logvar", "mu"]' in err
    assert {p.name: p.read_bytes() for p in root.iterdir()} == before  # no temp file either

    extra = write_files(tmp_path / "extra", model, {**card().to_dict(), "author": "me"})
    assert main(["import", *extra, "--name", "x", "--root", str(root)]) == 1
    assert "may not have: 'author'" in capsys.readouterr().err
    assert main(["import", *good, "--name", "kept", "--root", str(root)]) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    device = ["--encoder", "/dev/null", *good[2:]]  # read through the one strict reader
    assert main(["import", *device, "--name", "dev", "--root", str(root)]) == 1
    assert "null is not a regular file" in capsys.readouterr().err


def test_export_then_import_gives_the_same_model_to_1e_5(shipped, tmp_path, capsys):
    model, images = shipped
    out = tmp_path / "onnx"
    checkpoint = Path(__file__).resolve().parent.parent / "pretrained/fashion-mnist.safetensors"
    assert main(["export", "--checkpoint", str(checkpoint), "--onnx", str(out)]) == 0
    written = capsys.readouterr().out.split()
    assert [Path(p).name for p in written] == ["encoder.onnx", "decoder.onnx", "card.json"]
    assert json.loads((out / "card.json").read_text())["dataset"] == "fashion-mnist"
    root = tmp_path / "library"
    assert main(["import", "--encoder", str(out / "encoder.onnx"), "--decoder",
                 str(out / "decoder.onnx"), "--card", str(out / "card.json"), "--name", "back",
                 "--root", str(root)]) == 0  # fmt: skip
    back, _ = ModelLibrary(root).load("back")
    x, z = torch.as_tensor(images[:500]), torch.randn(400, 2) * 2
    with torch.no_grad():
        (mu, logvar), (b_mu, b_logvar) = model.encode(x), back.encode(x)
        assert (b_mu - mu).abs().max() < 1e-5
        assert (torch.exp(0.5 * b_logvar) - torch.exp(0.5 * logvar)).abs().max() < 1e-5
        assert (back.decode_mean(z) - model.decode_mean(z)).abs().max() < 1e-5
    # An imported model exports its own graphs back.
    again = tmp_path / "again"
    assert main(["export", "--checkpoint", str(root / "back.safetensors"), "--onnx",
                 str(again)]) == 0  # fmt: skip
    assert (again / "decoder.onnx").read_bytes() == (out / "decoder.onnx").read_bytes()
    assert np.isfinite(back.log_sigma_x.numpy()).all()


def test_q_star_of_a_foreign_model_matches_the_native_ones(shipped):
    """q* ascends the ELBO by gradients in z: the foreign decoder's are central differences
    (ForeignVAE), checked here against the native model's autograd on the same network."""
    from vae.inference import optimal_gaussian

    model, images = shipped
    encoder = to_onnx(Encoder(model, "flat", 0, "mu,logvar"), torch.rand(3, 784), False)
    decoder = to_onnx(Decoder(model, "logits", "flat"), torch.randn(3, 2), False)
    validated = validate_foreign(encoder, decoder, card(), images)
    foreign = ForeignVAE(validated.encoder, validated.decoder, card())
    x = images[:6]
    native, imported = optimal_gaussian(model, x), optimal_gaussian(foreign, x)
    np.testing.assert_allclose(imported.elbo_encoder, native.elbo_encoder, atol=1e-3)
    np.testing.assert_allclose(imported.elbo, native.elbo, atol=0.02)  # nats, of ~ -240
    assert (imported.elbo >= imported.elbo_encoder - 1e-6).all()
