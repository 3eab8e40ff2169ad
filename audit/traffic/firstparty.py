"""The app's own domains, read from the app itself: they make its hosts first party in traffic.

Two places name them: verified app links (`<intent-filter android:autoVerify="true">` with http(s) `<data
android:host>` on a component the app owns: Android checks the domain's assetlinks.json before routing its
links to the app) and the network security configuration's `<domain>` entries (the app pins or configures TLS
for them). Hosts the catalogue attributes to an SDK (`*.app.link` of Branch, `onelink.me` of AppsFlyer) and
public suffixes are never the app's. Nothing is guessed from the package name.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..catalogue import is_public_suffix, load_catalogue, normal_domain
from ..errors import InputError
from ..model import ActorKind
from ..static.axml import parse_axml
from ..static.inputs import Archive, Budget, open_inputs
from ..static.manifest import ANDROID_NS, arsc_string

MAX_NSC_BYTES = 1 << 20
_HOST = re.compile(r"^(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z][a-z0-9-]*$")   # the last label is not a number
_COMPONENTS = ("activity", "activity-alias", "service", "receiver")


def _get(element, name: str) -> str | None:
    return element.get(ANDROID_NS + name) or element.get(name)


def manifest_domains(root, package: str) -> list[str]:
    """Hosts of verified app links on components that are the app's own (not an SDK's)."""
    catalogue = load_catalogue()
    out = []
    for component in root.iter():
        if component.tag not in _COMPONENTS:
            continue
        name = _get(component, "name") or ""
        qualified = package + name if name.startswith(".") else name
        if catalogue.actor_for_class(qualified, package).kind is ActorKind.SDK:
            continue
        for intent in component.findall("intent-filter"):
            if (_get(intent, "autoVerify") or "").lower() != "true":
                continue
            data = intent.findall("data")
            if not any((_get(d, "scheme") or "").lower() in ("http", "https") for d in data):
                continue
            out += [_get(d, "host") for d in data if _get(d, "host")]
    return out


def nsc_domains(apk: Path, root, arsc: bytes | None) -> list[str]:
    """`<domain>` entries of the network security config (res/xml/...), read from the compiled XML's strings."""
    application = root.find("application")
    reference = _get(application, "networkSecurityConfig") if application is not None else None
    if not reference or not reference.startswith("@") or arsc is None:
        return []
    try:
        member = arsc_string(arsc, int(reference.lstrip("@"), 16))
    except ValueError:
        return []
    if not member:
        return []
    archive = Archive(apk, str(apk), Budget())
    try:
        if not archive.has(member):
            return []
        data = archive.read(member, MAX_NSC_BYTES)
    finally:
        archive.close()
    # The compiled XML keeps element text (the domains) in its string pool and the element tree keeps no text:
    # the pool's host-shaped strings are the candidates. A config names nothing else that looks like a host
    # (its tag and attribute names have no dots; the namespace is a URL).
    return [text for text in _pool_strings(data, f"{apk}!{member}") if _HOST.match(text.strip().lower())]


MAX_POOL_STRINGS = 4096


def _pool_strings(data: bytes, where: str) -> list[str]:
    if data[:1] == b"<":        # a plain-text XML file (never in a built APK, but cheap to accept)
        return re.findall(r"<domain\b[^>]*>\s*([^<\s]+)\s*</domain>", data.decode("utf-8", "replace"))
    parse_axml(data, where)    # well-formed binary XML first: the same checks as the manifest's
    from ..static.axml import _HEADER, RES_STRING_POOL_TYPE, StringPool
    _type, header_size, _size = _HEADER.unpack_from(data, 0)
    chunk_type, chunk_header, chunk_size = _HEADER.unpack_from(data, header_size)
    if chunk_type != RES_STRING_POOL_TYPE:
        return []

    def fail(reason: str):
        raise InputError(f"malformed network security config in {where}: {reason}")

    pool = StringPool(data, header_size, chunk_header, chunk_size, fail)
    return [text for text in (pool.get(i) for i in range(min(pool.count, MAX_POOL_STRINGS))) if text]


def app_domains(apk: str | Path) -> tuple[str | None, list[str]]:
    """(package, the app's own domains) from an APK (or bundle: its base)."""
    apk = Path(apk)
    opened = open_inputs([apk])
    base = opened.apks[0]
    root = parse_axml(base.manifest, f"{apk}!AndroidManifest.xml") if base.manifest[:1] != b"<" else None
    if root is None:
        return opened.bundle_package, []
    package = (root.get("package") or "").strip() or opened.bundle_package
    candidates = manifest_domains(root, package or "")
    if apk.suffix.lower() == ".apk":
        try:
            candidates += nsc_domains(apk, root, base.arsc)
        except InputError:
            pass    # an unreadable config names no domain; the scan reports the APK's problems itself
    catalogue = load_catalogue()
    out = []
    for host in candidates:
        domain = normal_domain(host)
        if not _HOST.match(domain) or is_public_suffix(domain):
            continue
        owner = catalogue.owner_of_host(domain)
        if owner is not None and owner.sdk is not None:
            continue
        out.append(domain)
    return package, sorted(set(out))
