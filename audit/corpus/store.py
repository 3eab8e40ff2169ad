"""The corpus database: one DuckDB file, written by one writer (the parent of a corpus run).

Tables (one row per app in `apps`, keyed by the sha256 of the scanned file; the others refer to it by sha256):
  apps          path, sha256, size, package, version, sdk levels, input files, status ok|partial|failed, error,
                error_kind (input|error|memory|timeout|crash), warnings, scan time, worker peak memory, scan JSON
  permissions   declared permissions with protection level and the data types they unlock
  sdks          detected SDKs with organisation, categories and the kinds of evidence
  api_calls     call sites of data-reading APIs with the actor (first-party / sdk / library / unknown)
  observations  the scan's observations (data type, level, actor, source)

Results are buffered and written in small transactions (`batch_size` apps or `batch_seconds`), so an
interrupted run keeps everything up to the last batch and `--resume` continues from there.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ..errors import InputError

STORE_SCHEMA = "appaudit.corpus/1"
DUCKDB_MAGIC = b"DUCK"
# Failures that may go away on a second try (a busy machine, a worker killed from outside, a scanner bug fixed
# since): --resume retries them. An `input` failure (corrupt, hostile, unsupported file) would fail again.
RETRYABLE_ERRORS = ("timeout", "crash", "memory", "error")

TABLES: dict[str, pa.Schema] = {
    "apps": pa.schema([
        ("sha256", pa.string()), ("path", pa.string()), ("size", pa.int64()), ("package", pa.string()),
        ("version_code", pa.string()), ("version_name", pa.string()), ("label", pa.string()),
        ("min_sdk", pa.int32()), ("target_sdk", pa.int32()),
        ("input_paths", pa.list_(pa.string())), ("input_sha256s", pa.list_(pa.string())),
        ("input_sizes", pa.list_(pa.int64())), ("splits", pa.list_(pa.string())),
        ("status", pa.string()), ("error", pa.string()), ("error_kind", pa.string()),
        ("warnings", pa.list_(pa.string())), ("n_permissions", pa.int32()), ("n_sdks", pa.int32()),
        ("n_api_calls", pa.int32()), ("n_observations", pa.int32()),
        ("scan_seconds", pa.float64()), ("scanned_at", pa.timestamp("us", tz="UTC")),
        ("worker_peak_rss_mb", pa.float64()), ("worker_pid", pa.int64()), ("scan_json", pa.string()),
    ]),
    "permissions": pa.schema([
        ("sha256", pa.string()), ("package", pa.string()), ("name", pa.string()),
        ("protection_level", pa.string()), ("data_types", pa.list_(pa.string())), ("max_sdk", pa.int32()),
    ]),
    "sdks": pa.schema([
        ("sha256", pa.string()), ("package", pa.string()), ("sdk_id", pa.string()), ("name", pa.string()),
        ("organisation", pa.string()), ("categories", pa.list_(pa.string())),
        ("evidence_kinds", pa.list_(pa.string())), ("evidence_count", pa.int32()),
    ]),
    "api_calls": pa.schema([
        ("sha256", pa.string()), ("package", pa.string()), ("data_type", pa.string()), ("api_id", pa.string()),
        ("api", pa.string()), ("caller", pa.string()), ("actor_kind", pa.string()), ("actor_id", pa.string()),
        ("reachable", pa.bool_()), ("via", pa.string()),
    ]),
    "observations": pa.schema([
        ("sha256", pa.string()), ("package", pa.string()), ("data_type", pa.string()), ("level", pa.string()),
        ("actor_kind", pa.string()), ("actor_id", pa.string()), ("source", pa.string()),
        ("recipient", pa.string()), ("party", pa.string()), ("evidence_count", pa.int32()),
    ]),
}

_DUCK_TYPES = {
    pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.int32(): "INTEGER", pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN", pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
    pa.list_(pa.string()): "VARCHAR[]", pa.list_(pa.int64()): "BIGINT[]",
}


def _ddl(name: str, schema: pa.Schema) -> str:
    columns = ", ".join(f'"{f.name}" {_DUCK_TYPES[f.type]}' for f in schema)
    return f"CREATE TABLE IF NOT EXISTS {name} ({columns})"


def check_db_path(path: str | Path, must_exist: bool = False) -> Path:
    """A --db argument: an existing DuckDB file, or (when writing) a new file in an existing folder."""
    db = Path(path)
    if db.is_dir():
        raise InputError(f"--db {db} is a directory, expected a DuckDB file")
    if db.exists() and not must_exist and _is_empty_file(db):
        pass   # a 0-byte file is what a DuckDB that could not write its first page leaves: nobody's data
    elif db.exists():
        try:
            with open(db, "rb") as handle:
                header = handle.read(16)
        except OSError as exc:
            raise InputError(f"cannot read --db {db}: {exc.strerror}") from None
        # A DuckDB file has "DUCK" at byte 8; anything else is someone's file we must not touch.
        if header[8:12] != DUCKDB_MAGIC:
            raise InputError(f"--db {db} is not a DuckDB database file")
    elif must_exist:
        raise InputError(f"--db {db} not found")
    elif not db.parent.exists() or not db.parent.is_dir():
        raise InputError(f"folder of --db {db} does not exist")
    return db


def _is_empty_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size == 0
    except OSError:
        return False


def _remove_new_database(db: Path) -> None:
    """Remove a database file this run created and could not finish (a full disk): left behind, it would be
    refused by every later run as "not a valid DuckDB file"."""
    for leftover in (db, db.with_name(db.name + ".wal")):
        try:
            leftover.unlink(missing_ok=True)
        except OSError:
            pass


def _cause(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "No space left" in text or "disk is full" in text.lower():
        return f"the disk is full ({text})"
    return text


def check_parquet_path(folder: str | Path) -> Path:
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise InputError(f"--parquet {out} exists and is not a folder")
    if not out.exists() and not out.parent.is_dir():
        raise InputError(f"folder of --parquet {out} does not exist")
    return out


def connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    db = check_db_path(path, must_exist=read_only)
    new = not read_only and (not db.exists() or _is_empty_file(db))
    if new and db.exists():
        db.unlink()
    try:
        return duckdb.connect(str(db), read_only=read_only)
    except duckdb.Error as exc:
        if new:
            _remove_new_database(db)
        raise InputError(f"cannot open --db {db}: {_cause(exc)}") from None


def rows_for(result: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """One corpus result (see worker.py) as rows of each table."""
    scan = result.get("scan") or {}
    app = scan.get("app") or {}
    sha = result.get("sha256")
    package = app.get("package")
    inputs = scan.get("inputs") or []
    permissions = [{"sha256": sha, "package": package, "name": p.get("name"),
                    "protection_level": p.get("protection_level"), "data_types": list(p.get("data_types") or ()),
                    "max_sdk": p.get("max_sdk")} for p in scan.get("permissions") or ()]
    sdks = [{"sha256": sha, "package": package, "sdk_id": s.get("id"), "name": s.get("name"),
             "organisation": s.get("organisation"), "categories": list(s.get("categories") or ()),
             "evidence_kinds": sorted({e.get("kind") for e in s.get("evidence") or () if e.get("kind")}),
             "evidence_count": len(s.get("evidence") or ())} for s in scan.get("sdks") or ()]
    api_calls = [{"sha256": sha, "package": package, "data_type": c.get("data_type"), "api_id": c.get("api_id"),
                  "api": c.get("api"), "caller": c.get("caller"),
                  "actor_kind": (c.get("actor") or {}).get("kind"), "actor_id": (c.get("actor") or {}).get("id"),
                  "reachable": c.get("reachable"), "via": c.get("via")} for c in scan.get("api_calls") or ()]
    observations = [{"sha256": sha, "package": package, "data_type": o.get("data_type"), "level": o.get("level"),
                     "actor_kind": (o.get("actor") or {}).get("kind"), "actor_id": (o.get("actor") or {}).get("id"),
                     "source": o.get("source"), "recipient": o.get("recipient"), "party": o.get("party"),
                     "evidence_count": len(o.get("evidence") or ())} for o in scan.get("observations") or ()]
    apps = [{
        "sha256": sha, "path": result.get("path"), "size": result.get("size"), "package": package,
        "version_code": app.get("version_code"), "version_name": app.get("version_name"), "label": app.get("label"),
        "min_sdk": _int_or_none(app.get("min_sdk")), "target_sdk": _int_or_none(app.get("target_sdk")),
        "input_paths": [i.get("path") for i in inputs], "input_sha256s": [i.get("sha256") for i in inputs],
        "input_sizes": [i.get("size") for i in inputs], "splits": list(app.get("splits") or ()),
        "status": result.get("status"), "error": result.get("error"), "error_kind": result.get("error_kind"),
        "warnings": list(scan.get("warnings") or ()), "n_permissions": len(permissions), "n_sdks": len(sdks),
        "n_api_calls": len(api_calls), "n_observations": len(observations),
        "scan_seconds": result.get("seconds"), "scanned_at": _timestamp(result.get("scanned_at")),
        "worker_peak_rss_mb": result.get("peak_rss_mb"), "worker_pid": result.get("worker_pid"),
        "scan_json": json.dumps(scan, sort_keys=True, ensure_ascii=False) if scan else None,
    }]
    return {"apps": apps, "permissions": permissions, "sdks": sdks, "api_calls": api_calls,
            "observations": observations}


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _timestamp(text: str | None):
    if not text:
        return None
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class CorpusStore:
    """The single writer. Use as a context manager; `add(result)` buffers, batches are committed as they fill."""

    def __init__(self, path: str | Path, batch_size: int = 16, batch_seconds: float = 2.0):
        self.path = Path(path)
        new = not self.path.exists() or _is_empty_file(self.path)
        self.con = connect(self.path)
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self._pending: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()
        try:
            self._init_schema()
        except InputError:
            if new:
                _remove_new_database(self.path)
            raise

    def _init_schema(self) -> None:
        try:
            self.con.execute("CREATE TABLE IF NOT EXISTS corpus_meta (key VARCHAR, value VARCHAR)")
            found = self.con.execute("SELECT value FROM corpus_meta WHERE key = 'schema'").fetchone()
            if found is None:
                existing = {r[0] for r in self.con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
                clash = existing & set(TABLES)
                if clash:
                    raise InputError(f"--db {self.path} already has tables {', '.join(sorted(clash))} "
                                     "not written by appaudit corpus")
                self.con.execute("INSERT INTO corpus_meta VALUES ('schema', ?)", [STORE_SCHEMA])
            elif found[0] != STORE_SCHEMA:
                raise InputError(f"--db {self.path} holds a corpus of schema {found[0]}, expected {STORE_SCHEMA}")
            for name, schema in TABLES.items():
                self.con.execute(_ddl(name, schema))
        except duckdb.Error as exc:
            self.con.close()
            raise InputError(f"cannot use --db {self.path}: {_cause(exc)}") from None
        except InputError:
            self.con.close()
            raise

    def done(self) -> set[str]:
        """sha256 of apps that need no new scan: ok, partial, and failures that would fail the same way again."""
        placeholders = ", ".join("?" for _ in RETRYABLE_ERRORS)
        rows = self.con.execute(
            f"SELECT sha256 FROM apps WHERE sha256 IS NOT NULL AND "
            f"(status <> 'failed' OR coalesce(error_kind, '') NOT IN ({placeholders}))",
            list(RETRYABLE_ERRORS)).fetchall()
        return {r[0] for r in rows}

    def add(self, result: dict[str, Any]) -> None:
        self._pending.append(result)
        if len(self._pending) >= self.batch_size or time.monotonic() - self._last_flush >= self.batch_seconds:
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        # The last result for a file wins (the same APK twice in one run is one app).
        latest: dict[str, dict[str, Any]] = {}
        for result in self._pending:
            latest[result.get("sha256") or "path:" + str(result.get("path"))] = result
        batch = list(latest.values())
        tables: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        for result in batch:
            for name, rows in rows_for(result).items():
                tables[name].extend(rows)
        shas = [r["sha256"] for r in batch if r.get("sha256")]
        unhashed = [r["path"] for r in batch if not r.get("sha256")]
        con = self.con
        try:
            con.execute("BEGIN TRANSACTION")
            for name in TABLES:
                if shas:
                    con.execute(f"DELETE FROM {name} WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))", [shas])
            if unhashed:
                con.execute("DELETE FROM apps WHERE sha256 IS NULL AND path IN (SELECT unnest(?::VARCHAR[]))",
                            [unhashed])
            for name, schema in TABLES.items():
                if tables[name]:
                    arrow_rows = pa.Table.from_pylist(tables[name], schema=schema)  # noqa: F841 (used by SQL)
                    con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM arrow_rows")
            con.execute("COMMIT")
        except BaseException as exc:
            # A failed write (a full disk) may already have ended the transaction: a second error from the
            # rollback must not hide the first. What was committed before stays in the database.
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            self._pending.clear()
            if isinstance(exc, duckdb.Error):
                raise InputError(f"cannot write to --db {self.path}: {_cause(exc)}; the {len(batch)} app(s) of "
                                 "the last batch are not stored, those before are (--resume continues)") from None
            raise
        self._pending.clear()

    def export_parquet(self, folder: str | Path) -> list[Path]:
        out = check_parquet_path(folder)
        out.mkdir(exist_ok=True)
        written = []
        for name in TABLES:
            target = out / f"{name}.parquet"
            tmp = out / f".{name}.parquet.tmp"
            self.con.execute(f"COPY (SELECT * FROM {name} ORDER BY ALL) TO '{_sql_str(tmp)}' (FORMAT PARQUET)")
            os.replace(tmp, target)
            written.append(target)
        return written

    def close(self) -> None:
        try:
            self.flush()
        finally:
            try:
                self.con.close()
            except duckdb.Error:
                pass   # the error that matters was raised by flush()

    def __enter__(self) -> "CorpusStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _sql_str(path: Path) -> str:
    return str(path).replace("'", "''")
