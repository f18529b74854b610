"""What the package ships beyond code: type hints on the public API, the py.typed
marker, and one version, written in pyproject.toml."""

import ast
import importlib.metadata
import importlib.util
import re
from pathlib import Path

import pytest

import causalrep

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("causalrep", "simulators")


def test_py_typed_is_shipped_with_every_package():
    # the [tool.setuptools.package-data] table (tomllib is Python 3.11+; 3.10 is supported)
    table = (ROOT / "pyproject.toml").read_text().split("[tool.setuptools.package-data]\n")[1]
    data = {}
    for line in table.split("\n[")[0].splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            data[key.strip()] = ast.literal_eval(value.strip())
    for package in PACKAGES:
        assert "py.typed" in data[package]
        assert (ROOT / package / "py.typed").is_file()


def _public_modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if not any(part.startswith("_") and part != "__init__" for part in parts):
                yield path.relative_to(ROOT).as_posix()


def _unannotated(path):
    """Public functions and methods of a module that lack a parameter or return annotation."""
    found = []

    def visit(body, owner=""):
        for node in body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                visit(node.body, f"{node.name}.")
            elif isinstance(node, ast.FunctionDef):
                if node.name.startswith("_") and node.name not in ("__init__", "__call__"):
                    continue
                arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                arguments += [a for a in (node.args.vararg, node.args.kwarg) if a is not None]
                bare = [a.arg for a in arguments if a.annotation is None and a.arg not in ("self", "cls")]
                if bare or (node.returns is None and node.name != "__init__"):
                    found.append(f"{owner}{node.name}")

    visit(ast.parse((ROOT / path).read_text()).body)
    return found


@pytest.mark.parametrize("path", list(_public_modules()))
def test_the_public_api_has_type_hints(path):
    assert _unannotated(path) == []


def test_the_hint_checker_sees_a_bare_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "def f(x: int) -> int: ...\ndef g(x, y: int = 0) -> None: ...\n"
        "class C:\n    def __init__(self, a: int): ...\n    def m(self, **kw): ...\n"
        "def _private(x): ...\n"
    )
    assert _unannotated(module) == ["g", "C.m"]


def test_the_version_is_written_once_in_pyproject():
    declared = re.search(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    assert causalrep.__version__ == importlib.metadata.version("causalrep") == declared
    written = [
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if re.search(r"^\s*__version__\s*(:\s*\w+\s*)?=\s*[\"']\d+\.\d", path.read_text(), re.MULTILINE)
    ]
    assert written == []


def test_an_uninstalled_source_tree_has_an_unknown_version(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    spec = importlib.util.spec_from_file_location("version_copy", ROOT / "causalrep" / "_version.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.__version__ == "0+unknown"
