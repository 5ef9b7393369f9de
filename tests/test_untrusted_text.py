"""Rule 1 of docs/SECURITY.md, checked over the source: every string a Streamlit text call
renders (Markdown bodies, captions, alerts, toasts, widget labels, help tooltips) is either
the app's own text or went through the one renderer, ui.text.plain().

The rule, strict but livable. An argument is trusted when it is
- a literal (a string, a number, None, True/False);
- a call to plain() (or to a helper of ui.text that builds its text with plain());
- an f-string, a `+` concatenation, a conditional or a `" ".join(...)` made only of trusted parts;
- a value formatted as a number (`{x:,}`, `{x:.3f}`, `int(x)`, `len(x)`, `round(x)`);
- an UPPER_CASE module constant;
- a local name whose every assignment in its function (or module) is trusted.
Anything else (a parameter, an attribute, a call's result) is untrusted: a helper that shows
a message it was given must render it with plain() itself.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile import ROOT, shown
from tests.hostile_text import HOSTILE_STRINGS
from ui.text import plain

SOURCES = ["app.py", "pages", "ui"]

# Every Streamlit call whose text is rendered as Markdown (or could be, in a label or a tooltip)
TEXT_CALLS = {
    "markdown", "caption", "write", "info", "warning", "error", "success", "toast", "title",
    "header", "subheader", "button", "download_button", "form_submit_button", "link_button",
    "page_link", "checkbox", "toggle", "radio", "selectbox", "multiselect", "select_slider",
    "slider", "number_input", "text_input", "text_area", "file_uploader", "camera_input",
    "color_picker", "date_input", "time_input", "expander", "popover", "tabs", "metric",
    "status", "pills", "segmented_control", "feedback", "chat_input", "latex", "badge",
}  # fmt: skip
# Calls whose first argument is not text (a picture), but whose caption is
CAPTIONED = {"image", "audio", "video", "download_button"}
# Keyword arguments rendered as Markdown; the first positional argument is the body or label.
TEXT_KEYWORDS = {"body", "label", "help", "caption", "captions", "placeholder", "text",
                 "file_name"}  # fmt: skip
# The renderer and the helpers of ui/text.py that return only its output
RENDERERS = {"plain", "download_name"}
NUMERIC = {"int", "float", "len", "round", "abs", "min", "max", "sum"}
# viz.inference's formatters of numbers in nats: a float in, only its digits and signs out
NUMERIC |= {"nats", "error_text"}
NUMBER_FORMAT_TYPES = set("bdeEfFgGnoxX%")
# Session-state keys that carry a message from a callback to the next run: what is stored
# there is checked like a text call's argument (where it is written, or by the helpers that
# write it: a store's argument at the given position), so what is read back is trusted.
MESSAGE_KEY = re.compile(r"(NOTICE|ERROR|MESSAGE|PROBLEM)_KEY$")
STORES = {"flash": 0, "_say": 1}
STR_METHODS = {"split", "replace", "strip", "lower", "upper", "capitalize", "title", "removesuffix"}


Function = tuple[ast.FunctionDef, "Scope"]
_MODULES: dict[str, Scope] = {}


def module_scope(module: str) -> Scope | None:
    """The module scope of a project module ("ui.text"), parsed once; None outside the project."""
    if module not in _MODULES:
        path = ROOT / (module.replace(".", "/") + ".py")
        if not path.is_file():
            package = ROOT / module.replace(".", "/") / "__init__.py"
            if not package.is_file():
                return None
            path = package
        package = module.rpartition(".")[0]
        _MODULES[module] = Scope(ast.parse(path.read_text(), str(path)), None, package)
    return _MODULES[module]


def python_files() -> Iterator[Path]:
    for source in SOURCES:
        path = ROOT / source
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _targets(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.Tuple | ast.List):
        for element in node.elts:
            yield from _targets(element)
    elif isinstance(node, ast.Starred):
        yield from _targets(node.value)


class Scope:
    """The assignments of one function (or of the module, outside functions)."""

    def __init__(self, body: ast.AST, parent: Scope | None, package: str = "") -> None:
        self.parent = parent
        self.assigned: dict[str, list[ast.AST | None]] = {}
        self.streamlit: set[str] = {"st"} if parent is None else set()
        self.parameters: set[str] = set()
        self.functions: dict[str, ast.FunctionDef] = {}
        self.imported: dict[str, tuple[str, str]] = {}
        if parent is None:
            for node in getattr(body, "body", []):
                if isinstance(node, ast.FunctionDef):
                    self.functions[node.name] = node
                elif isinstance(node, ast.ImportFrom) and node.module:
                    module = node.module if node.level == 0 else f"{package}.{node.module}"
                    for alias in node.names:
                        self.imported[alias.asname or alias.name] = (module, alias.name)
        if isinstance(body, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            arguments = body.args
            for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                        arguments.vararg, arguments.kwarg]:  # fmt: skip
                if arg is not None:
                    self.parameters.add(arg.arg)
        for node in self._own_nodes(body):
            value: ast.AST | None = None
            targets: list[ast.AST] = []
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
                targets, value = [node.target], node.value
            elif isinstance(node, ast.For | ast.comprehension):
                targets, value = [node.target], None  # a loop variable: its items are unknown
                if _root_name(node.iter) in self.streamlit | {"st"}:
                    self.streamlit.update(_targets(node.target))
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                targets, value = [node.optional_vars], None
                if _root_name(node.context_expr) in self.streamlit | {"st"}:
                    self.streamlit.update(_targets(node.optional_vars))
            else:
                continue
            is_unpacked = any(isinstance(t, ast.Tuple | ast.List) for t in targets)
            for target in targets:
                for name in _targets(target):
                    self.assigned.setdefault(name, []).append(None if is_unpacked else value)
                    if value is not None and _root_name(value) in self.streamlit | {"st"}:
                        self.streamlit.add(name)

    @staticmethod
    def _own_nodes(body: ast.AST) -> Iterator[ast.AST]:
        """The nodes of this scope, not of the functions and classes defined inside it."""
        stack = list(ast.iter_child_nodes(body))
        while stack:
            node = stack.pop()
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                continue
            yield node
            stack.extend(ast.iter_child_nodes(node))

    def is_streamlit(self, name: str) -> bool:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.streamlit:
                return True
            if name in scope.assigned or name in scope.parameters:
                return False
            scope = scope.parent
        return False

    def function(self, name: str) -> Function | None:
        """The project function `name` calls here: defined in this module or imported."""
        scope: Scope = self
        while scope.parent is not None:
            if name in scope.assigned or name in scope.parameters:
                return None
            scope = scope.parent
        if name in scope.functions:
            return scope.functions[name], scope
        if name in scope.imported:
            module, original = scope.imported[name]
            if module.split(".")[0] in {"ui", "vae", "viz", "runner", "pages"}:
                target = module_scope(module)
                if target is not None:
                    return target.function(original)
        return None

    def assignments(self, name: str) -> list[ast.AST | None] | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.parameters:
                return [None]
            if name in scope.assigned:
                return scope.assigned[name]
            scope = scope.parent
        return None


def is_trusted(node: ast.AST | None, scope: Scope, seen: frozenset[str] = frozenset()) -> bool:
    match node:
        case ast.Constant():
            return True
        case ast.JoinedStr(values=parts):
            return all(is_trusted(part, scope, seen) for part in parts)
        case ast.FormattedValue(value=value, format_spec=spec):
            if spec is not None and _is_number_format(spec):
                return True
            return is_trusted(value, scope, seen)
        case ast.BinOp(op=ast.Sub() | ast.Div() | ast.FloorDiv() | ast.Pow()):
            return True  # arithmetic gives a number
        case ast.BinOp(left=left, right=right):  # +, * (repetition) and % (formatting)
            return is_trusted(left, scope, seen) and is_trusted(right, scope, seen)
        case ast.IfExp(body=body, orelse=orelse):
            return is_trusted(body, scope, seen) and is_trusted(orelse, scope, seen)
        case ast.BoolOp(values=values):
            return all(is_trusted(value, scope, seen) for value in values)
        case ast.Compare() | ast.UnaryOp(op=ast.Not()):
            return True  # a bool
        case ast.UnaryOp(operand=operand):
            return is_trusted(operand, scope, seen)
        case ast.Call(func=ast.Name(id=name)) if name in RENDERERS | NUMERIC:
            return True
        case ast.Call(func=ast.Name(id=name)) if f"fn:{name}" not in seen:
            function = scope.function(name)
            return function is not None and returns_trusted(function, seen | {f"fn:{name}"})
        case ast.Call(func=ast.Attribute(attr=name)) if name in RENDERERS:
            return True
        case ast.Call(func=ast.Attribute(value=ast.Constant(value=str()), attr="join"), args=[arg]):
            return _elements_trusted(arg, scope, seen)
        case ast.Call(
            func=ast.Attribute(attr="format", value=ast.Constant(value=str())), args=args
        ):
            return all(is_trusted(arg, scope, seen) for arg in args)
        case ast.Call(func=ast.Attribute(value=receiver, attr=method), args=args) if (
            method in STR_METHODS
        ):
            return is_trusted(receiver, scope, seen) and all(
                is_trusted(arg, scope, seen) for arg in args
            )
        case ast.Subscript(value=state, slice=ast.Name(id=key)) if _is_session_state(state) and (
            MESSAGE_KEY.search(key)
        ):
            return True
        case ast.Call(
            func=ast.Attribute(value=state, attr="pop" | "get"), args=[ast.Name(id=key), *_]
        ) if _is_session_state(state) and MESSAGE_KEY.search(key):
            return True
        case ast.Subscript(value=value):  # an item of a trusted string or list
            return is_trusted(value, scope, seen)
        case ast.ListComp(elt=element) | ast.GeneratorExp(elt=element):
            return is_trusted(element, scope, seen)
        case ast.List(elts=elements) | ast.Tuple(elts=elements):
            return all(is_trusted(element, scope, seen) for element in elements)
        case ast.Name(id=name) if name.isupper():
            return True
        case ast.Name(id=name) if name not in seen:
            assignments = scope.assignments(name)
            return assignments is not None and all(
                is_trusted(value, scope, seen | {name}) for value in assignments
            )
    return False


def returns_trusted(function: Function, seen: frozenset[str]) -> bool:
    """A project function whose every return value is trusted (its parameters are not)."""
    definition, module_scope = function
    scope = Scope(definition, module_scope)
    returns = [node.value for node in Scope._own_nodes(definition) if isinstance(node, ast.Return)]
    calls = frozenset(name for name in seen if name.startswith("fn:"))  # its names are its own
    return bool(returns) and all(is_trusted(value, scope, calls) for value in returns)


def _elements_trusted(node: ast.AST, scope: Scope, seen: frozenset[str]) -> bool:
    if isinstance(node, ast.GeneratorExp | ast.ListComp):
        return is_trusted(node.elt, scope, seen)
    return is_trusted(node, scope, seen)


def _is_session_state(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "session_state"


def _is_number_format(spec: ast.JoinedStr) -> bool:
    text = "".join(part.value for part in spec.values if isinstance(part, ast.Constant))
    return bool(text) and (text[-1] in NUMBER_FORMAT_TYPES or text.rstrip("_,") != text)


def text_arguments(call: ast.Call) -> Iterator[ast.AST]:
    if call.args and not (
        isinstance(call.func, ast.Attribute) and call.func.attr in CAPTIONED - TEXT_CALLS
    ):
        yield call.args[0]
    for keyword in call.keywords:
        if keyword.arg in TEXT_KEYWORDS:
            yield keyword.value


def violations(source: str, filename: str) -> Iterator[str]:
    tree = ast.parse(source, filename)
    module = Scope(tree, None, str(Path(filename).parent).replace("/", "."))
    yield from _check(tree, module, filename)


def _check(body: ast.AST, scope: Scope, filename: str) -> Iterator[str]:
    for node in Scope._own_nodes(body):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = _root_name(node.func.value)
            if (
                node.func.attr in TEXT_CALLS | CAPTIONED
                and receiver
                and scope.is_streamlit(receiver)
            ):
                for argument in text_arguments(node):
                    if not is_trusted(argument, scope):
                        yield f"{filename}:{node.lineno}: st.{node.func.attr}({ast.unparse(argument)})"
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in STORES
        ):
            position = STORES[node.func.id]
            if len(node.args) > position and not is_trusted(node.args[position], scope):
                yield f"{filename}:{node.lineno}: {node.func.id}({ast.unparse(node.args[position])})"
        if isinstance(node, ast.Assign) and any(_is_message_store(t) for t in node.targets):
            value = node.value
            # a (tag, text) pair: the text is what is shown
            parts = value.elts[-1:] if isinstance(value, ast.Tuple) else [value]
            stored_by_helper = isinstance(body, ast.FunctionDef) and body.name in STORES
            for part in parts:
                if not (is_trusted(part, scope) or stored_by_helper):
                    yield f"{filename}:{node.lineno}: session_state[...] = {ast.unparse(part)}"
    for child in _inner_scopes(body):
        yield from _check(child, Scope(child, scope), filename)


def _is_message_store(target: ast.AST) -> bool:
    return (
        isinstance(target, ast.Subscript)
        and _is_session_state(target.value)
        and isinstance(target.slice, ast.Name)
        and bool(MESSAGE_KEY.search(target.slice.id))
    )


def _inner_scopes(body: ast.AST) -> Iterator[ast.AST]:
    stack = list(ast.iter_child_nodes(body))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield node
        else:
            stack.extend(ast.iter_child_nodes(node))


def test_every_streamlit_text_call_shows_untrusted_text_through_plain() -> None:
    found = [
        problem
        for path in python_files()
        for problem in violations(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("snippet", "flagged"),
    [
        ("st.caption(f'Using **{name}**')", True),  # an upload's name, as the Train page had
        ("st.caption(f'Using **{plain(name)}**')", False),
        ("col.toggle(f'Show {d.get(\"name\")}')", True),  # a column of st.columns
        ("st.button('Add', help=message)", True),
        ("st.markdown(f'{n:,} points, {x:.3f}')", False),
        ("st.markdown(f'{n} points')", True),  # could be any string
        ("st.info(TITLE + ' · ' + plain(name))", False),
        ("def f(text):\n    st.error(text)", True),  # a helper must render what it is given
        ("logger.error(f'{name}')", False),  # not Streamlit
        ("st.session_state[NOTICE_KEY] = f'Added {name}'", True),
        ("flash(f'Added {plain(name)}')", False),
        ("st.success(st.session_state[NOTICE_KEY])", False),
        ("label = 'A' if x else f'B {name}'\nst.button(label)", True),
    ],
)
def test_the_rule(snippet: str, flagged: bool) -> None:
    source = "import streamlit as st\ncol, other = st.columns(2)\n" + snippet
    assert bool(list(violations(source, "snippet.py"))) is flagged


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
def test_plain_leaves_no_markdown_autolink_or_invalid_unicode(text: str) -> None:
    rendered = plain(text)
    rendered.encode("utf-8")  # a lone surrogate would raise here, as protobuf does
    assert "\n" not in rendered and "\u202e" not in rendered
    unescaped = re.sub(r"\\.", "", rendered)  # what Markdown could still read as syntax
    assert not re.search(r"[\[\]()<>!`*_#:@$]", unescaped), rendered
    as_text = re.sub(r"\\(.)", r"\1", rendered)  # escapes resolved, as GFM autolinks see it
    assert not re.search(r"(?i)https?:/|www\.|@[\w-]", as_text), rendered
    if text.isascii() and "\n" not in text:
        assert shown(rendered) == text  # reads as written


def test_plain_cuts_long_text() -> None:
    assert shown(plain("a" * 1000, limit=10)) == "a" * 10 + "…"
