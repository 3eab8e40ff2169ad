"""The package as users get it: a wheel built from the tree, installed into a fresh virtual environment, scans a
corpus APK from another working directory; every import of audit/ is a declared dependency."""
from __future__ import annotations

import ast
import importlib.metadata
import json
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _guarded(tree: ast.AST) -> set[int]:
    """ids of import nodes inside `try: ... except ImportError` (optional: the code works without them)."""
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers):
            guarded.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return guarded


def _imported_top_levels() -> set[str]:
    names = set()
    for path in (REPO / "audit").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        optional = _guarded(tree)
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def _requirement_name(spec: str) -> str:
    for stop in "<>=!~[; ":
        spec = spec.split(stop)[0]
    return spec.lower().replace("_", "-")


def test_every_import_is_the_standard_library_or_a_declared_dependency():
    declared = {_requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for name in sorted(_imported_top_levels() - {"audit"}):
        if name in sys.stdlib_module_names:
            continue
        dists = {d.lower().replace("_", "-") for d in providers.get(name, [name])}
        if not dists & declared:
            undeclared[name] = sorted(dists)
    assert not undeclared, f"imported but not in [project].dependencies: {undeclared}"
    assert "androguard" not in declared, "androguard belongs in the test/bench extras: the scan never imports it"


def test_every_package_under_audit_is_listed_for_the_wheel():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "audit").rglob("__init__.py")}
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_scans_from_another_directory(tmp_path):
    apk = next(iter(sorted((REPO.parent / "shared" / "corpus" / "apks").glob("droidbench__*.apk"))), None)
    if apk is None:
        pytest.skip("shared corpus not present")
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(dist.glob("appaudit-*.whl"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True,
                               text=True, timeout=900)
    if installed.returncode != 0 and "No matching distribution" in installed.stderr + installed.stdout:
        pytest.skip("the package index cannot be reached to install dependencies")
    assert installed.returncode == 0, installed.stderr[-2000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    out = subprocess.run([str(env_dir / "bin" / "appaudit"), "scan", str(apk)], cwd=work, capture_output=True,
                         text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["schema"] == "appaudit.scan/1" and report["api_calls"], "the installed rules found no call site"
    where = subprocess.run([str(python), "-c", "import audit.rulesdata as r; print(r.rules_dir())"], cwd=work,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(env_dir)), f"rules read from {where}, not from the installed package"
    # The scan above validated the rule files it read (a fresh HOME: no cache), with the schemas the wheel carries.
    schemas = subprocess.run([str(python), "-c", "from audit.rulesdata import data_dir; print(sorted(p.name for p in "
                              "(data_dir('rules') / 'schemas').glob('*.schema.json')))"], cwd=work,
                             capture_output=True, text=True, check=True).stdout.strip()
    assert schemas == str(sorted(p.name for p in (REPO / "rules" / "schemas").glob("*.schema.json")))
    hooks = subprocess.run([str(python), "-c", "from audit.runtime.agent import AGENT_SOURCE; "
                            "print(AGENT_SOURCE.is_file())"], cwd=work, capture_output=True, text=True, check=True)
    assert hooks.stdout.strip() == "True"
