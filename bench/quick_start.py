"""Home's quick start, step by step: dataset load, training, and the latent map the page draws.

Run: .venv/bin/python bench/quick_start.py [--repeats 3]
Prints seconds per step (wall, and CPU time: what one free core would take) and the map's quality (test ELBO, 5-NN accuracy of the 2-D means) for
candidate configs, interleaved so that a busy machine slows them alike; compare ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from vae import VAE, ModelConfig, TrainConfig  # noqa: E402
from vae.data import load_dataset  # noqa: E402
from vae.job import cpu_threads_per_job  # noqa: E402
from vae.latent import encode_dataset, kl_per_example, knn_accuracy, reconstruction_error  # noqa: E402
from vae.latent_figure import latent_map_figure  # noqa: E402

CANDIDATES = {
    "b128 lr3e-3 constant": ((256, 128), TrainConfig(epochs=30, batch_size=128, lr=3e-3, lr_schedule="constant")),
    "b128 lr3e-3 cosine": ((256, 128), TrainConfig(epochs=30, batch_size=128, lr=3e-3)),
    "b128 lr5e-3 cosine": ((256, 128), TrainConfig(epochs=30, batch_size=128, lr=5e-3)),
    "b64 lr2e-3 cosine": ((256, 128), TrainConfig(epochs=30, batch_size=64, lr=2e-3)),
    "b256 lr5e-3 cosine": ((256, 128), TrainConfig(epochs=30, batch_size=256, lr=5e-3)),
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(cpu_threads_per_job())
    start = time.perf_counter()
    data = load_dataset("digits")
    print(f"load digits: {time.perf_counter() - start:.2f} s (first load, includes imports)")
    for repeat in range(args.repeats):
        for name, (hidden, config) in CANDIDATES.items():
            torch.manual_seed(config.seed)
            model = VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=hidden))
            from vae.train import train

            t0, c0 = time.perf_counter(), time.process_time()
            result = train(model, data.x_train, data.x_test, config)
            t_train, c_train = time.perf_counter() - t0, time.process_time() - c0
            t0 = time.perf_counter()
            mu, sigma = encode_dataset(model, data.x_test)
            kl_per_example(mu, sigma)
            reconstruction_error(model, data.x_test)
            fig = latent_map_figure(mu, sigma, data.y_test, class_names=data.class_names,
                                    click_grid=True)  # fmt: skip
            payload = len(fig.to_json())
            t_view = time.perf_counter() - t0
            train_mu, _ = encode_dataset(model, data.x_train)
            knn = knn_accuracy(train_mu, data.y_train, mu, data.y_test)
            print(
                f"[{repeat}] {name:22s} train {t_train:5.2f} s (CPU {c_train:5.2f} s)  view+figure {t_view:4.2f} s "
                f"({payload / 1e6:.2f} MB json)  test ELBO {result.history[-1]['test_elbo']:7.2f}"
                f"  5-NN {knn:.3f}"
            )


if __name__ == "__main__":
    main()
