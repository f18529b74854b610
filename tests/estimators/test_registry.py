"""One registry of estimators and one of settings, read by the CLI, bench and checkpoints."""

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import causalrep
import simulators
from causalrep import bench
from causalrep.cli import _parser
from causalrep.estimators import _registry as registry
from causalrep.estimators._core.base import BaseEstimator

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(registry.ESTIMATORS))
def test_every_entry_loads_its_class(name):
    entry = registry.ESTIMATORS[name]
    cls = entry.load()
    assert cls.__name__ == entry.class_name
    assert issubclass(cls, BaseEstimator)
    assert cls.__module__ == entry.module
    assert entry.device == ("device" in inspect.signature(cls).parameters)


def test_every_estimator_class_is_registered():
    for entry in registry.ESTIMATORS.values():
        entry.load()
    found, stack = set(), [BaseEstimator]
    while stack:
        for cls in stack.pop().__subclasses__():
            stack.append(cls)
            # the core's classes (TorchEstimator, VAE) are templates, not estimators
            if (
                cls.__module__.startswith("causalrep.estimators")
                and not cls.__name__.startswith("_")
                and not cls.__module__.startswith("causalrep.estimators._core")
            ):
                found.add(cls.__name__)
    registered = {entry.class_name for entry in registry.ESTIMATORS.values()}
    assert found == registered


@pytest.mark.parametrize("name", ["ivae", "IVAE", "iVAE", "Ivae"])
def test_every_spelling_of_a_name_is_one_estimator(name):
    assert registry.lookup(name) is registry.ESTIMATORS["ivae"]


def test_class_names_resolve_to_canonical_names():
    for entry in registry.ESTIMATORS.values():
        assert registry.lookup(entry.class_name) is entry
        assert entry.name == entry.name.lower()


@pytest.mark.parametrize("name", ["nope", "", None, 3])
def test_unknown_names_are_refused_with_the_choices(name):
    with pytest.raises(ValueError, match=r"unknown estimator .*choose from \['autoencoder', "):
        registry.lookup(name)


def test_lazy_names_of_both_packages_follow_the_registry():
    classes = {entry.class_name for entry in registry.ESTIMATORS.values()}
    assert set(causalrep._LAZY) == classes | {"load"}
    assert classes <= set(causalrep.estimators.__all__)
    assert classes <= set(causalrep.__all__)
    for name in causalrep.estimators.__all__:
        assert getattr(causalrep.estimators, name) is not None
    # the imports type checkers read match the lazy attributes
    for path, names in (
        (ROOT / "causalrep" / "__init__.py", set(causalrep._LAZY)),
        (
            ROOT / "causalrep" / "estimators" / "__init__.py",
            set(causalrep.estimators.__all__)
            - {
                "IdentifiabilityWarning",
                "ConvergenceWarning",
                "ExtrapolationWarning",
                "ESTIMATORS",
                "EstimatorEntry",
                "lookup",
            },
        ),
    ):
        guarded = {
            alias.asname or alias.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
            for inner in node.body
            for alias in inner.names
        }
        assert guarded == names, path


def test_looking_up_imports_no_torch_until_loaded():
    script = (
        "import sys, causalrep.estimators\n"
        "from causalrep.estimators import lookup\n"
        "entry = lookup('iVAE')\n"
        "assert 'torch' not in sys.modules, 'registry imported torch'\n"
        "assert entry.load().__name__ == 'IVAE' and 'torch' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_cli_takes_any_name_of_an_estimator():
    for name, canonical in (("IVAE", "ivae"), ("LinearICA", "linear_ica"), ("interventional", "interventional")):
        args = _parser().parse_args(["fit", name, "--data", "d.npz", "--out", "m.pt"])
        assert args.method == canonical


def test_a_sweep_takes_former_estimator_names():
    setting = bench.SUITES["smoke"]["settings"]
    methods = [{"name": name, "estimator": name, "params": {"verbose": 0}} for name in ("LinearICA", "linear_ica")]
    old, new = bench.run(setting, methods, [0], workers=1)
    assert old["status"] == new["status"] == "ok"
    assert old["mcc"] == new["mcc"]


def test_settings_registry():
    assert set(simulators.SETTINGS) == {
        "ahuja2023",
        "rep4ex",
        "multienv",
        "pendulum",
        "morpho_digits",
        "contrastive_crl",
    }
    for name, function in simulators.SETTINGS.items():
        assert simulators.setting(name) is function
        assert "seed" in inspect.signature(function).parameters
    with pytest.raises(ValueError, match=r"unknown setting 'ahuja'; choose from \['ahuja2023', "):
        simulators.setting("ahuja")


@pytest.mark.parametrize("module", [registry, simulators.registry])
def test_docstring_examples(module):
    import doctest

    assert doctest.testmod(module).failed == 0
