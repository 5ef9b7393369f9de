"""The 3-D page's recipe: seconds of training must unroll both toy manifolds, from any seed.

"Unrolled" is measured, not looked at: the position t along the sheet and its height must both
be predictable from the 2-D code (k-NN regression R² on the test points, fit on the training
points). A folded roll maps far-apart parts of the sheet to the same z, and t's R² drops.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from sklearn.neighbors import KNeighborsRegressor

from vae import TrainConfig
from vae.data import load_dataset
from vae.latent import encode_dataset
from vae.recipes import TOY_TRAIN, quick_train

# The bar (#18): R² >= 0.9 of the sheet position for seeds 0-4. Measured with the
# recipe over seeds 0-9 (bench/RESULTS.md): R² of t 0.91-0.98 on the swiss roll; the recipe
# before it (SiLU, 60 epochs, plain cosine) left seeds 0-4 folded at 0.48-0.65.
MIN_R2 = 0.9


def unrolled_r2(name: str, config: TrainConfig) -> dict[str, float]:
    """R² of the position t and of the height from mu, for a fresh quick_train run."""
    data = load_dataset(name)
    quick = quick_train(data, name, config=config)
    mu_train, _ = encode_dataset(quick.model, data.x_train)
    mu_test, _ = encode_dataset(quick.model, data.x_test)
    return {
        what: KNeighborsRegressor(10).fit(mu_train, train).score(mu_test, test)
        for what, train, test in (
            ("position t", data.y_train, data.y_test),
            ("height", data.x_train[:, 1], data.x_test[:, 1]),
        )
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "seed"),
    [*(("swiss-roll", seed) for seed in range(5)), ("s-curve", 0)],
)
def test_the_toy_recipe_unrolls_the_manifold(name: str, seed: int) -> None:
    for what, r2 in unrolled_r2(name, replace(TOY_TRAIN, seed=seed)).items():
        assert r2 >= MIN_R2, f"{name}, seed {seed}: {what} R² {r2:.3f} from the 2-D code"
