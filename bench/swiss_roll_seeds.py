"""Does the 3-D page's recipe unroll the swiss roll from every seed? Candidates over seeds.

    python bench/swiss_roll_seeds.py                      # every candidate, seeds 0-9
    python bench/swiss_roll_seeds.py --recipes page --seeds 0,1,2 --dataset s-curve

Each run is `vae.recipes.quick_train` with one candidate's activation and training config (one
thread, as the page trains). "Unrolled" is measured as tests/test_recipes.py measures it: the
k-NN (k = 10) R² of the sheet position t and of the height from the 2-D code mu, fit on the
training points and scored on the test points; a fold sends distant parts of the sheet to the
same z and t's R² drops. Prints one line per run (R² of t and height, the robust test ELBO,
seconds, the 1-minute load average) and a summary per candidate.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.neighbors import KNeighborsRegressor  # noqa: E402

from vae import recipes  # noqa: E402
from vae.data import load_dataset  # noqa: E402
from vae.latent import encode_dataset  # noqa: E402
from vae.recipes import TOY_ACTIVATION, TOY_TRAIN, quick_train  # noqa: E402

# The recipe before #18's item 5, and the steps from it to today's (vae/recipes.py).
PAGE_BEFORE = replace(TOY_TRAIN, epochs=60, batch_size=256, decay_fraction=1.0, warmup_epochs=0)
CANDIDATES = {
    "before": ("silu", PAGE_BEFORE),
    "relu": ("relu", PAGE_BEFORE),
    "relu-80": ("relu", replace(PAGE_BEFORE, epochs=80)),
    "relu-80-stable": ("relu", replace(PAGE_BEFORE, epochs=80, decay_fraction=0.3)),
    "relu-80-stable-warmup": (
        "relu",
        replace(PAGE_BEFORE, epochs=80, decay_fraction=0.3, warmup_epochs=10),
    ),
    "page": (TOY_ACTIVATION, TOY_TRAIN),
}


def unrolled_r2(model, data) -> tuple[float, float]:
    """k-NN R² of (t, height) from mu on the test points, fit on the training points."""
    mu_train, _ = encode_dataset(model, data.x_train)
    mu_test, _ = encode_dataset(model, data.x_test)
    t, height = (
        KNeighborsRegressor(10).fit(mu_train, train).score(mu_test, test)
        for train, test in ((data.y_train, data.y_test), (data.x_train[:, 1], data.x_test[:, 1]))
    )
    return t, height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", default=",".join(CANDIDATES))
    parser.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--dataset", default="swiss-roll", choices=("swiss-roll", "s-curve"))
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{args.dataset}, seeds {seeds}, {os.cpu_count()} cores", flush=True)
    for name in args.recipes.split(","):
        activation, config = CANDIDATES[name]
        r2_t = []
        for seed in seeds:
            start = time.perf_counter()
            recipes.TOY_ACTIVATION = activation  # read by quick_model_config at each call
            quick = quick_train(data, name, config=replace(config, seed=seed))
            seconds = time.perf_counter() - start
            t, height = unrolled_r2(quick.model, data)
            r2_t.append(t)
            print(
                f"{name} seed {seed}: R² t {t:.3f} height {height:.3f} "
                f"test ELBO {quick.test_terms['elbo']:.2f} {seconds:.1f} s "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        print(f"{name}: min R² of t {min(r2_t):.3f}, runs >= 0.9: {sum(r >= 0.9 for r in r2_t)}")


if __name__ == "__main__":
    main()
