"""The layout's rules: no import cycles among the project's modules.

The boundaries between packages (vae, viz, runner, ui) are import-linter contracts in
pyproject.toml, checked by `lint-imports` in the test command; this adds what import-linter
does not check: that no two modules import each other, directly or around a loop.
"""

from __future__ import annotations

import graphlib

import grimp

PACKAGES = ("vae", "viz", "runner", "ui")


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The modules of one import cycle, or [] (graphlib stops at the first cycle it meets:
    fix it, and the next run shows the next one)."""
    sorter = graphlib.TopologicalSorter(
        {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    )
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        loop = error.args[1]  # [a, b, ..., a]
        return [sorted(set(loop))]
    return []


def test_no_import_cycles() -> None:
    # As in the import-linter contracts: an import under TYPE_CHECKING never runs.
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    assert len(graph.modules) > 40  # the walk found the project
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_one() -> None:
    graph = grimp.ImportGraph()
    for name in ("a", "a.b", "a.c", "a.d"):
        graph.add_module(name)
    graph.add_import(importer="a.b", imported="a.c")
    graph.add_import(importer="a.c", imported="a.b")
    graph.add_import(importer="a.c", imported="a.d")
    assert import_cycles(graph) == [["a.b", "a.c"]]
