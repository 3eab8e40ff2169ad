"""The corpus database for notebooks and the corpus report: each question answered as a pandas DataFrame.

    from audit.corpus import open_corpus
    corpus = open_corpus("apps.duckdb")
    corpus.sdk_prevalence().head(20)
    corpus.sql("SELECT package, count(*) FROM api_calls GROUP BY ALL")

Prevalences are over the apps scanned successfully (ok or partial); failed apps are listed by `failures()`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..rulesdata import datatypes
from .store import TABLES, connect

SCANNED = "status IN ('ok', 'partial')"


class Corpus:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.con = connect(self.path, read_only=True)
        tables = {r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
        missing = set(TABLES) - tables
        if missing:
            self.con.close()
            from ..errors import InputError
            raise InputError(f"--db {self.path} is not an appaudit corpus (no table {sorted(missing)[0]})")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Corpus":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def sql(self, query: str, params: list[Any] | None = None) -> pd.DataFrame:
        return self.con.execute(query, params or []).df()

    # -- the apps --------------------------------------------------------------------------------------
    def apps(self) -> pd.DataFrame:
        return self.sql("SELECT * EXCLUDE (scan_json) FROM apps ORDER BY package NULLS LAST, path")

    def status_counts(self) -> pd.DataFrame:
        return self.sql("SELECT status, count(*) AS apps FROM apps GROUP BY status ORDER BY status")

    def scanned_count(self) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM apps WHERE {SCANNED}").fetchone()[0])

    def failures(self) -> pd.DataFrame:
        return self.sql("SELECT path, sha256, error_kind, error FROM apps WHERE status = 'failed' ORDER BY path")

    def scan(self, sha256: str) -> dict[str, Any] | None:
        """The full `appaudit.scan/1` document of one app."""
        import json
        row = self.con.execute("SELECT scan_json FROM apps WHERE sha256 = ?", [sha256]).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    # -- prevalence ------------------------------------------------------------------------------------
    def sdk_prevalence(self) -> pd.DataFrame:
        """Per SDK: in how many scanned apps it was detected, and the share of scanned apps."""
        return self.sql(f"""
            WITH scanned AS (SELECT sha256 FROM apps WHERE {SCANNED}),
                 total AS (SELECT count(*) AS n FROM scanned)
            SELECT s.sdk_id, any_value(s.name) AS name, any_value(s.organisation) AS organisation,
                   any_value(s.categories) AS categories, count(DISTINCT s.sha256) AS apps,
                   round(count(DISTINCT s.sha256) / any_value(total.n), 4) AS share
            FROM sdks s JOIN scanned USING (sha256), total
            GROUP BY s.sdk_id ORDER BY apps DESC, s.sdk_id""")

    def permission_prevalence(self) -> pd.DataFrame:
        return self.sql(f"""
            WITH scanned AS (SELECT sha256 FROM apps WHERE {SCANNED})
            SELECT name, any_value(protection_level) AS protection_level, count(DISTINCT sha256) AS apps
            FROM permissions JOIN scanned USING (sha256) GROUP BY name ORDER BY apps DESC, name""")

    def datatypes_by_actor(self) -> pd.DataFrame:
        """Per data type and actor kind: how many apps have code of that kind reading that data type."""
        return self.sql(f"""
            WITH scanned AS (SELECT sha256 FROM apps WHERE {SCANNED})
            SELECT data_type, actor_kind, count(DISTINCT sha256) AS apps
            FROM api_calls JOIN scanned USING (sha256)
            GROUP BY data_type, actor_kind ORDER BY data_type, actor_kind""")

    def datatypes_by_actor_table(self) -> pd.DataFrame:
        """`datatypes_by_actor` as a data type x actor kind table of app counts."""
        long = self.datatypes_by_actor()
        kinds = ["first-party", "sdk", "library", "unknown"]
        if long.empty:
            return pd.DataFrame(columns=["data_type", *kinds])
        wide = long.pivot_table(index="data_type", columns="actor_kind", values="apps", fill_value=0,
                                aggfunc="sum")
        for kind in kinds:
            if kind not in wide.columns:
                wide[kind] = 0
        extra = [c for c in wide.columns if c not in kinds]
        wide = wide[kinds + extra].astype(int).reset_index()
        wide.columns.name = None
        return wide

    def sdk_identifiers(self, identifiers_only: bool = True) -> pd.DataFrame:
        """Which SDKs read which data types (by default only identifiers, per rules/datatypes.yaml), in how
        many apps, and whether the call site was reachable in at least one of them."""
        frame = self.sql(f"""
            WITH scanned AS (SELECT sha256 FROM apps WHERE {SCANNED})
            SELECT actor_id AS sdk_id, data_type, count(DISTINCT sha256) AS apps,
                   count(DISTINCT sha256) FILTER (WHERE reachable) AS apps_reachable,
                   list(DISTINCT api_id ORDER BY api_id) AS api_ids
            FROM api_calls JOIN scanned USING (sha256)
            WHERE actor_kind = 'sdk' GROUP BY actor_id, data_type ORDER BY apps DESC, sdk_id, data_type""")
        if identifiers_only and not frame.empty:
            taxonomy = datatypes()
            keep = frame["data_type"].map(lambda t: bool(taxonomy.get(t) and taxonomy[t].identifier))
            frame = frame[keep].reset_index(drop=True)
        return frame

    def observation_levels(self) -> pd.DataFrame:
        """Per data type: apps by strongest evidence level reached in the scan's observations."""
        return self.sql(f"""
            WITH scanned AS (SELECT sha256 FROM apps WHERE {SCANNED})
            SELECT data_type, level, count(DISTINCT sha256) AS apps
            FROM observations JOIN scanned USING (sha256)
            GROUP BY data_type, level ORDER BY data_type, level""")


def open_corpus(path: str | Path) -> Corpus:
    """Open a corpus database read-only (a missing or foreign file is an InputError)."""
    return Corpus(path)
