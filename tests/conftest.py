"""Session fixtures shared by every test: the fixture apps built from smali (tests/fixtures/) and the shared corpus.

The apps are built once per source hash and cached (see tests/fixtures/build.py), so these fixtures cost a few
seconds on a cold cache and nothing afterwards. What each app does is listed in tests/fixtures/README.md.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from audit import quiet_androguard

quiet_androguard()   # the cross-checks import androguard; its DEBUG logging would flood the test output

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURE_BUILD_PATH = Path(__file__).resolve().parent / "fixtures" / "build.py"


def load_fixture_builder():
    """tests/fixtures/build.py as a module (tests/ is not a package, so it is loaded by path)."""
    name = "appaudit_fixture_build"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FIXTURE_BUILD_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # registered first: dataclasses resolve annotations through sys.modules
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def fixture_builder():
    """The builder module: fixture_builder.build(name, out_dir=None), fixture_builder.FIXTURES, ..."""
    return load_fixture_builder()


@pytest.fixture(scope="session")
def education_apk(fixture_builder) -> Path:
    """org.edukit.classroom 3.1.0: the education app with trackers and many sensitive reads."""
    return fixture_builder.build("education")


@pytest.fixture(scope="session")
def clean_apk(fixture_builder) -> Path:
    """org.edukit.calculator: no permissions, no SDKs, arithmetic only."""
    return fixture_builder.build("clean")


@pytest.fixture(scope="session")
def split_set(fixture_builder) -> list[Path]:
    """org.edukit.quiz as [base.apk, split_feature_maps.apk, split_config.en.apk]."""
    return fixture_builder.build("split")


@pytest.fixture(scope="session")
def xapk(fixture_builder) -> Path:
    return fixture_builder.build("xapk")


@pytest.fixture(scope="session")
def apks_bundle(fixture_builder) -> Path:
    return fixture_builder.build("apks")


@pytest.fixture(scope="session")
def apkm_bundle(fixture_builder) -> Path:
    return fixture_builder.build("apkm")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data not present at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """../shared/corpus/apks: 18 real APKs (see PROVENANCE.json next to it)."""
    corpus = SHARED / "corpus" / "apks"
    if not corpus.is_dir():
        pytest.skip(f"shared corpus not present at {corpus}")
    return corpus


@pytest.fixture(scope="session", autouse=True)
def private_state_dir(tmp_path_factory):
    """Keep the redaction key and other per-user state of test runs out of the real home directory."""
    import os

    path = tmp_path_factory.mktemp("appaudit-home")
    previous = os.environ.get("APPAUDIT_HOME")
    os.environ["APPAUDIT_HOME"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("APPAUDIT_HOME", None)
    else:
        os.environ["APPAUDIT_HOME"] = previous
