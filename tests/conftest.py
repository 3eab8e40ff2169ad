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


# -- tests write only under temporary folders ------------------------------------------------------------------
def _private_test_home() -> Path | None:
    """HOME, the XDG folders, Android's and Frida's state point into a temporary folder for the whole session,
    set before anything (Frida, adb, the CLI) reads them: tests never write into the real home (adb keys,
    Frida's config and helper, caches, the redaction key). What needs the real home to run keeps working:
    pyenv finds its root, and the fixture apps keep their cache, under the system's temporary folder."""
    import os
    import tempfile
    if os.environ.get("APPAUDIT_TEST_HOME"):
        return None                               # already done (a nested pytest, xdist workers)
    real_home = Path.home()
    home = Path(tempfile.mkdtemp(prefix="appaudit-test-home-"))
    if not os.environ.get("PYENV_ROOT") and (real_home / ".pyenv").is_dir():
        os.environ["PYENV_ROOT"] = str(real_home / ".pyenv")
    os.environ.setdefault("APPAUDIT_FIXTURE_CACHE",
                          str(Path(tempfile.gettempdir()) / f"appaudit-fixtures-{os.getuid()}"))
    os.environ["APPAUDIT_TEST_HOME"] = str(home)
    os.environ["HOME"] = str(home)
    for name, sub in (("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache"),
                      ("XDG_DATA_HOME", ".local/share"), ("XDG_STATE_HOME", ".local/state")):
        os.environ[name] = str(home / sub)
    os.environ["ANDROID_USER_HOME"] = str(home / ".android")
    os.environ["ANDROID_SDK_HOME"] = str(home)
    os.environ["APPAUDIT_HOME"] = str(home / "appaudit")
    return home


_CREATED_HOME = _private_test_home()


def pytest_unconfigure(config):
    if _CREATED_HOME is not None:
        import shutil
        shutil.rmtree(_CREATED_HOME, ignore_errors=True)


# -- ptrace: Frida needs it; some sandboxes deny it ------------------------------------------------------------
def _ptrace_denied() -> str | None:
    """Why this process may not ptrace a child of its own (the reason Frida's attach fails), or None. Checked
    once, with ptrace(2) itself: a child that waits, PTRACE_ATTACH, detach."""
    import ctypes
    import os
    import signal
    import subprocess
    import sys
    libc = ctypes.CDLL(None, use_errno=True)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        if libc.ptrace(16, child.pid, None, None) != 0:          # PTRACE_ATTACH
            err = ctypes.get_errno()
            return f"ptrace is denied here ({os.strerror(err)}): Frida cannot attach"
        os.waitpid(child.pid, 0)
        libc.ptrace(17, child.pid, None, None)                   # PTRACE_DETACH
        return None
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


PTRACE_FREE = {"test_bad_capture_input_is_one_line_and_exit_2", "test_existing_run_folder_is_never_overwritten"}


def pytest_collection_modifyitems(config, items):
    """Tests of a real Frida capture (tests/test_runtime_capture.py) skip, with the reason, where ptrace is
    denied, instead of failing one by one."""
    runtime = [item for item in items if item.path.name == "test_runtime_capture.py"
               and item.originalname not in PTRACE_FREE]
    if not runtime:
        return
    reason = _ptrace_denied()
    if reason:
        for item in runtime:
            item.add_marker(pytest.mark.skip(reason=reason))
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
def private_state_dir():
    """The redaction key and other per-user state of test runs: in the session's temporary home (above)."""
    import os
    return Path(os.environ["APPAUDIT_HOME"])
