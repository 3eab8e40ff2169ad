"""Many apps: resumable corpus scans into DuckDB, locally (`--jobs N`) or on a Dask cluster (`--scheduler`).

    from audit.corpus import open_corpus, run_corpus
    run_corpus(["apks/"], "apps.duckdb", jobs=2)
    open_corpus("apps.duckdb").sdk_prevalence()
"""
from __future__ import annotations

__all__ = ["open_corpus", "run_corpus", "Corpus", "RunSummary"]


def __getattr__(name: str):
    # Lazy: the scanner child imports audit.corpus.worker and should not pay for duckdb, pandas or dask.
    if name in ("open_corpus", "Corpus"):
        from . import api
        return getattr(api, name)
    if name in ("run_corpus", "RunSummary"):
        from . import runner
        return getattr(runner, name)
    raise AttributeError(name)
