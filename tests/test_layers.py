"""The package's layers import only downwards, read from the source with ``ast``.

base (version, data, validation, exceptions) <- core (identifiability, graphs) <- methods
(simulators | estimators, which never import each other) <- doors (cli, bench,
testing). The base, the core and the simulators never import torch or Pyro, and
the simulators use only public names of causalrep.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first; a module may import modules of its own layer and of the layers below.
LAYERS = {
    "base": ("causalrep._version", "causalrep.exceptions", "causalrep.validation", "causalrep.data"),
    "core": ("causalrep.identifiability", "causalrep.graphs"),
    "methods": ("simulators", "causalrep.estimators"),
    "doors": ("causalrep.cli", "causalrep.bench", "causalrep.testing", "causalrep.__main__"),
}
RANK = {layer: rank for rank, layer in enumerate(LAYERS)}
# The two method packages sit side by side: neither imports the other.
SIBLINGS = {"simulators": "causalrep.estimators", "causalrep.estimators": "simulators"}
TORCH_FREE = ("base", "core", "simulators")


def _modules():
    found = {}
    for top in ("causalrep", "simulators"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            package = parts[-1] == "__init__"
            if package:
                parts.pop()
            found[".".join(parts)] = (path, package)
    return found


MODULES = _modules()


def _group(name):
    """(layer, package prefix) of a module name of ours; None for the root facade."""
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + "."):
                return layer, prefix
    return None


def _imports(module, module_level_only=False):
    """(target module, imported name or None, line) for every import in ``module``."""
    path, package = MODULES[module]
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level_only else ast.walk(tree)
    here = module.split(".") if package else module.split(".")[:-1]
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                prefix = here[: len(here) - node.level + 1]
                base = ".".join(prefix + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in MODULES else base), alias.name, node.lineno


def _facade_target(target, name):
    """What importing ``name`` from the root package loads: the estimators, lazily,
    for the names it resolves on first use."""
    import causalrep

    if target == "causalrep" and name in causalrep._LAZY:
        return "causalrep.estimators"
    return target


def _violations(module):
    group = _group(module)
    facade = group is None
    layer, prefix = ("base", "causalrep") if facade else group
    found = []
    for target, name, line in _imports(module, module_level_only=facade):
        top = target.split(".")[0]
        where = f"{module}:{line} imports {target}" + (f".{name}" if name else "")
        if top in ("torch", "pyro") and (layer in TORCH_FREE or prefix in TORCH_FREE):
            found.append(f"{where}: the {prefix} layer must stay free of torch and Pyro")
        if top not in ("causalrep", "simulators"):
            continue
        target = _facade_target(target, name)
        other = _group(target)
        if other is None:
            continue
        if RANK[other[0]] > RANK[layer]:
            found.append(f"{where}: {layer} must not import the {other[0]} layer above it")
        if SIBLINGS.get(prefix) == other[1]:
            found.append(f"{where}: {prefix} and {other[1]} must not import each other")
    return found


def _private_names(module):
    """Private names of causalrep that a simulators module imports."""
    found = []
    for target, name, line in _imports(module):
        if not target.startswith("causalrep"):
            continue
        private = [part for part in target.split(".") if part.startswith("_")]
        if name and name.startswith("_"):
            private.append(name)
        if private:
            found.append(f"{module}:{line} imports the private {', '.join(private)} from {target}")
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports_only_its_layer_and_below(module):
    assert _violations(module) == []


@pytest.mark.parametrize("module", [m for m in sorted(MODULES) if m.startswith("simulators")])
def test_simulators_use_only_public_names_of_causalrep(module):
    assert _private_names(module) == []


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import torch\nfrom causalrep.estimators import Rep4Ex\n"
        "def f():\n    from causalrep._validation import column_stats\n"
    )
    monkeypatch.setitem(MODULES, "simulators.bad", (bad, False))
    problems = _violations("simulators.bad")
    assert any("free of torch" in p for p in problems)
    assert any("must not import each other" in p for p in problems)
    assert _private_names("simulators.bad") == [
        "simulators.bad:4 imports the private _validation from causalrep._validation"
    ]
    monkeypatch.setitem(MODULES, "causalrep.data_bad", (bad, False))
    monkeypatch.setitem(LAYERS, "base", (*LAYERS["base"], "causalrep.data_bad"))
    assert any("base must not import the methods layer" in p for p in _violations("causalrep.data_bad"))


def test_the_numpy_layers_do_not_import_torch():
    script = (
        "import sys, simulators, causalrep.identifiability, causalrep.data, "
        "causalrep.validation, causalrep.graphs; sys.exit(3 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", script], cwd=ROOT).returncode == 0
