"""The corpus database, its notebook API, the report and the progress display, on scan reports built here from
the `appaudit.scan/1` dataclasses and written to real DuckDB files."""
from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import duckdb
import pytest

from audit.corpus import open_corpus
from audit.corpus.progress import Progress
from audit.corpus.report import render_html, render_markdown
from audit.corpus.sources import discover
from audit.corpus.store import CorpusStore, check_db_path
from audit.errors import InputError
from audit.model import Actor, ActorKind, Evidence, Level, Observation
from audit.static.report import AppInfo, CallSite, InputFile, Permission, ScanReport, SdkDetection

ADS = Actor(ActorKind.SDK, "admob")
METRICS = Actor(ActorKind.SDK, "countly")
APP = Actor(ActorKind.FIRST_PARTY)


def _call(data_type: str, actor: Actor, api_id: str, reachable: bool = True) -> CallSite:
    return CallSite(data_type, f"Landroid/Api;->{api_id}()V", "Lcom/x/Caller;->run()V", actor, api_id, reachable)


def _sdk(sdk_id: str, organisation: str) -> SdkDetection:
    return SdkDetection(sdk_id, sdk_id.title(), organisation, ("analytics",),
                        (Evidence("sdk-class", f"com.{sdk_id}", detail="12 classes"),))


def make_result(package: str, sha: str, sdks=(), calls=(), permissions=(), status="ok", error=None,
                error_kind=None, warnings=()) -> dict:
    """A corpus result as a worker returns it, around a ScanReport built from the contract's dataclasses."""
    scan = None
    if status != "failed":
        report = ScanReport(
            app=AppInfo(package, "3", "1.2", 21, 33, package.split(".")[-1]),
            inputs=(InputFile(f"/corpus/{package}.apk", sha, 1000, "apk"),),
            permissions=tuple(Permission(p, "dangerous") for p in permissions),
            components=(), meta_data=(), sdks=tuple(sdks), api_calls=tuple(calls),
            observations=tuple(Observation(c.data_type, Level.REACHABLE if c.reachable else Level.PRESENT,
                                           c.actor, "static") for c in calls),
            warnings=tuple(warnings))
        scan = report.to_json()
    return {"path": f"/corpus/{package}.apk", "sha256": sha, "size": 1000,
            "status": "partial" if warnings else status, "error": error, "error_kind": error_kind, "scan": scan,
            "seconds": 0.5, "peak_rss_mb": 100.0, "scanned_at": "2026-11-24T19:00:00.000000Z"}


def three_apps() -> list[dict]:
    return [
        make_result("com.example.news", "a" * 64, sdks=[_sdk("admob", "Google"), _sdk("countly", "Countly")],
                    calls=[_call("device_ids.advertising_id", ADS, "ads.get_id"),
                           _call("device_ids.android_id", METRICS, "settings.android_id"),
                           _call("location.precise", APP, "location.last_known", reachable=False)],
                    permissions=["android.permission.ACCESS_FINE_LOCATION"]),
        make_result("com.example.game", "b" * 64, sdks=[_sdk("admob", "Google")],
                    calls=[_call("device_ids.advertising_id", ADS, "ads.get_id", reachable=False),
                           _call("app_activity.installed_apps", ADS, "pm.installed_packages")],
                    warnings=["classes2.dex: truncated"]),
        make_result("com.example.broken", "c" * 64, status="failed", error="not a zip file", error_kind="input"),
    ]


@pytest.fixture()
def corpus_db(tmp_path: Path) -> Path:
    db = tmp_path / "corpus.duckdb"
    with CorpusStore(db) as store:
        for result in three_apps():
            store.add(result)
    return db


def test_rows_land_in_every_table(corpus_db: Path):
    con = duckdb.connect(str(corpus_db), read_only=True)
    apps = con.execute("SELECT package, status, error, n_sdks, n_api_calls, warnings, version_name, min_sdk "
                       "FROM apps ORDER BY sha256").fetchall()
    assert apps == [("com.example.news", "ok", None, 2, 3, [], "1.2", 21),
                    ("com.example.game", "partial", None, 1, 2, ["classes2.dex: truncated"], "1.2", 21),
                    (None, "failed", "not a zip file", 0, 0, [], None, None)]
    assert con.execute("SELECT count(*) FROM sdks").fetchone()[0] == 3
    assert con.execute("SELECT count(*) FROM observations").fetchone()[0] == 5
    assert con.execute("SELECT name FROM permissions").fetchall() == [("android.permission.ACCESS_FINE_LOCATION",)]
    assert con.execute("SELECT actor_kind, actor_id, reachable FROM api_calls "
                       "WHERE data_type = 'app_activity.installed_apps'"
                       ).fetchall() == [("sdk", "admob", True)]


def test_notebook_api_answers_the_corpus_questions(corpus_db: Path):
    with open_corpus(corpus_db) as corpus:
        prevalence = corpus.sdk_prevalence()
        assert list(prevalence["sdk_id"]) == ["admob", "countly"]
        assert list(prevalence["apps"]) == [2, 1]
        assert list(prevalence["share"]) == [1.0, 0.5]          # over the 2 apps scanned, not the failed one
        table = corpus.datatypes_by_actor_table().set_index("data_type")
        assert table.loc["device_ids.advertising_id", "sdk"] == 2
        assert table.loc["location.precise", "first-party"] == 1
        assert table.loc["location.precise", "sdk"] == 0
        ids = corpus.sdk_identifiers()
        # installed apps are read by an SDK but are not an identifier in rules/datatypes.yaml
        assert set(zip(ids["sdk_id"], ids["data_type"], ids["apps"], ids["apps_reachable"])) == {
            ("admob", "device_ids.advertising_id", 2, 1), ("countly", "device_ids.android_id", 1, 1)}
        assert "app_activity.installed_apps" in set(corpus.sdk_identifiers(identifiers_only=False)["data_type"])
        assert list(corpus.failures()["error"]) == ["not a zip file"]
        assert corpus.scan("a" * 64)["app"]["package"] == "com.example.news"


def test_rescan_replaces_rows_and_done_retries_only_transient_failures(corpus_db: Path):
    with CorpusStore(corpus_db) as store:
        assert store.done() == {"a" * 64, "b" * 64, "c" * 64}
        store.add(make_result("com.example.news", "a" * 64, sdks=[_sdk("admob", "Google")]))
        store.add(make_result("x.hang", "d" * 64, status="failed", error="timed out", error_kind="timeout"))
        store.add(make_result("x.crash", "e" * 64, status="failed", error="died", error_kind="crash"))
        store.add(make_result("x.bug", "f" * 64, status="failed", error="KeyError: 'x'", error_kind="error"))
        store.add(make_result("x.bad", "9" * 64, status="failed", error="not a zip", error_kind="input"))
    with CorpusStore(corpus_db) as store:
        assert store.done() == {"a" * 64, "b" * 64, "c" * 64, "9" * 64}
        assert store.con.execute("SELECT count(*) FROM apps WHERE sha256 = ?", ["a" * 64]).fetchone()[0] == 1
        assert store.con.execute("SELECT count(*) FROM sdks WHERE sha256 = ?", ["a" * 64]).fetchone()[0] == 1
        assert store.con.execute("SELECT count(*) FROM api_calls WHERE sha256 = ?", ["a" * 64]).fetchone()[0] == 0


def test_interrupted_writer_keeps_what_it_was_given(tmp_path: Path):
    db = tmp_path / "c.duckdb"
    with pytest.raises(KeyboardInterrupt):
        with CorpusStore(db, batch_size=100, batch_seconds=3600) as store:
            for result in three_apps()[:2]:
                store.add(result)
            raise KeyboardInterrupt
    assert duckdb.connect(str(db), read_only=True).execute("SELECT count(*) FROM apps").fetchone()[0] == 2


def test_parquet_export_matches_the_tables(corpus_db: Path, tmp_path: Path):
    with CorpusStore(corpus_db) as store:
        files = store.export_parquet(tmp_path / "pq")
    assert sorted(f.name for f in files) == ["api_calls.parquet", "apps.parquet", "observations.parquet",
                                             "permissions.parquet", "sdks.parquet"]
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM '{tmp_path / 'pq' / 'api_calls.parquet'}'").fetchone()[0] == 5
    assert con.execute(f"SELECT list_sort(list(package)) FROM '{tmp_path / 'pq' / 'apps.parquet'}'"
                       ).fetchone()[0] == ["com.example.game", "com.example.news", None]


def test_db_that_is_not_duckdb_or_not_a_corpus_is_refused_untouched(tmp_path: Path):
    text = tmp_path / "notes.duckdb"
    text.write_text("my notes\n" * 10)
    with pytest.raises(InputError, match="not a DuckDB database file"):
        CorpusStore(text)
    assert text.read_text() == "my notes\n" * 10
    with pytest.raises(InputError, match="is a directory"):
        check_db_path(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        check_db_path(tmp_path / "missing" / "x.duckdb")
    foreign = tmp_path / "foreign.duckdb"
    duckdb.connect(str(foreign)).execute("CREATE TABLE apps (id INTEGER)").close()
    with pytest.raises(InputError, match="not written by appaudit corpus"):
        CorpusStore(foreign)
    with pytest.raises(InputError, match="not an appaudit corpus"):
        open_corpus(foreign)
    with pytest.raises(InputError, match="not found"):
        open_corpus(tmp_path / "none.duckdb")


def test_report_markdown_and_self_contained_html(corpus_db: Path):
    with open_corpus(corpus_db) as corpus:
        md = render_markdown(corpus)
        page = render_html(corpus)
    assert "3 apps in the corpus: 1 ok, 1 partial, 1 failed" in md
    assert "| admob | Google | analytics | 2 | 100.0% |" in md
    assert "| countly | device_ids.android_id | 1 | 1 | settings.android_id |" in md
    assert "| /corpus/com.example.broken.apk | input | not a zip file |" in md
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3                                   # prevalence, actor kinds, SDK x identifier
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert not re.search(r'(src|href)="(https?:)?//', page)   # nothing fetched from the network
    assert "<td>com.example.broken" not in page and "not a zip file" in page


def test_progress_bar_on_a_terminal_and_plain_lines_otherwise():
    term = io.StringIO()
    bar = Progress(4, term, interactive=True)
    bar.start()
    for i in range(4):
        bar.update({"status": "ok" if i else "failed", "path": f"/a/{i}.apk", "error": "bad zip" if not i else None})
    bar.finish("done")
    out = term.getvalue()
    assert "\r[" in out and "apps/s" in out and "ETA" in out and "4/4" in out
    assert "failed /a/0.apk: bad zip" in out
    log = io.StringIO()
    plain = Progress(2, log, interactive=False)
    plain.update({"status": "ok", "path": "/a/x.apk", "seconds": 1.0, "scan": {"app": {"package": "x.y"}}})
    plain.update({"status": "failed", "path": "/a/y.apk", "seconds": 0.1, "error": "not a zip"})
    assert log.getvalue().splitlines() == ["corpus: [1/2] ok x.y /a/x.apk (1.0s)",
                                           "corpus: [2/2] failed - /a/y.apk (0.1s): not a zip"]
    assert "\r" not in log.getvalue()


def test_sources_walk_folders_and_read_lists(tmp_path: Path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/a.apk", "d/sub/b.XAPK", "d/sub/c.apkm", "d/notes.txt", "d/e.apks"):
        (tmp_path / name).write_bytes(b"x")
    found = discover([str(tmp_path / "d")])
    assert [Path(p).name for p in found] == ["a.apk", "e.apks", "b.XAPK", "c.apkm"]
    listing = tmp_path / "list.txt"
    listing.write_text("# my corpus\nd/a.apk\n\n" + str(tmp_path / "gone.apk") + "\n")
    assert discover([str(listing), str(tmp_path / "d")])[:2] == [str(tmp_path / "d/a.apk"),
                                                                  str(tmp_path / "gone.apk")]
    assert len(discover([str(listing), str(tmp_path / "d")])) == 5   # a.apk once
    with pytest.raises(InputError, match="corpus source not found"):
        discover([str(tmp_path / "nope")])
    binary = tmp_path / "list.bin"
    binary.write_bytes(b"\x00\xff\xfe")
    with pytest.raises(InputError, match="list file"):
        discover([str(binary)])
