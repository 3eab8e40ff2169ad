"""Share of hosts with a named organisation (issue 12): the shared captures' hosts, the hosts issue 12 lists,
and every endpoint host of TrackHAR's adapters (real tracking endpoints), with the project's catalogue alone and
with Ghostery's TrackerDB and the Exodus list given as --trackers.

    python bench/recipients.py [--trackerdb trackerdb.json] [--exodus exodus-trackers.json]
"""
from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"

from audit.catalogue import load_catalogue  # noqa: E402
from audit.errors import InputError  # noqa: E402
from audit.traffic import analyse  # noqa: E402
from audit.traffic.adapters import load_adapters  # noqa: E402
from audit.traffic.attribution import Attributor  # noqa: E402

ISSUE_HOSTS = ["fundingchoicesmessages.google.com", "o-sdk.mediation.unity3d.com", "configure.mtgglobals.com",
               "id5-sync.com", "adexp.liftoff.io", "api.pubnative.net"]


def capture_hosts() -> list[str]:
    hosts = set()
    for capture in sorted(glob.glob(str(SHARED / "corpus" / "traffic" / "*" / "*"))):
        if not capture.endswith((".har", ".mitm", ".pcap")):
            continue
        try:
            hosts |= {r.host for r in analyse([capture]).requests if r.host}
        except InputError:
            continue
    return sorted(hosts)


def adapter_hosts() -> list[str]:
    return sorted({h for e in load_adapters().endpoints for h in e.hosts if not h.startswith("*.")})


def share(hosts: list[str], extra: tuple[str, ...]) -> tuple[int, int]:
    attributor = Attributor(load_catalogue(extra), None)
    return sum(attributor.recipient(h).name != "unknown organisation" for h in hosts), len(hosts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trackerdb")
    parser.add_argument("--exodus", default=str(SHARED / "signatures" / "exodus-trackers.json"))
    args = parser.parse_args()
    sets = {"shared captures": capture_hosts(), "issue 12 hosts": ISSUE_HOSTS,
            "TrackHAR endpoint hosts": adapter_hosts()}
    lists = {"catalogue": ()}
    if Path(args.exodus).exists():
        lists["+ Exodus"] = (args.exodus,)
    if args.trackerdb:
        lists["+ Ghostery"] = (args.trackerdb,)
        lists["+ Exodus + Ghostery"] = tuple(x for x in (args.exodus, args.trackerdb) if Path(x).exists())
    out = {}
    for name, hosts in sets.items():
        out[name] = {label: "%d/%d" % share(hosts, extra) for label, extra in lists.items()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
