"""The app's bounded caches keep what was used last and build each entry once."""

from __future__ import annotations

import numpy as np

from ui.view_cache import DERIVED_ENTRIES, LatentView


def tiny_view() -> LatentView:
    return LatentView(x=np.zeros((1, 1)), y=None, mu=np.zeros((1, 2)), sigma=np.ones((1, 2)),
                      kl=np.zeros(1), recon_nll=np.zeros(1), label_kind=None, class_names=None)  # fmt: skip


def test_a_views_derived_figures_are_built_once_and_the_least_recently_used_go_first():
    view, built = tiny_view(), []
    keys = list(range(DERIVED_ENTRIES))
    for key in keys:
        view.derived(key, lambda key=key: built.append(key) or key)
    assert view.derived(0, lambda: built.append("again")) == 0  # cached: not built again
    view.derived("new", lambda: built.append("new") or "new")  # one over the bound
    assert built == [*keys, "new"]
    assert 0 in view._derived and 1 not in view._derived  # 0 was used last; 1 was not
    assert len(view._derived) == DERIVED_ENTRIES
