"""The command line: train -> evaluate -> info on the tiny digits set, and one-line errors."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vae.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from vae.cli import ProgressLine, main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--hidden", "64,32", "--batch-size", "64", "--quiet"]


def run_module(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """`python -m vae ...` in a fresh interpreter, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "vae", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def assert_one_error_line(stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A checkpoint trained for two epochs on digits through the CLI."""
    out = tmp_path_factory.mktemp("cli") / "digits-test.safetensors"
    code = main(["train", "--dataset", "digits", "--epochs", "2", "--out", str(out), *SMALL])
    assert code == 0
    return out


def test_help_runs_as_a_module():
    result = run_module("--help")
    assert result.returncode == 0
    for command in ("train", "evaluate", "info", "list"):
        assert command in result.stdout


def test_train_writes_a_loadable_checkpoint(trained, capsys):
    model, metadata = load_checkpoint(trained)
    assert model.config.input_dim == 64 and model.config.hidden == (64, 32)
    assert metadata["name"] == "digits-test"
    assert metadata["dataset"] == "digits"
    assert metadata["train_config"]["epochs"] == 2
    assert metadata["interrupted"] is False
    assert [h["epoch"] for h in metadata["history"]] == [1, 2]
    # The saved test metrics are the robust ELBO (10 z per example), not the last epoch's
    # one-z figure: the two estimate the same ELBO.
    # The default is the literature's protocol: trained on binary draws, scored over several.
    assert metadata["train_config"]["dynamic_binarization"] is True
    metrics = metadata["test_metrics"]
    assert metrics["z_samples"] == 10 and metrics["binarizations"] == 5
    assert metrics["elbo"] == pytest.approx(metadata["history"][-1]["test_elbo"], abs=2.0)
    assert 0 < metrics["max_sigma"] <= 3.0 * (1 + 1e-6)  # the default posterior bound
    assert all(math.isfinite(v) for v in metrics.values())
    assert metadata["preprocessing"] and metadata["created"] and metadata["device"]


def test_evaluate_json(trained, capsys):
    code = main(["evaluate", "--checkpoint", str(trained), "--iw", "50", "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["dataset"] == "digits" and report["split"] == "test"  # from the checkpoint
    for key in ("elbo", "elbo_sem", "recon", "kl", "max_sigma", "iwae", "knn_accuracy"):
        assert isinstance(report[key], float) and math.isfinite(report[key]), key
    assert report["elbo"] == pytest.approx(-(report["recon"] + report["kl"]))
    assert report["z_samples"] == 10 and report["binarizations"] == 5  # binarised by default
    assert report["dynamic_binarization"] is True
    assert report["is_log_likelihood"] is True and report["note"] is None
    assert report["max_posterior_sigma"] == 3.0 and report["max_sigma"] <= 3.0 * (1 + 1e-6)
    # The checkpoint's saved metrics came from the same robust estimator with the same seed.
    saved = read_metadata(trained)["test_metrics"]
    assert report["elbo"] == pytest.approx(saved["elbo"], rel=1e-6)
    assert report["kl"] >= 0
    # The IWAE bound (k=50) is at least the ELBO, up to Monte Carlo noise on 300 examples.
    assert report["iwae"] >= report["elbo"] - 0.5
    assert 0.0 <= report["knn_accuracy"] <= 1.0
    assert report["iwae_k"] == 50


def test_evaluate_exact_log_likelihood(trained, capsys):
    code = main(["evaluate", "--checkpoint", str(trained), "--iw", "2000", "--exact", "--json",
                 "--quiet"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    exact, error = report["exact_log_likelihood"], report["exact_log_likelihood_error"]
    # log p(x) >= IWAE's bound in expectation >= the ELBO; IWAE at k = 2000 is close to it here.
    assert report["elbo"] < exact
    assert abs(report["iwae"] - exact) < 0.1 + error
    assert main(["evaluate", "--checkpoint", str(trained), "--iw", "0", "--exact", "--quiet"]) == 0
    assert "log p(x) exact" in capsys.readouterr().out


def test_evaluate_text_and_options(trained, capsys):
    code = main(["evaluate", "--checkpoint", str(trained), "--dataset", "digits",
                 "--split", "train", "--iw", "0", "--quiet"])  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0
    assert "digits train set" in out and "ELBO" in out and "IWAE" not in out
    assert "mean over 5 binarisations x 10 samples of z per example" in out
    assert "largest sigma" in out and "the model's bound is 3" in out
    code = main(["evaluate", "--checkpoint", str(trained), "--iw", "0", "--z-samples", "3",
                 "--quiet", "--json"])  # fmt: skip
    assert code == 0 and json.loads(capsys.readouterr().out)["z_samples"] == 3


def test_info(trained, capsys):
    assert main(["info", "--checkpoint", str(trained)]) == 0
    out, _ = capsys.readouterr()
    assert "digits-test" in out and "2 epoch(s) trained" in out
    assert "dynamic_binarization: True" in out.splitlines()
    assert "Not a log-likelihood" not in out
    assert main(["info", "--checkpoint", str(trained), "--json"]) == 0
    out, _ = capsys.readouterr()
    assert json.loads(out) == read_metadata(trained)


def test_list_shows_library_models(trained, capsys):
    assert main(["list", "--root", str(trained.parent)]) == 0
    out, _ = capsys.readouterr()
    assert "digits-test" in out and "test ELBO" in out


def test_list_an_empty_library_and_a_broken_file(tmp_path, capsys):
    assert main(["list", "--root", str(tmp_path / "absent")]) == 0
    assert capsys.readouterr().out == f"no models in {tmp_path / 'absent'}\n"
    (tmp_path / "torn.safetensors").write_bytes(b"not a checkpoint")
    assert main(["list", "--root", str(tmp_path)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("torn") and "BROKEN: " in line


def test_info_says_when_training_was_interrupted(trained, tmp_path, capsys):
    model, metadata = load_checkpoint(trained)
    stopped = tmp_path / "stopped.safetensors"
    save_checkpoint(stopped, model, {**metadata, "interrupted": True})
    assert main(["info", "--checkpoint", str(stopped)]) == 0
    out = capsys.readouterr().out
    assert "2 epoch(s) trained (interrupted)" in out
    assert (
        "model:       mlp hidden [64, 32], latent 2, bernoulli likelihood, input 64, "
        "posterior sigma <= 3" in out
    )


def test_default_out_is_the_library(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(tmp_path / "library"))
    code = main(["train", "--dataset", "digits", "--epochs", "1", "--dynamic-binarization",
                 "--lr-schedule", "constant", *SMALL])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    path = tmp_path / "library" / "digits-mlp-z2.safetensors"
    assert str(path) in out
    train_config = load_checkpoint(path)[1]["train_config"]
    assert train_config["dynamic_binarization"] is True
    assert train_config["lr_schedule"] == "constant"
    # The same name again is refused before any training, unless forced.
    code = main(["train", "--dataset", "digits", "--epochs", "1", *SMALL])
    _, err = capsys.readouterr()
    assert code == 1 and "--force" in err
    assert_one_error_line(err)
    # evaluate uses the dynamic-binarisation test protocol recorded in the checkpoint.
    assert main(["evaluate", "--checkpoint", str(path), "--iw", "5", "--json", "--quiet"]) == 0
    out, _ = capsys.readouterr()
    report = json.loads(out)
    assert report["dynamic_binarization"] is True
    assert report["binarizations"] == 5 and report["z_samples"] == 10  # the robust protocol
    assert load_checkpoint(path)[1]["test_metrics"]["binarizations"] == 5
    assert main(["evaluate", "--checkpoint", str(path), "--iw", "5", "--quiet"]) == 0
    out, _ = capsys.readouterr()
    assert "5 binarisations x 10 samples of z" in out and "one fixed binarisation" in out


def test_a_grey_level_bernoulli_model_is_said_not_to_be_a_likelihood(tmp_path, capsys):
    """--no-dynamic-binarization trains on grey levels: every number it reports says that it is
    not a log-likelihood, and evaluate scores the grey levels (no binarisations)."""
    out_path = tmp_path / "grey.safetensors"
    code = main(["train", "--dataset", "digits", "--epochs", "1", "--no-dynamic-binarization",
                 "--out", str(out_path), *SMALL])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    metadata = read_metadata(out_path)
    assert metadata["train_config"]["dynamic_binarization"] is False
    assert metadata["test_metrics"]["binarizations"] == 0
    assert main(["info", "--checkpoint", str(out_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "dynamic_binarization: False" in lines
    assert any(line.startswith("note:        Not a log-likelihood") for line in lines)
    assert main(["evaluate", "--checkpoint", str(out_path), "--iw", "5", "--quiet"]) == 0
    assert "note: Not a log-likelihood" in capsys.readouterr().out
    assert main(["evaluate", "--checkpoint", str(out_path), "--iw", "5", "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["binarizations"] == 0 and report["is_log_likelihood"] is False
    assert report["note"].startswith("Not a log-likelihood")


def test_a_gaussian_model_is_not_binarised_by_default(tmp_path, capsys):
    out_path = tmp_path / "roll.safetensors"
    code = main(["train", "--dataset", "swiss-roll", "--epochs", "1", "--out", str(out_path),
                 *SMALL])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    metadata = read_metadata(out_path)
    assert metadata["model_config"]["likelihood"] == "gaussian"
    assert metadata["train_config"]["dynamic_binarization"] is False
    assert main(["info", "--checkpoint", str(out_path)]) == 0
    out = capsys.readouterr().out
    assert "dynamic_binarization:" not in out and "Not a log-likelihood" not in out


def test_progress_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = ProgressLine(stream, total_steps=20)
    progress.step(5, 1, 2, force=True)
    progress.epoch_done(1, 2, 10, {"loss": 12.5}, {"elbo": -11.25})
    progress.close()
    text = stream.getvalue()
    assert "\r" in text and text.endswith("\n")  # redrawn in place, then left on its own line
    assert "epoch 1/2" in text and "50%" in text and "test ELBO -11.25" in text and "ETA" in text


# --- errors: one line, never a traceback ---------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["train"],
        ["train", "--dataset", "nope"],
        ["train", "--dataset", "digits", "--data", "x.npz"],
        ["train", "--dataset", "digits", "--hidden", "a,b"],
        ["train", "--dataset", "digits", "--epochs", "0"],
        ["train", "--dataset", "digits", "--lr", "nan"],
        ["evaluate"],
        ["evaluate", "--checkpoint", "m.safetensors", "--split", "validation"],
        ["info"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert_one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "--checkpoint", "{missing}"], "no checkpoint"),
        (["info", "--checkpoint", "{missing}"], "no checkpoint"),
        (["train", "--dataset", "swiss-roll", "--likelihood", "bernoulli"], "needs data in [0, 1]"),
        (["train", "--dataset", "swiss-roll", "--dynamic-binarization"], "bernoulli likelihood"),
        (["train", "--dataset", "digits", "--arch", "conv"], "conv architecture"),
        (["train", "--dataset", "digits", "--hidden", "100000"], "hidden width"),
        (["train", "--dataset", "digits", "--final-lr-fraction", "2"], "final_lr_fraction"),
        (["train", "--dataset", "digits", "--out", "model.pt"], "must end with .safetensors"),
        (["train", "--dataset", "digits", "--out", "{tmp}/.x.safetensors"], "valid model name"),
        (["train", "--data", "{missing}"], "does not exist"),
        (["evaluate", "--checkpoint", "{trained}", "--dataset", "swiss-roll"], "expects 64"),
    ],
)
def test_failures_exit_1_with_one_line(argv, message, trained, tmp_path, capsys):
    names = {"missing": tmp_path / "absent.safetensors", "tmp": tmp_path, "trained": trained}
    argv = [a.format(**names) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert_one_error_line(err)
    assert message in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device(capsys):
    assert main(["train", "--dataset", "digits", "--device", "cuda", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert_one_error_line(err)
    assert "CUDA" in err


class Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("command", ["evaluate", "info"])
def test_malicious_checkpoint_is_refused_without_running_it(tmp_path, command):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    torch.save({"state_dict": Exploit(str(marker))}, path)
    result = run_module(command, "--checkpoint", str(path))
    assert result.returncode == 1
    assert_one_error_line(result.stderr)
    assert "not a vae-explorer checkpoint" in result.stderr
    assert not marker.exists()


def test_pickle_payload_with_pickle_dump(tmp_path, capsys):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(Exploit(str(marker))))
    assert main(["evaluate", "--checkpoint", str(path)]) == 1
    assert_one_error_line(capsys.readouterr().err)
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_ctrl_c_stops_after_the_batch_and_saves(tmp_path):
    out = tmp_path / "stopped.safetensors"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vae",
            "train",
            "--dataset",
            "digits",
            "--epochs",
            "500",
            "--hidden",
            "64,32",
            "--out",
            str(out),
        ],  # fmt: skip
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # stderr is a pipe: one line per epoch
            line = process.stderr.readline()
            if line.startswith("epoch 1/500") or not line:
                break
        assert line.startswith("epoch 1/500"), line
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "interrupted after" in stdout and str(out) in stdout
    model, metadata = load_checkpoint(out)
    assert metadata["interrupted"] is True
    assert 1 <= len(metadata["history"]) < 500
    assert math.isfinite(metadata["test_metrics"]["elbo"])


def test_train_and_evaluate_on_user_data(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(0)
    data = tmp_path / "digits.npz"  # named like a built-in: evaluate must not mix them up
    np.savez(data, x=rng.uniform(size=(120, 6)).astype(np.float32), y=rng.integers(0, 3, 120))
    out = tmp_path / "mine.safetensors"
    code = main(["train", "--data", str(data), "--epochs", "1", "--hidden", "8", "--quiet",
                 "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    meta = load_checkpoint(out)[1]
    assert meta["dataset_source"] == "upload" and meta["dataset_file"] == "digits.npz"
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert_one_error_line(err)
    assert "--data FILE" in err
    code = main(["evaluate", "--checkpoint", str(out), "--data", str(data), "--iw", "10",
                 "--json", "--quiet"])  # fmt: skip
    out_text, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out_text)
    assert report["examples"] > 0 and math.isfinite(report["iwae"])


def test_download_progress_is_one_line_that_ends(monkeypatch, capsys):
    import vae.data
    from vae.cli.shared import load_data as _load_data

    def fake_load(name, data_dir=None, progress=None):
        for done in (0, 2**20, 2**21):
            progress(done, 2**21)
        return "the dataset"

    monkeypatch.setattr(vae.data, "load_dataset", fake_load)
    assert _load_data("mnist", None, None, quiet=False) == "the dataset"
    err = capsys.readouterr().err
    assert err.startswith("\rdownloading mnist") and err.count("\n") == 1 and err.endswith("\n")
    assert "2.00M/2.00M" in err.splitlines()[-1]  # the last redraw: all of it, in MiB
    assert _load_data("mnist", None, None, quiet=True) == "the dataset"
    assert capsys.readouterr().err == ""


def test_diverged_training_is_one_error_line_and_saves_nothing(tmp_path, capsys):
    out = tmp_path / "diverged.safetensors"
    # An unbounded posterior sigma is what blows up for real at lr = 10 (a bounded one stays
    # finite, if useless).
    code = main(["train", "--dataset", "swiss-roll", "--epochs", "2", "--lr", "10",
                 "--max-posterior-sigma", "none", "--hidden", "16", "--quiet",
                 "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert_one_error_line(err)
    assert "non-finite" in err
    assert not out.exists()


@pytest.mark.parametrize(("flag", "bound"), [("none", None), ("1.5", 1.5)])
def test_train_sets_the_posterior_bound(tmp_path, capsys, flag, bound):
    out = tmp_path / "bound.safetensors"
    code = main(["train", "--dataset", "digits", "--epochs", "1", "--max-posterior-sigma", flag,
                 "--out", str(out), *SMALL])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert load_checkpoint(out)[0].config.max_posterior_sigma == bound


def test_a_bad_posterior_bound_is_one_error_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--dataset", "digits", "--max-posterior-sigma", "-1"])
    assert exit_info.value.code == 2
    assert_one_error_line(capsys.readouterr().err)
