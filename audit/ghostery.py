"""Import Ghostery's TrackerDB (`dist/trackerdb.json` of the npm package `@ghostery/trackerdb`) as catalogue
entries that name the organisation behind a host.

TrackerDB is CC-BY-NC-SA: it is never bundled with appaudit; the user passes the file they downloaded
(`appaudit traffic --trackers trackerdb.json`). Its `patterns` (a tracker: name, category, organisation, domains)
become catalogue SDK entries without code prefixes, so they name recipients (with the organisation's country and
privacy contact) and never claim an SDK from code.
Its `hosting` category (CDNs, cloud) is left out: such hosts are named as the service they run on
(rules/recipients.yaml), not as an organisation that collects. Hosts our own catalogue lists keep our entry
(catalogue entries come first).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .catalogue import Sdk
from .errors import InputError

# TrackerDB category -> ours (catalogue.CATEGORIES); the rest become "other".
GHOSTERY_CATEGORIES = {
    "advertising": "advertisement",
    "pornvertising": "advertisement",
    "site_analytics": "analytics",
    "customer_interaction": "customer_feedback",
    "social_media": "social",
}
LEFT_OUT_CATEGORIES = ("hosting",)
_HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")


def _text(value: Any) -> str | None:
    return value.strip()[:200] if isinstance(value, str) and value.strip() else None


def is_trackerdb(raw: Any) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get("patterns"), dict) \
        and isinstance(raw.get("organizations"), dict)


def sdks_from_trackerdb(raw: dict, path: str | Path) -> list[Sdk]:
    organisations = raw["organizations"]
    out = []
    for key, pattern in sorted(raw["patterns"].items()):
        if not isinstance(pattern, dict):
            raise InputError(f"{path}: patterns.{key}: expected a mapping, found {type(pattern).__name__}")
        category = pattern.get("category")
        if category in LEFT_OUT_CATEGORIES:
            continue
        domains = pattern.get("domains") or []
        if not isinstance(domains, list):
            raise InputError(f"{path}: patterns.{key}.domains: expected a list")
        hosts = tuple(dict.fromkeys(d.lower().strip(".") for d in domains
                                    if isinstance(d, str) and _HOST.fullmatch(d.lower().strip("."))))
        if not hosts:
            continue
        org = organisations.get(pattern.get("organization")) if pattern.get("organization") else None
        name = str(pattern.get("name") or key)
        organisation = str(org.get("name")) if isinstance(org, dict) and org.get("name") else name
        website = pattern.get("website_url") or (org.get("website_url") if isinstance(org, dict) else None)
        slug = re.sub(r"[^a-z0-9]+", "_", str(key).lower()).strip("_")
        about = org if isinstance(org, dict) else {}
        out.append(Sdk(id=f"ghostery_{slug}", name=name, organisation=organisation,
                       categories=(GHOSTERY_CATEGORIES.get(category, "other"),), hosts=hosts,
                       website=website if isinstance(website, str) else None, source="ghostery",
                       country=_text(about.get("country")), privacy_contact=_text(about.get("privacy_contact"))))
    if not out:
        raise InputError(f"{path}: a TrackerDB file without any tracker domains")
    return out
