"""Build every widget of every chapter, as the chapter's own code does, without the chapter's data.

For tests/test_widgets_colab.py, which runs this file as a script under two versions of ipywidgets
(Colab's 7.7 and the pinned 8.x): ``python tests/widget_cells.py`` prints a JSON object
``{notebook name: {"built": [widget class names], "error": None or a message}}``.

For each chapter, the *skeleton* that is executed is

- every import statement of the notebook (real modules: numpy, lecturelib, ipywidgets, ...);
- every top-level function of the notebook with its signature, defaults and decorators, but a
  body of ``return None`` (``interact`` calls the function once; the chapter's plotting is not
  under test here, and it needs the chapter's trained models);
- every assignment of a literal anywhere in the notebook (``batch_sizes = [1, 2, 4, 8]``), in order;
- every other statement of each cell that calls ipywidgets (``interact(...)``, ``FloatSlider(...)``,
  ``@interact(...)``), exactly as written, with the rest of that cell.

A name the skeleton reads but never binds (``n_test``, ``code_sizes``, a trained model) is bound
beforehand to a :class:`StandIn`: an int that equals 3, iterates as ``1, 2, 3`` and answers any
attribute, call or item with another stand-in. So every widget is built with the chapter's
keyword arguments, abbreviations and value types against the installed ipywidgets API.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


class StandIn(int):
    """A value for a name the skeleton does not bind: 3, a sequence ``1, 2, 3``, anything else."""

    def __new__(cls):
        return super().__new__(cls, 3)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return StandIn()

    def __call__(self, *args, **kwargs):
        return StandIn()

    def __getitem__(self, key):
        return [1, 2, 3][key] if isinstance(key, slice) else StandIn()

    def __iter__(self):
        return iter([1, 2, 3])

    def __len__(self):
        return 3


def _code_cells(path: Path) -> list[ast.Module]:
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell  # %pip and other magics become Python
    return [ast.parse(transform(cell.source)) for cell in nbformat.read(path, as_version=4).cells
            if cell.cell_type == "code"]


def widget_names(trees: list[ast.Module]) -> tuple[set[str], set[str]]:
    """Names bound to ipywidgets objects (``from ipywidgets import X``) and aliases of the module."""
    names, modules = set(), set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ipywidgets":
                names |= {alias.asname or alias.name for alias in node.names}
            elif isinstance(node, ast.Import):
                modules |= {alias.asname or alias.name for alias in node.names if alias.name == "ipywidgets"}
    return names, modules


def calls_widgets(node: ast.AST, names: set[str], modules: set[str]) -> bool:
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            if isinstance(func, ast.Name) and func.id in names:
                return True
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in modules:
                return True
    return False


def _stub(function: ast.FunctionDef) -> ast.FunctionDef:
    function = ast.parse(ast.unparse(function)).body[0]  # a copy
    function.body = [ast.Return(value=ast.Constant(None))]
    return function


def _is_literal_assignment(statement: ast.stmt) -> bool:
    if not isinstance(statement, ast.Assign):
        return False
    try:
        ast.literal_eval(statement.value)
    except ValueError:
        return False
    return True


def skeleton(path: Path) -> tuple[ast.Module, int]:
    """The skeleton of a chapter (see the module doc) and how many of its statements call ipywidgets."""
    trees = _code_cells(path)
    names, modules = widget_names(trees)
    imports, definitions, widget_code, count = [], [], [], 0
    for tree in trees:
        widget_cell = calls_widgets(tree, names, modules)
        for statement in tree.body:
            if isinstance(statement, (ast.Import, ast.ImportFrom)):
                imports.append(statement)
            elif isinstance(statement, ast.FunctionDef):
                stub = _stub(statement)
                decorated = any(calls_widgets(d, names, modules) for d in statement.decorator_list)
                (widget_code if decorated else definitions).append(stub)  # ``@interact`` runs in place
                count += decorated
            elif widget_cell:
                widget_code.append(statement)
                count += calls_widgets(statement, names, modules)
            elif _is_literal_assignment(statement):
                definitions.append(statement)
    module = ast.Module(body=imports + definitions + widget_code, type_ignores=[])
    return ast.fix_missing_locations(module), count


def free_names(module: ast.Module) -> set[str]:
    return {node.id for node in ast.walk(module) if isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load) and not hasattr(builtins, node.id)}


def build(path: Path) -> dict:
    """Execute a chapter's skeleton; return the classes of the widgets it built, or the error."""
    import ipywidgets

    built: list[str] = []
    ipywidgets.Widget.on_widget_constructed(lambda widget: built.append(type(widget).__name__))
    module, count = skeleton(path)
    namespace = {name: StandIn() for name in free_names(module)}
    namespace["__name__"] = "__main__"
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # display() outside IPython prints a repr
            exec(compile(module, str(path), "exec"), namespace)
        error = None
    except Exception as exc:  # reported per chapter, with the code that failed
        error = f"{type(exc).__name__}: {exc}"
    finally:
        ipywidgets.Widget.on_widget_constructed(lambda widget: None)
    return {"built": built, "statements": count, "error": error}


def main() -> None:
    import ipywidgets

    report = {"ipywidgets": ipywidgets.__version__, "ipywidgets_file": ipywidgets.__file__,
              "chapters": {path.name: build(path) for path in NOTEBOOKS}}
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
