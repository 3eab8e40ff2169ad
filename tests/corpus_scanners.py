"""Fault injection for the corpus runner's tests, loaded by the worker child as `corpus_scanners:faulty_scan`
(tests/ on PYTHONPATH): the real static scan, except for files whose names ask for a fault a corpus must survive
— a crash that kills the worker process, a hang, a SIGKILL, a memory hog."""
from __future__ import annotations

import os
import time

from audit.static.scan import scan_app


def faulty_scan(paths):
    name = os.path.basename(str(paths[0]))
    if "crash" in name:
        os._exit(139)
    if "hang" in name:
        time.sleep(3600)
    if "hog" in name:
        hoard = bytearray(8 * 1024 ** 3)   # beyond the worker's address-space limit: MemoryError, not the OOM killer
        return hoard
    if "kill" in name:
        os.kill(os.getpid(), 9)
    return scan_app(paths)
