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


def _private_attributes(module, class_name):
    """Names of the class's private attributes: those its code sets or reads
    on self (or cls), and its class-level ones."""
    for node in MODULES[module].body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            names = {child.attr for child in ast.walk(node)
                     if isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name)
                     and child.value.id in ("self", "cls") and child.attr.startswith("_")
                     and not child.attr.startswith("__")}
            for item in node.body:
                if isinstance(item, ast.Assign):
                    names.update(target.id for assigned in item.targets
                                 for target in ast.walk(assigned)
                                 if isinstance(target, ast.Name) and target.id.startswith("_")
                                 and not target.id.startswith("__"))
            return names
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


def _private_attribute_uses(tree, private):
    """Lines of `tree` that read or set one of `private` on anything but self."""
    return sorted({f"line {node.lineno}: .{node.attr}" for node in ast.walk(tree)
                   if isinstance(node, ast.Attribute) and node.attr in private
                   and not (isinstance(node.value, ast.Name) and node.value.id == "self")})


def test_no_module_reads_or_sets_another_class_private_attributes():
    """Other modules use a class through its public protocol: no
    ``statistics._shift`` read, no ``detector._fitted = ...`` set from
    outside (an object's own ``self._x`` in another class is its business)."""
    owners = {("_estimator", "GaussianAnomalyDetector"), ("_statistics", "GaussianStatistics"),
              ("_gaussian", "FittedGaussian")}
    found = {}
    for owner, class_name in owners:
        private = found[class_name] = _private_attributes(owner, class_name)
        for name, tree in MODULES.items():
            if name != owner:
                reach_ins = _private_attribute_uses(tree, private)
                assert not reach_ins, (f"{name}.py uses {class_name}'s private attributes: "
                                       f"{reach_ins}")
    # the check can fail: it sees the attributes, and a use of one from outside
    assert {"_shift", "_relative_mean", "_weight"} <= found["GaussianStatistics"]
    assert "_fitted" in found["GaussianAnomalyDetector"]
    outside = ast.parse("def f(statistics, detector):\n"
                        "    detector._fitted = None\n"
                        "    return statistics._shift, self_like._weight\n")
    assert len(_private_attribute_uses(outside, found["GaussianStatistics"]
                                       | found["GaussianAnomalyDetector"])) == 3
