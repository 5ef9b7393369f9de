"""vae/ is a plain library: no module in it may import Streamlit (the app imports vae, not back)."""

from __future__ import annotations

import ast
from pathlib import Path

VAE_DIR = Path(__file__).resolve().parent.parent / "vae"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))
    return names


def test_no_module_under_vae_imports_streamlit() -> None:
    files = sorted(VAE_DIR.rglob("*.py"))
    assert len(files) > 5  # the walk found the library
    offenders = {
        str(path.relative_to(VAE_DIR)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] == "streamlit"
        )
        for path in files
    }
    assert {f: names for f, names in offenders.items() if names} == {}


def test_the_check_would_catch_one(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text(
        "import os\nfrom streamlit import session_state\nimport streamlit.components.v1\n"
    )
    assert {"streamlit", "streamlit.components.v1"} <= imported_modules(sample)
