"""Who received a request (host -> organisation, SDK, party) and who sent it (stack -> actor).

Hosts: the catalogue (rules/sdks.yaml and --trackers lists) by whole hostname or parent domain; the first-party
domains given are first party; then rules/recipients.yaml names hosts of known SDKs and organisations, and cloud and
CDN hosts as the service they run on; then the tracker adapters (rules/trackers) name the hosts whose requests they
read; an unknown host is third party, "unknown organisation", keyed by its registered domain (Public Suffix List).
Senders: audit.attribution.actor_for_stack, the one attribution the static and runtime stages use too.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Iterable

from ..attribution import actor_for_stack
from ..catalogue import Catalogue, registered_domain
from ..model import Actor
from ..recipients import load_recipients
from .adapters import load_adapters
from .captures import Request

@dataclass(frozen=True)
class Recipient:
    id: str                      # SDK id, "first-party", or "unknown:<domain>"
    name: str                    # organisation
    party: str                   # "first" | "third"
    categories: tuple[str, ...] = ()
    sdk: str | None = None
    country: str | None = None           # from an imported list that says (Ghostery's TrackerDB)
    contact: str | None = None           # the organisation's privacy contact, idem

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "name": self.name, "party": self.party, "categories": list(self.categories)}
        if self.country:
            out["country"] = self.country
        if self.contact:
            out["privacy_contact"] = self.contact
        return out


class Attributor:
    def __init__(self, catalogue: Catalogue, app_package: str | None, first_party_domains: Iterable[str] = (),
                 app_code: Any = None):
        self.catalogue = catalogue
        self.app_package = app_package
        self.app_code = app_code      # attribution.AppContext from the app's manifest, when it was scanned
        self.first_party_domains = tuple(first_party_domains)
        self.recipients = load_recipients()
        self.adapters = load_adapters()

    @functools.lru_cache(maxsize=4096)
    def recipient(self, host: str) -> Recipient:
        owner = self.catalogue.owner_of_host(host, self.app_package, self.first_party_domains)
        if owner is not None and owner.party == "first":
            return Recipient("first-party", f"first party ({self.app_package or owner.host})", "first")
        if owner is not None:
            return self._sdk_recipient(owner.sdk)
        named = self.recipients.named(host)
        if named is not None and named.sdk and self.catalogue.sdk(named.sdk):
            return self._sdk_recipient(self.catalogue.sdk(named.sdk))
        if named is not None and named.organisation:
            return Recipient(f"org:{named.domain}", named.organisation, "third", named.categories)
        domain = registered_domain(host)
        service = self.recipients.infrastructure_of(host)
        if service is not None:
            # who rents the distribution or bucket is not in its name: the service, per tenant
            return Recipient(f"infrastructure:{domain}", f"{service.provider} ({service.kind}: {domain})",
                             "third", (service.kind,))
        tracker = self.adapters.tracker_at(host)
        if tracker is not None:
            tracker_id, organisation, sdk = tracker
            if sdk and self.catalogue.sdk(sdk):
                return self._sdk_recipient(self.catalogue.sdk(sdk))
            return Recipient(f"tracker:{tracker_id}", organisation, "third")
        return Recipient(f"unknown:{domain}", "unknown organisation", "third")

    @staticmethod
    def _sdk_recipient(sdk) -> Recipient:
        return Recipient(sdk.id, sdk.organisation, "third", tuple(sdk.categories), sdk.id, sdk.country,
                         sdk.privacy_contact)

    def actor_from_stack(self, frames: Iterable[str]) -> Actor | None:
        if isinstance(self.app_code, ScannedApp):   # scanned at the first stack: captures without stacks never pay
            self.app_code = self.app_code.context()
        found = actor_for_stack(self.catalogue, frames, self.app_code or self.app_package)
        return found[0] if found is not None else None


class ScannedApp:
    """The app context of an APK given to the traffic stage (`appaudit traffic --apk`), from its static scan: the
    senders' stacks get the actors the scan gave the same classes (renamed SDK code moved into the app's package,
    SDKs shaded under it, renamed library code), not the names' verdict alone. Built when first asked."""

    def __init__(self, paths: Iterable[str]):
        self.paths = list(paths)

    def context(self):
        from ..errors import InputError
        from ..static.scan import scan_app
        try:
            return scan_app(self.paths).app_code
        except InputError:   # no readable code: the manifest's package still names the app (app_domains read it)
            return None


MAX_JOIN_COMPARISONS = 2_000_000  # ~2 s; later events stay unattributed


def join_events(requests: list[tuple[str, Request]], events: list[dict], window_s: float = 10.0) -> dict[str, tuple]:
    """Request id -> Java stack frames, from the Frida agent's `request` events (hooks/network.yaml).

    An event names its request by `url` (or `host`/`sni`), and carries the caller's `stack`. It is joined to the
    not yet joined request nearest in time (within `window_s`, 3x that for an exact URL), preferring the same
    URL, then the same host and path, then the same host.
    """
    from urllib.parse import urlsplit

    from .captures import _epoch, stack_frames

    def shape(url: str) -> tuple[str, str, str]:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError:  # "http://[x/": Invalid IPv6 URL
            return "", "", ""
        path = parts.path or "/"
        return host, path, path + (f"?{parts.query}" if parts.query else "")

    by_host: dict[str, list[tuple[float | None, str, Request, str, str]]] = {}
    for request_id, request in requests:
        _, path, target = shape(request.url)
        by_host.setdefault(request.host, []).append((request.time, request_id, request, path, target))
    out: dict[str, tuple] = {}
    budget = MAX_JOIN_COMPARISONS  # events x requests of one host is quadratic: stop joining past this
    for event in sorted(events, key=lambda e: _epoch(e.get("time") or e.get("timestamp")) or 0):
        frames = stack_frames(event.get("stack"))
        if not frames:
            continue
        if event.get("url"):
            host, path, target = shape(str(event["url"]))
        else:
            host, path, target = str(event.get("host") or event.get("sni") or "").lower().split(":")[0], "", ""
        if not host or host not in by_host:
            continue
        when = _epoch(event.get("time") or event.get("timestamp") or event.get("ts"))
        best, best_score = None, None
        budget -= len(by_host[host])
        if budget < 0:
            break
        for time, request_id, request, req_path, req_target in by_host[host]:
            if request_id in out:
                continue
            level = 0 if target and target == req_target else 1 if path and path == req_path else 2
            gap = abs(time - when) if when is not None and time is not None else window_s
            if gap > (window_s * 3 if level == 0 else window_s):
                continue
            score = (level, gap)
            if best_score is None or score < best_score:
                best, best_score = request_id, score
        if best is not None:
            out[best] = frames
    return out
