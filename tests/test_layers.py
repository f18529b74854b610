"""The package's layers import only downwards, read from the source with ``ast``.

base (version, data, validation, exceptions) <- core (identifiability, graphs) <- methods
(simulators | estimators, which never import each other) <- doors (cli, bench,
testing). The base, the core and the simulators never import torch or Pyro, and
the simulators use only public names of causalrep.

Inside the estimators, each method (a subpackage such as ``interventional/``, or
a small estimator's module such as ``_ica.py``) imports only its own modules,
the shared private core ``_core/``, the registry ``_registry`` and the layers
below; the core imports no method. No module of causalrep imports the package
top ``causalrep`` (it imports the module that defines the name).
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
ESTIMATORS = "causalrep.estimators"
# Parts of the estimators package that every method may import.
SHARED = ("_core", "_registry")


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


def _method(name):
    """The part of causalrep.estimators a module belongs to: its subpackage or
    small estimator's module (``"interventional"``, ``"_ica"``, ``"_core"``);
    None for the package face and for modules outside the estimators."""
    if not name.startswith(ESTIMATORS + "."):
        return None
    return name.split(".")[2]


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
        imported = target if not name or target.endswith(f".{name}") else f"{target}.{name}"
        where = f"{module}:{line} imports {imported}"
        if top in ("torch", "pyro") and (layer in TORCH_FREE or prefix in TORCH_FREE):
            found.append(f"{where}: the {prefix} layer must stay free of torch and Pyro")
        if top not in ("causalrep", "simulators"):
            continue
        if target == "causalrep" and not facade and module.startswith("causalrep."):
            found.append(f"{where}: nothing in causalrep imports the package top; import the module that defines it")
        found += _method_violations(module, target, where)
        target = _facade_target(target, name)
        other = _group(target)
        if other is None:
            continue
        if RANK[other[0]] > RANK[layer]:
            found.append(f"{where}: {layer} must not import the {other[0]} layer above it")
        if SIBLINGS.get(prefix) == other[1]:
            found.append(f"{where}: {prefix} and {other[1]} must not import each other")
    return found


def _method_violations(module, target, where):
    """A method of causalrep.estimators importing another method (or the core
    importing one), or the estimators' package face."""
    own = _method(module)
    if own is None or not (target == ESTIMATORS or target.startswith(ESTIMATORS + ".")):
        return []
    other = _method(target)
    if other is None:
        return [f"{where}: a method imports {', '.join(SHARED)} and its own modules, not the estimators' face"]
    if other == own or other in SHARED:
        return []
    if own == "_core":
        return [f"{where}: the estimators' core must not import the method {other}"]
    return [f"{where}: the method {own} must not import the method {other}; shared code belongs in _core"]


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


def _checked(tmp_path, monkeypatch, module, source):
    """The violations the checker finds in ``source`` posing as ``module``."""
    path = tmp_path / f"{module}.py"
    path.write_text(source)
    monkeypatch.setitem(MODULES, module, (path, False))
    return _violations(module)


def test_the_checker_sees_a_method_importing_another(tmp_path, monkeypatch):
    module = "causalrep.estimators.rep4ex._bad"
    problems = _checked(
        tmp_path,
        monkeypatch,
        module,
        "from ..interventional import _stage1\nfrom .._ica import LinearICA\n"
        "from .._core.base import TorchEstimator\nfrom .._registry import lookup\nfrom . import _kernels\n",
    )
    assert problems == [
        f"{module}:1 imports causalrep.estimators.interventional._stage1: the method rep4ex must not "
        "import the method interventional; shared code belongs in _core",
        f"{module}:2 imports causalrep.estimators._ica.LinearICA: the method rep4ex must not import "
        "the method _ica; shared code belongs in _core",
    ]
    small = _checked(tmp_path, monkeypatch, "causalrep.estimators._bad", "from ._autoencoders import _VAE\n")
    assert small == [
        "causalrep.estimators._bad:1 imports causalrep.estimators._autoencoders._VAE: the method _bad "
        "must not import the method _autoencoders; shared code belongs in _core"
    ]
    face = _checked(tmp_path, monkeypatch, "causalrep.estimators._bad", "from . import ESTIMATORS\n")
    assert face == [
        "causalrep.estimators._bad:1 imports causalrep.estimators.ESTIMATORS: a method imports _core, "
        "_registry and its own modules, not the estimators' face"
    ]


def test_the_checker_sees_the_core_importing_a_method(tmp_path, monkeypatch):
    problems = _checked(
        tmp_path,
        monkeypatch,
        "causalrep.estimators._core.bad",
        "def f():\n    from ..interventional import InterventionalCRL\nfrom .._registry import lookup\n",
    )
    assert problems == [
        "causalrep.estimators._core.bad:2 imports causalrep.estimators.interventional.InterventionalCRL: "
        "the estimators' core must not import the method interventional"
    ]


def test_the_checker_sees_an_import_of_the_package_top(tmp_path, monkeypatch):
    source = "from ... import __version__\nimport causalrep\nfrom causalrep import data, validation\n"
    problems = _checked(tmp_path, monkeypatch, "causalrep.estimators._core.bad", source)
    top = "nothing in causalrep imports the package top; import the module that defines it"
    assert problems == [
        f"causalrep.estimators._core.bad:1 imports causalrep.__version__: {top}",
        f"causalrep.estimators._core.bad:2 imports causalrep: {top}",
    ]


def test_the_numpy_layers_do_not_import_torch():
    script = (
        "import sys, simulators, causalrep.identifiability, causalrep.data, "
        "causalrep.validation, causalrep.graphs; sys.exit(3 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", script], cwd=ROOT).returncode == 0
