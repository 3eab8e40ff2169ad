"""Corpus runs end to end: real APKs from ../shared/corpus, real worker processes, a real Dask LocalCluster,
real DuckDB, and the CLI as a subprocess."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import duckdb
import pytest

from audit.corpus import run_corpus
from audit.errors import InputError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
APKS = SHARED / "corpus" / "apks"
HERE = Path(__file__).resolve().parent
SMALL_APKS = ["androguard__com.politedroid_4.apk", "droidbench__DirectLeak1.apk", "droidbench__LocationLeak1.apk",
              "droidbench__PrivateDataLeak1.apk"]
SDK_APKS = ["mixpanel__HelloMixpanel.apk", "facebook-sdk__examples_stream.apk"]   # small apps with known SDKs
REAL_SCANNER = "audit.static.scan:scan_app"
FAULTY_SCANNER = "corpus_scanners:faulty_scan"   # tests/corpus_scanners.py: dies or hangs when a name says so
# Columns that legitimately differ between two runs of the same apps.
VOLATILE = "scan_seconds, scanned_at, worker_peak_rss_mb, worker_pid"

pytestmark = pytest.mark.skipif(not APKS.is_dir(), reason="../shared/corpus/apks not present")


@pytest.fixture(autouse=True)
def _scanners_importable(monkeypatch):
    # The worker children import test scanners by name: put tests/ on their path.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))


def real_scanner() -> str:
    return REAL_SCANNER


def zip_bomb(path: Path, megabytes: int = 64) -> None:
    """An APK-looking zip whose manifest inflates ~1000x: a corpus must survive it, not OOM on it."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("AndroidManifest.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(megabytes):
                member.write(block)
        archive.writestr("classes.dex", b"dex\n035\0" + b"\0" * 100)


def make_corpus(folder: Path, names=SMALL_APKS[:3], faults: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(APKS / name, folder / name)
    (folder / "corrupt.apk").write_bytes(b"PK\x03\x04" + os.urandom(3000))
    zip_bomb(folder / "bomb.apk")
    if faults:
        # Distinct bytes (a trailing byte keeps them valid zips): one row per file, as for distinct apps.
        for tag in ("hang", "crash", "kill", "hog"):
            (folder / f"{tag}.apk").write_bytes((APKS / SMALL_APKS[0]).read_bytes() + tag.encode())
    return folder


def table_rows(db: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {"apps": con.execute(f"SELECT * EXCLUDE ({VOLATILE}) FROM apps ORDER BY ALL").fetchall()}
        for table in ("permissions", "sdks", "api_calls", "observations"):
            out[table] = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        return out
    finally:
        con.close()


def statuses(db: Path) -> dict[str, tuple]:
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT path, status, error_kind, error FROM apps").fetchall()
    con.close()
    return {Path(r[0]).name: r[1:] for r in rows}


def test_failures_are_recorded_with_reasons_and_resume_skips_done_apps(tmp_path: Path):
    corpus = make_corpus(tmp_path / "apks", faults=True)
    db = tmp_path / "c.duckdb"
    first = run_corpus([str(corpus)], db, jobs=2, timeout=4, scanner=FAULTY_SCANNER, interactive=False,
                       memory_mb=1024)
    assert (first.scanned, first.ok, first.failed, first.skipped) == (9, 3, 6, 0)
    rows = statuses(db)
    assert {name: row[0] for name, row in rows.items()} == {
        **{name: "ok" for name in SMALL_APKS[:3]}, "corrupt.apk": "failed", "bomb.apk": "failed",
        "hang.apk": "failed", "crash.apk": "failed", "kill.apk": "failed", "hog.apk": "failed"}
    assert rows["corrupt.apk"][1] == "input" and "corrupt.apk" in rows["corrupt.apk"][2]
    assert rows["bomb.apk"][1] == "input" and "bomb.apk" in rows["bomb.apk"][2]
    assert rows["hang.apk"][1:] == ("timeout", "timed out after 4s (worker killed)")
    assert rows["crash.apk"][1:] == ("crash", "worker process died while scanning: exit code 139")
    assert rows["kill.apk"][1:] == ("crash", "worker process died while scanning: killed by SIGKILL")
    assert rows["hog.apk"][1:] == ("memory", "out of memory (worker memory limit reached)")

    # --resume: the 3 ok apps and the 2 bad files are done; the hang, the crashes and the memory hog get another
    # try, and a newly added app is scanned. Nothing else is scanned again (scan counts from the summary).
    shutil.copy(APKS / SMALL_APKS[3], corpus / SMALL_APKS[3])
    (corpus / "hang.apk").unlink()
    (corpus / "hog.apk").unlink()
    second = run_corpus([str(corpus)], db, jobs=2, timeout=4, scanner=FAULTY_SCANNER, resume=True,
                        interactive=False)
    assert (second.skipped, second.scanned, second.ok, second.failed) == (5, 3, 1, 2)
    third = run_corpus([str(corpus)], db, jobs=1, timeout=4, scanner=FAULTY_SCANNER, resume=True,
                       interactive=False)
    assert (third.skipped, third.scanned) == (6, 2)            # only the two crashing files again
    assert len(statuses(db)) == 10                     # the rows of the first run's hang.apk and hog.apk are kept


def test_jobs_2_gives_the_same_rows_as_jobs_1(tmp_path: Path):
    scanner = real_scanner()
    corpus = make_corpus(tmp_path / "apks", names=SMALL_APKS)
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    s1 = run_corpus([str(corpus)], one, jobs=1, scanner=scanner, interactive=False)
    s2 = run_corpus([str(corpus)], two, jobs=2, scanner=scanner, interactive=False)
    assert (s1.ok + s1.partial, s1.failed) == (4, 2) and (s2.ok + s2.partial, s2.failed) == (4, 2)
    rows = table_rows(one)
    assert rows == table_rows(two)
    assert len(rows["apps"]) == 6 and rows["permissions"]
    by_name = statuses(one)
    assert by_name["corrupt.apk"][:2] == by_name["bomb.apk"][:2] == ("failed", "input")
    assert by_name["corrupt.apk"][2] and by_name["bomb.apk"][2]


def test_dask_local_cluster_gives_the_same_rows(tmp_path: Path):
    scanner = real_scanner()
    distributed = pytest.importorskip("distributed")
    corpus = tmp_path / "apks"
    corpus.mkdir()
    for name in SMALL_APKS[:3]:
        shutil.copy(APKS / name, corpus / name)
    (corpus / "corrupt.apk").write_bytes(b"PK\x03\x04 not really a zip")
    local_db, dask_db = tmp_path / "local.duckdb", tmp_path / "dask.duckdb"
    run_corpus([str(corpus)], local_db, jobs=1, scanner=scanner, interactive=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster:
        summary = run_corpus([str(corpus)], dask_db, scheduler=cluster.scheduler_address, scanner=scanner,
                             interactive=False)
        # On the cluster too, an app that kills its worker process or hangs costs that app only.
        faults = tmp_path / "faults"
        faults.mkdir()
        shutil.copy(APKS / SMALL_APKS[0], faults)
        for tag in ("kill", "hang"):
            (faults / f"{tag}.apk").write_bytes((APKS / SMALL_APKS[0]).read_bytes() + tag.encode())
        run_corpus([str(faults)], tmp_path / "faults.duckdb", scheduler=cluster.scheduler_address, timeout=3,
                   scanner=FAULTY_SCANNER, interactive=False)
        assert len(cluster.scheduler.workers) == 2                  # no Dask worker was lost
    assert (summary.scanned, summary.failed) == (4, 1)
    assert table_rows(dask_db) == table_rows(local_db)
    assert {name: row[:2] for name, row in statuses(tmp_path / "faults.duckdb").items()} == {
        SMALL_APKS[0]: ("ok", None), "kill.apk": ("failed", "crash"), "hang.apk": ("failed", "timeout")}


def test_unreachable_scheduler_is_one_clear_error(tmp_path: Path):
    corpus = tmp_path / "apks"
    corpus.mkdir()
    shutil.copy(APKS / SMALL_APKS[0], corpus)
    with pytest.raises(InputError, match="cannot connect to Dask scheduler tcp://127.0.0.1:9"):
        run_corpus([str(corpus)], tmp_path / "c.duckdb", scheduler="tcp://127.0.0.1:9", interactive=False,
                   scanner=FAULTY_SCANNER, scheduler_timeout=2)


def cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "audit.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=REPO)


def test_cli_scan_report_and_exit_codes(tmp_path: Path):
    corpus = make_corpus(tmp_path / "apks", names=SDK_APKS)
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(str(p) for p in sorted(corpus.iterdir())) + "\n")
    db = tmp_path / "c.duckdb"
    env = {"APPAUDIT_CORPUS_SCANNER": real_scanner()}
    done = cli("corpus", "scan", str(listing), "--db", str(db), "--jobs", "2", "--parquet", str(tmp_path / "pq"),
               env_extra=env)
    assert done.returncode == 0, done.stderr
    assert "corpus: 4 scanned (" in done.stderr and "2 failed" in done.stderr
    assert "\r" not in done.stderr                      # not a terminal: plain lines, no bar
    assert (tmp_path / "pq" / "apps.parquet").is_file()

    md = cli("corpus", "report", "--db", str(db))
    assert md.returncode == 0 and md.stdout.startswith("# Corpus report") and "## Failed apps (2)" in md.stdout
    # What the real scan found in these two apps, as the report tells it (over the 2 apps scanned).
    assert "| mixpanel | Mixpanel | analytics | 1 | 50.0% |" in md.stdout
    assert "| facebook_sdk | Meta |" in md.stdout
    assert "| mixpanel | device_ids.android_id | 1 | 1 |" in md.stdout
    page = tmp_path / "r.html"
    html = cli("corpus", "report", "--db", str(db), "--format", "html", "-o", str(page))
    assert html.returncode == 0 and page.read_text().startswith("<!DOCTYPE html>")
    assert page.read_text().count('src="data:image/png;base64,') == 3

    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    binary_list = tmp_path / "list.bin"
    binary_list.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff")
    for args, message in [
        (("corpus", "scan", str(tmp_path / "missing"), "--db", str(db)), "corpus source not found"),
        (("corpus", "scan", str(corpus), "--db", str(notes)), "is not a DuckDB database file"),
        (("corpus", "scan", str(tmp_path / "apks" / "corrupt.apk") + "x", "--db", str(db)), "not found"),
        (("corpus", "scan", str(corpus), "--db", str(db), "--jobs", "0"), "--jobs must be at least 1"),
        (("corpus", "scan", str(binary_list), "--db", str(db)), "is not UTF-8 text"),
        (("corpus", "scan", str(tmp_path / "pq"), "--db", str(db)), "no app files"),
        (("corpus", "report", "--db", str(notes)), "is not a DuckDB database file"),
        (("corpus", "report", "--db", str(tmp_path / "none.duckdb")), "not found"),
        (("corpus", "report", "--db", str(db), "-o", str(db)), "refusing to overwrite input"),
    ]:
        bad = cli(*args, env_extra=env)
        assert bad.returncode == 2, (args, bad.stderr)
        assert bad.stderr.startswith("appaudit: error: ") and message in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    assert notes.read_text() == "not a database\n"
    unreadable = tmp_path / "locked.txt"
    unreadable.write_text(str(corpus / SMALL_APKS[0]) + "\n")
    unreadable.chmod(0)
    if os.geteuid() != 0:                                # root reads anything
        bad = cli("corpus", "scan", str(unreadable), "--db", str(db), env_extra=env)
        assert bad.returncode == 2 and "cannot read list file" in bad.stderr


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_run_keeps_what_was_scanned_and_resumes(tmp_path: Path, stop: signal.Signals):
    corpus = tmp_path / "apks"
    corpus.mkdir()
    for name in SMALL_APKS[:3]:
        shutil.copy(APKS / name, corpus / name)
    # The smallest file, hence scanned last: it hangs until the run is interrupted.
    (corpus / "hang.apk").write_bytes((APKS / SMALL_APKS[0]).read_bytes()[:-1])
    db = tmp_path / "c.duckdb"
    env = dict(os.environ, APPAUDIT_CORPUS_SCANNER=FAULTY_SCANNER)
    # The child gets the default disposition for the signal whatever this runner has: a runner started in
    # the background or under nohup ignores SIGINT, its children inherit that, and Python then installs no
    # KeyboardInterrupt handler (the ctrl-c case would wait for the timeout instead of testing anything).
    run = subprocess.Popen([sys.executable, "-m", "audit.cli", "corpus", "scan", str(corpus), "--db", str(db)],
                           stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
                           preexec_fn=lambda: signal.signal(stop, signal.SIG_DFL))
    try:
        seen = [run.stderr.readline() for _ in range(4)]          # "4 apps to scan" + 3 results
        assert all(" ok " in line for line in seen[1:]), seen
        run.send_signal(stop)
        _, rest = run.communicate(timeout=30)     # stops promptly although hang.apk is still being scanned
        assert run.returncode == 130 and "appaudit: interrupted" in rest
    finally:
        if run.poll() is None:
            run.kill()
    assert {name: row[0] for name, row in statuses(db).items()} == {name: "ok" for name in SMALL_APKS[:3]}
    (corpus / "hang.apk").unlink()
    shutil.copy(APKS / SMALL_APKS[3], corpus)
    again = run_corpus([str(corpus)], db, resume=True, scanner=FAULTY_SCANNER, interactive=False)
    assert (again.skipped, again.scanned, again.ok) == (3, 1, 1)


def test_workers_do_not_outlive_a_killed_run(tmp_path: Path):
    psutil = pytest.importorskip("psutil")
    corpus = tmp_path / "apks"
    corpus.mkdir()
    (corpus / "hang.apk").write_bytes((APKS / SMALL_APKS[0]).read_bytes())
    env = dict(os.environ, APPAUDIT_CORPUS_SCANNER=FAULTY_SCANNER)
    run = subprocess.Popen([sys.executable, "-m", "audit.cli", "corpus", "scan", str(corpus), "--db",
                            str(tmp_path / "c.duckdb")], stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        assert "1 apps to scan" in run.stderr.readline()
        deadline = time.monotonic() + 30
        while not (workers := psutil.Process(run.pid).children()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert workers, "no scanner worker started"
    finally:
        run.kill()                                   # no chance to clean up: the worker must notice by itself
        run.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    for orphan in alive:                             # our own leftovers, by pid, so a failure leaves no mess
        orphan.kill()
    assert not alive, [p.pid for p in alive]


class _InterruptAfter:
    """A progress stream that is interrupted (as by Ctrl-C) while reporting the n-th scanned app: outside the
    executor, with a hanging app still in progress in another slot."""

    def __init__(self, n: int):
        self.n, self.seen = n, 0

    def isatty(self) -> bool:
        return False

    def flush(self) -> None:
        pass

    def write(self, text: str) -> None:
        if "] ok " in text:
            self.seen += 1
            if self.seen == self.n:
                raise KeyboardInterrupt


def test_interrupt_outside_the_executor_stops_hanging_workers_at_once(tmp_path: Path):
    psutil = pytest.importorskip("psutil")
    corpus = tmp_path / "apks"
    corpus.mkdir()
    for name in SMALL_APKS[:3]:
        shutil.copy(APKS / name, corpus / name)
    # The largest file, hence started first, in the second slot: it is still hanging when the run is interrupted.
    (corpus / "hang.apk").write_bytes((APKS / SMALL_APKS[3]).read_bytes() + b"\0" * 4096)
    db = tmp_path / "c.duckdb"
    # The per-app timeout is longer than the suite's own (pytest-timeout): an interrupt that waited for the
    # hanging worker instead of stopping it fails the test there, without a wall-clock limit in it.
    with pytest.raises(KeyboardInterrupt):
        run_corpus([str(corpus)], db, jobs=2, timeout=3600, scanner=FAULTY_SCANNER,
                   progress_stream=_InterruptAfter(2))
    workers = [p for p in psutil.Process().children(recursive=True)
               if "audit.corpus.worker" in " ".join(p.cmdline())]
    assert not workers, [p.pid for p in workers]
    assert sorted(r[0] for r in statuses(db).values()) == ["ok", "ok"]   # written before the interrupt, kept


def test_worker_children_are_recycled_and_report_their_own_memory(tmp_path: Path):
    from audit.corpus.isolate import IsolatedScanner, IsolationSettings

    with IsolatedScanner(IsolationSettings(scanner=real_scanner(), max_tasks=2, timeout=60)) as scanner:
        results = [scanner.scan(str(APKS / name)) for name in SMALL_APKS[:3]]
    assert [r["status"] for r in results] == ["ok", "ok", "ok"]
    assert len(scanner.pids) == 2                                   # a fresh child after 2 apps
    assert [r["worker_pid"] for r in results] == [scanner.pids[0], scanner.pids[0], scanner.pids[1]]
    # The child's own high-water mark, not the (bigger) test process's inherited through fork+exec.
    assert all(5 < r["peak_rss_mb"] < 1024 for r in results)
    assert results[0]["scan"]["app"]["package"] == "com.politedroid"
