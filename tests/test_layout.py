"""The package's layout keeps its rules: no import cycles, no reach-ins.

Read from the source (ast), so a rule broken by a new module fails here, not
in a code review.  See docs/architecture.md.
"""

import ast
from pathlib import Path

import gaussext

PACKAGE = Path(gaussext.__file__).parent
MODULES = {path.stem: ast.parse(path.read_text(), filename=str(path))
           for path in sorted(PACKAGE.glob("*.py"))}


def _imported_at_import_time(tree):
    """gaussext modules a module imports when it is imported (its top level,
    not the bodies of functions, which import lazily to keep start-up light)."""
    found = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for child in ast.walk(node):
            if isinstance(child, ast.ImportFrom) and child.module:
                if child.module == "gaussext":
                    found.update(alias.name for alias in child.names)
                elif child.module.startswith("gaussext."):
                    found.add(child.module.split(".")[1])
            elif isinstance(child, ast.Import):
                found.update(alias.name.split(".")[1] for alias in child.names
                             if alias.name.startswith("gaussext."))
    return {name for name in found if name in MODULES}


def test_no_module_imports_itself_back():
    graph = {name: _imported_at_import_time(tree) - {name} for name, tree in MODULES.items()}
    graph["__init__"] = set()  # the package's names are re-exports of the modules below
    state = {}

    def visit(name, path):
        if state.get(name) == "open":
            cycle = path[path.index(name):] + [name]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if state.get(name) == "done":
            return
        state[name] = "open"
        for imported in sorted(graph[name]):
            visit(imported, path + [name])
        state[name] = "done"

    for name in sorted(graph):
        visit(name, [])
    # the check can fail: a hand-made cycle is found
    graph.update(a={"b"}, b={"a"})
    state.clear()
    try:
        visit("a", [])
    except AssertionError as exc:
        assert "a -> b -> a" in str(exc)
    else:
        raise AssertionError("the cycle check missed a -> b -> a")


def _private_methods(module, class_name):
    for node in MODULES[module].body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return {item.name for item in node.body
                    if isinstance(item, ast.FunctionDef) and item.name.startswith("_")
                    and not item.name.startswith("__")}
    raise AssertionError(f"{class_name} not found in {module}")


def test_no_module_calls_another_class_private_methods():
    owners = {("_estimator", "GaussianAnomalyDetector"), ("_statistics", "GaussianStatistics"),
              ("_gaussian", "FittedGaussian")}
    for owner, class_name in owners:
        private = _private_methods(owner, class_name)
        assert private, class_name
        for name, tree in MODULES.items():
            if name == owner:
                continue
            reach_ins = sorted({f"line {node.lineno}: .{node.attr}" for node in ast.walk(tree)
                                if isinstance(node, ast.Attribute) and node.attr in private})
            assert not reach_ins, f"{name}.py calls {class_name}'s private methods: {reach_ins}"
