"""Session state has one owner per key: every key the code writes is registered in
ui/session_keys.py, with the one module that writes it.

An AST scan over ui/ and pages/ (and app.py) finds every write to st.session_state: `state[k] =
...`, `del state[k]`, `state.k = ...`, `state.setdefault/pop/update/__setitem__(k, ...)`, also
through a local name bound to st.session_state. Each key is resolved to its string (a literal,
a constant of this module, or a name imported from ui.session_keys); a write whose key is not a
constant (a parameter) is allowed only in the registry's KEYED_WRITERS.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from ui import session_keys
from ui.session_keys import KEYED_WRITERS, REGISTRY, WIDGET

ROOT = Path(__file__).resolve().parents[1]
WRITE_METHODS = {"setdefault", "pop", "update", "__setitem__", "__delitem__", "clear"}


@dataclass(frozen=True)
class Write:
    module: str  # path from the repository root
    line: int
    key: str | None  # None: not a constant


def _is_session_state(node: ast.AST, aliases: set[str]) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "session_state":
        return True
    return isinstance(node, ast.Name) and node.id in aliases


def _constants(tree: ast.Module) -> dict[str, str]:
    """Names this module binds to a key string: its own string constants, and the names it
    imports from ui.session_keys."""
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    names[target.id] = node.value.value
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("session_keys"):
            for alias in node.names:
                value = getattr(session_keys, alias.name, None)
                if isinstance(value, str):
                    names[alias.asname or alias.name] = value
    return names


def _resolve(node: ast.AST, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "session_keys"
    ):
        value = getattr(session_keys, node.attr, None)
        return value if isinstance(value, str) else None
    return None


def writes_in(source: str, module: str) -> list[Write]:
    tree = ast.parse(source)
    constants = _constants(tree)
    aliases = {"session_state"}
    for node in ast.walk(tree):  # `state = st.session_state`
        if isinstance(node, ast.Assign) and _is_session_state(node.value, set()):
            aliases |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Subscript) and _is_session_state(target.value, aliases):
                found.append(Write(module, node.lineno, _resolve(target.slice, constants)))
            elif isinstance(target, ast.Attribute) and _is_session_state(target.value, aliases):
                found.append(Write(module, node.lineno, target.attr))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in WRITE_METHODS
            and _is_session_state(node.func.value, aliases)
        ):
            if node.func.attr == "update" or not node.args:
                found.append(Write(module, node.lineno, None))
            else:
                found.append(Write(module, node.lineno, _resolve(node.args[0], constants)))
    return found


def all_writes() -> list[Write]:
    files = [*ROOT.joinpath("ui").rglob("*.py"), *ROOT.joinpath("pages").glob("*.py")]
    files.append(ROOT / "app.py")
    writes = []
    for path in sorted(files):
        module = path.relative_to(ROOT).as_posix()
        writes += writes_in(path.read_text(), module)
    return writes


def test_the_scan_sees_every_kind_of_write():
    source = """
import streamlit as st
from ui.session_keys import ACTIVE_KEY
LOCAL = "vx_local"
st.session_state[ACTIVE_KEY] = 1
st.session_state["literal"] = 2
st.session_state.setdefault(LOCAL, {})
st.session_state.pop("popped", None)
del st.session_state["deleted"]
st.session_state.attribute = 3
def f(key):
    state = st.session_state
    state["through_alias"] = 4
    st.session_state[key] = 5
    st.session_state.update({"a": 1})
"""
    keys = [w.key for w in writes_in(source, "x.py")]
    assert sorted(keys, key=str) == sorted(
        ["vx_active_model", "literal", "vx_local", "popped", "deleted", "attribute",
         "through_alias", None, None], key=str,
    )  # fmt: skip


def test_every_key_written_is_registered_and_written_by_its_owner():
    problems = []
    for write in all_writes():
        where = f"{write.module}:{write.line}"
        if write.key is None:
            if write.module not in KEYED_WRITERS:
                problems.append(f"{where}: a key that is not a constant (register it)")
        elif write.key not in REGISTRY:
            problems.append(f"{where}: {write.key!r} is not in ui/session_keys.py")
        elif REGISTRY[write.key].writer != write.module:
            owner = REGISTRY[write.key].writer
            problems.append(f"{where}: {write.key!r} belongs to {owner} (call its functions)")
    assert not problems, "\n".join(problems)


def test_every_registered_key_is_written_by_its_writer_and_its_writer_exists():
    """(A key may hold a container its writer fills in place: the writer names the key.)"""
    for key in REGISTRY.values():
        assert (ROOT / key.writer).is_file(), key
        source = (ROOT / key.writer).read_text()
        named = set(_constants(ast.parse(source)).values()) | {
            n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant)
        }
        assert key.name in named, f"{key.name} is registered for {key.writer}, which never names it"


def test_each_key_has_a_type_a_meaning_and_a_fresh_default_per_session():
    for key in REGISTRY.values():
        assert key.holds and key.meaning, key
        if key.default is not WIDGET:
            first, second = key.default(), key.default()
            if first is not None and not isinstance(first, bool | int | str):
                assert first is not second, f"{key.name}: sessions would share one object"


@pytest.mark.parametrize("module", ["ui", "pages"])
def test_no_page_or_helper_initialises_keys_by_itself(module):
    """One initialisation (session_keys.init_state): no `if KEY not in st.session_state:
    st.session_state[KEY] = ...` blocks, no setdefault. (A widget's key may get its first value
    from the page's data before the widget draws: that is the widget's default, not state.)"""
    offenders = []
    for path in sorted(ROOT.joinpath(module).rglob("*.py")):
        tree = ast.parse(path.read_text())
        constants = _constants(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "setdefault"
                and _is_session_state(node.func.value, set())
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
                test = node.test
                if (
                    isinstance(test.ops[0], ast.NotIn)
                    and _is_session_state(test.comparators[0], set())
                    and not getattr(
                        REGISTRY.get(_resolve(test.left, constants)), "is_widget", False
                    )
                    and any(
                        isinstance(n, ast.Subscript) and _is_session_state(n.value, set())
                        for s in node.body
                        if isinstance(s, ast.Assign)
                        for n in s.targets
                    )
                    and path.name != "form_memory.py"  # recall(): a widget's remembered value
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_the_architecture_doc_lists_every_key_with_its_writer():
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    rows = dict(re.findall(r"^\| `([^`]+)` \|.*\| `([\w/]+\.py)` \|", doc, re.MULTILINE))
    assert {name: key.writer for name, key in REGISTRY.items()}.items() <= rows.items()
