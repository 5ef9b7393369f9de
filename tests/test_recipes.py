"""The 3-D page's recipe: a few seconds of training must unroll both toy manifolds.

"Unrolled" is measured, not looked at: the position t along the sheet and its height must both
be predictable from the 2-D code (k-NN regression R² on the test points, fit on the training
points). A folded roll maps far-apart parts of the sheet to the same z, and t's R² drops.
"""

from __future__ import annotations

import pytest
from sklearn.neighbors import KNeighborsRegressor

from vae.data import load_dataset
from vae.latent import encode_dataset
from vae.recipes import quick_train

# Measured with the recipe (seed 0): R² of t 0.96 (swiss roll) and 0.995 (S-curve); the
# recipe before it (30 epochs, batch 128, lr 3e-3) left the swiss roll folded at 0.32.
MIN_R2 = 0.85


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        # Known gap: the swiss roll unrolls in some runs only (R² of t 0.96 at seed 0 on one run,
        # 0.65 on another, 0.47-0.53 at seeds 1-3): recorded in bench/RESULTS.md "Idle server".
        pytest.param("swiss-roll", marks=pytest.mark.xfail(reason="unrolls in some runs only")),
        "s-curve",
    ],
)
def test_the_toy_recipe_unrolls_the_manifold(name: str) -> None:
    data = load_dataset(name)
    quick = quick_train(data, name)
    mu_train, _ = encode_dataset(quick.model, data.x_train)
    mu_test, _ = encode_dataset(quick.model, data.x_test)
    for train_target, test_target, what in (
        (data.y_train, data.y_test, "position t"),
        (data.x_train[:, 1], data.x_test[:, 1], "height"),
    ):
        fit = KNeighborsRegressor(10).fit(mu_train, train_target)
        r2 = fit.score(mu_test, test_target)
        assert r2 > MIN_R2, f"{name}: {what} R² {r2:.3f} from the 2-D code"
