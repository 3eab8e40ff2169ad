"""Which catalogue SDKs an app contains, from its code only; what merely mentions one is a hint.

An SDK is *detected* when its code is in the app:
- `sdk-class`: classes the dexes define under the SDK's package prefixes (longest prefix wins, on package
  boundaries: Catalogue.match_prefix), at least MIN_CLASSES of them, or
- `entry-class`: one of the SDK's entry classes (rules/sdks.yaml `entry_classes`: its public API, kept by name
  even in minified apps) is defined and its code calls into other code (a real SDK's facade delegates to its
  internals or names its own endpoint; a no-op stand-in, e.g. the `FirebaseAnalytics` an F-Droid flavour
  defines so that the app compiles, does neither: entry_classes_with_code), or
- `manifest-component`: an activity, service, receiver or provider the manifest declares is one of its classes,
  and the class is defined (a component whose class is not in the code is a manifest leftover).
Generated classes (`R`, `R$string`, `BuildConfig`) are not code and never count. A few classes under an SDK's
prefix are not its code either: artifacts share packages (the advertising-ID client's handful of classes sits
under AdMob's namespace), and a stray class proves nothing. Classes of the app's own
packages never count, even under an SDK's prefix (an SDK vendor's own app or sample).

What only names an SDK corroborates a detection and is listed with it, or, with no code found, becomes a hint
(never a detection, never a finding):
- `host`: a string constant naming one of the SDK's hosts. A URL says the app may talk to that service (a link,
  a tile server, an ad-blocking list, another SDK's code naming it), not that the SDK is in the app;
- `manifest-key`: a <meta-data> key the SDK reads. A key whose value is `false` switches a feature off
  (google_analytics_adid_collection_enabled=false): it is said so, and is no sign of presence either;
- `sdk-class` below MIN_CLASSES with no entry class or component.
"""
from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable

from ..attribution import is_platform, placement, relocated_match
from ..catalogue import Catalogue, dotted
from ..model import ActorKind, Evidence
from .callsites import string_hosts
from .dex import EncodedMethod
from .report import Component, SdkDetection, SdkHint

MIN_CLASSES = 5          # classes under an SDK's packages that show its code is there without an entry class
MAX_HOSTS_PER_SDK = 5    # evidence items of kind `host`; the detail says how many were found
_COMPONENT_KINDS = frozenset({"activity", "service", "receiver", "provider"})


@dataclass(frozen=True)
class SdkFindings:
    sdks: tuple[SdkDetection, ...]
    hints: tuple[SdkHint, ...]


def find_sdks(catalogue: Catalogue, class_names: Iterable[str], meta_data: Iterable[str] = (),
              hosts: Iterable[str] = (), app_package: str | None = None,
              components: Iterable[Component] = (), meta_data_off: Iterable[str] = (),
              app_code: object = None, entry_code: Iterable[str] | None = None) -> SdkFindings:
    """class_names: dotted or descriptor names of the classes the dexes define; meta_data: manifest <meta-data>
    keys, meta_data_off: those of them whose value is `false`; hosts: host names found in string constants
    (callsites.string_hosts); components: the manifest's components; app_code: what Catalogue.actor_for_class
    takes to tell the app's own classes (default: the app's package); entry_code: the entry classes whose code
    calls into other code (entry_classes_with_code), None when the code was not read (every defined entry
    class then counts)."""
    app_code = app_code if app_code is not None else app_package
    class_names = list(class_names)
    defined = {dotted(name) for name in class_names}
    entry_code = None if entry_code is None else {dotted(name) for name in entry_code}
    class_counts: dict[str, Counter] = defaultdict(Counter)     # sdk id -> prefix -> classes
    examples: dict[tuple[str, str], str] = {}
    entries: dict[str, set[str]] = defaultdict(set)
    entry_owner = {name: sdk.id for sdk in catalogue.sdks for name in sdk.entry_classes}
    for name in class_names:
        dotted_name = dotted(name)
        if _generated(dotted_name):
            continue
        sdk_id, prefix = _sdk_of(catalogue, name, app_code)
        if sdk_id is None:
            continue
        class_counts[sdk_id][prefix] += 1
        key = (sdk_id, prefix)
        if key not in examples or dotted_name < examples[key]:
            examples[key] = dotted_name
        if entry_owner.get(dotted_name) == sdk_id and (entry_code is None or dotted_name in entry_code):
            entries[sdk_id].add(dotted_name)

    declared: dict[str, set[tuple[str, str]]] = defaultdict(set)
    leftovers: dict[str, set[tuple[str, str]]] = defaultdict(set)    # declared, class not in the code
    for component in components:
        if component.kind in _COMPONENT_KINDS:
            sdk_id, _prefix = _sdk_of(catalogue, component.name, app_code)
            if sdk_id is not None:
                (declared if component.name in defined else leftovers)[sdk_id].add((component.kind, component.name))

    switched_off = set(meta_data_off)
    keys: dict[str, set[str]] = defaultdict(set)
    for key in meta_data:
        sdk = catalogue.sdk_for_manifest_key(key)
        if sdk is not None:
            keys[sdk.id].add(key)

    host_hits: dict[str, dict[str, str]] = defaultdict(dict)    # sdk id -> host seen -> catalogue entry
    for host in hosts:
        owner = catalogue.owner_of_host(host, app_package)
        if owner is not None and owner.sdk is not None:
            host_hits[owner.sdk.id][host] = owner.host

    detections, hints = [], []
    for sdk_id in sorted(set(class_counts) | set(declared) | set(leftovers) | set(keys) | set(host_hits)):
        sdk = catalogue.sdk(sdk_id)
        if sdk is None:
            continue
        counts = class_counts.get(sdk_id, {})
        total = sum(counts.values())
        code_found = total >= MIN_CLASSES or bool(entries.get(sdk_id)) or bool(declared.get(sdk_id))
        evidence: list[Evidence] = []
        for prefix, count in sorted(counts.items()):
            noun = "class" if count == 1 else "classes"
            detail = f"{count} {noun} defined under package {prefix}"
            if not code_found:
                detail += f"; fewer than the {MIN_CLASSES} that show the SDK's code, and none of its entry classes"
            evidence.append(Evidence("sdk-class", prefix, examples[(sdk_id, prefix)], detail))
        for name in sorted(entries.get(sdk_id, ())):
            evidence.append(Evidence("entry-class", name, "dex", "the SDK's entry class is defined"))
        for kind, name in sorted(declared.get(sdk_id, ())):
            evidence.append(Evidence("manifest-component", name, "AndroidManifest.xml",
                                     f"<{kind}> declared in the manifest is one of the SDK's classes"))
        for kind, name in sorted(leftovers.get(sdk_id, ())):
            evidence.append(Evidence("manifest-component", name, "AndroidManifest.xml",
                                     f"<{kind}> declared in the manifest names one of the SDK's classes, but the "
                                     "class is not in the code: a leftover, not a sign of presence"))
        for key in sorted(keys.get(sdk_id, ())):
            detail = "<meta-data> key this SDK reads (value not reported)"
            if key in switched_off:
                detail = "<meta-data> key this SDK reads, set to false: a feature switched off, not a sign of presence"
            evidence.append(Evidence("manifest-key", key, "AndroidManifest.xml", detail))
        seen_hosts = host_hits.get(sdk_id, {})
        for host in sorted(seen_hosts)[:MAX_HOSTS_PER_SDK]:
            entry = seen_hosts[host]
            detail = "host named in a string constant"
            if entry != host:
                detail += f" (catalogue entry {entry})"
            if len(seen_hosts) > MAX_HOSTS_PER_SDK:
                detail += f"; {len(seen_hosts)} hosts found, first {MAX_HOSTS_PER_SDK} listed"
            evidence.append(Evidence("host", host, "dex strings", detail))
        if code_found:
            detections.append(SdkDetection(sdk.id, sdk.name, sdk.organisation, sdk.categories, tuple(evidence)))
        else:
            hints.append(SdkHint(sdk.id, sdk.name, sdk.organisation, sdk.categories, tuple(evidence),
                                 _hint_summary(evidence, switched_off, total)))
    return SdkFindings(tuple(detections), tuple(hints))


def detect_sdks(catalogue: Catalogue, class_names: Iterable[str], meta_data: Iterable[str] = (),
                hosts: Iterable[str] = (), app_package: str | None = None,
                components: Iterable[Component] = (), meta_data_off: Iterable[str] = (),
                app_code: object = None) -> tuple[SdkDetection, ...]:
    """The detections of find_sdks (its hints left out)."""
    return find_sdks(catalogue, class_names, meta_data, hosts, app_package, components, meta_data_off,
                     app_code).sdks


_GENERATED = frozenset({"R", "BuildConfig", "Manifest"})


def _generated(class_name: str) -> bool:
    """A class the build generates in a library's package (`com.facebook.R$string`, `com.onesignal.BuildConfig`):
    resource ids and constants, written into the app whether or not the library's code survived shrinking."""
    return class_name.rpartition(".")[2].split("$", 1)[0] in _GENERATED


def entry_classes_with_code(catalogue: Catalogue, dexes: Iterable) -> set[str]:
    """The catalogue's entry classes the dexes define whose methods call a class other than themselves (and
    their inner classes), the platform's and the support libraries', or that name one of the SDK's own hosts
    (dotted names). A library family that holds SDKs counts as other code: old Play services kept every SDK's
    internals in com.google.android.gms.internal."""
    wanted = {"L" + name.replace(".", "/") + ";": (name, sdk.id) for sdk in catalogue.sdks
              for name in sdk.entry_classes}
    found: set[str] = set()
    for dex in dexes:
        rows = [(i, *wanted[d]) for i, d in enumerate(dex.class_descriptors()) if d in wanted]
        if not rows:
            continue
        method_idx, access, code_off, owners = dex.method_table()
        for class_def, name, sdk_id in rows:
            if name in found:
                continue
            outer = name.split("$", 1)[0]
            for row in range(bisect.bisect_left(owners, class_def), bisect.bisect_right(owners, class_def)):
                if not code_off[row]:
                    continue
                body = dex.body(EncodedMethod(method_idx[row], access[row], code_off[row], class_def))
                if (any(_calls_out(catalogue, dex.method_descriptor(i).split("->", 1)[0], outer)
                        for i in set(body.invokes.values()))
                        or any(_names_own_host(catalogue, dex.string(i), sdk_id) for i in body.strings
                               if i < dex.string_ids_size)):
                    found.add(name)
                    break
    return found


def _names_own_host(catalogue: Catalogue, text: str, sdk_id: str) -> bool:
    """A string naming one of the SDK's own hosts: its endpoint, which a no-op stand-in has no use for."""
    if "." not in text or len(text) > 2048:
        return False
    for host in string_hosts([text]):
        owner = catalogue.owner_of_host(host)
        if owner is not None and owner.sdk is not None and owner.sdk.id == sdk_id:
            return True
    return False


def _calls_out(catalogue: Catalogue, class_descriptor: str, outer: str) -> bool:
    target = dotted(class_descriptor)
    if target.split("$", 1)[0] == outer or target.startswith("[") or is_platform(target):
        return False
    matched = catalogue.match_prefix(target)
    # a library family holding SDKs (com.google.android.gms.internal) may hold this SDK's renamed internals
    return matched is None or matched[1].kind is not ActorKind.LIBRARY or catalogue.holds_sdks(target)


def _sdk_of(catalogue: Catalogue, class_name: str, app_code: object) -> tuple[str | None, str]:
    """(SDK id, matched prefix) owning a class, or (None, "") for library, first-party or unplaced code: the one
    attribution decides (audit.attribution.placement), so the app's own package under a shorter SDK prefix (an
    SDK vendor's own app or sample) never counts, and an SDK relocated by a shading tool does."""
    matched = catalogue.match_prefix(class_name)
    if (matched is None or matched[1].kind is not ActorKind.SDK) and relocated_match(catalogue, class_name) is None:
        return None, ""   # the common case, decided without the rest of the attribution
    prefix, actor = placement(catalogue, class_name, app_code)
    if prefix is None or actor.kind is not ActorKind.SDK:
        return None, ""
    return actor.id, prefix


def _hint_summary(evidence: list[Evidence], switched_off: set[str], classes: int) -> str:
    """One line: what names the SDK, and that its code was not found."""
    parts = []
    hosts = [e.ref for e in evidence if e.kind == "host"]
    if hosts:
        parts.append("mentions host " + ", ".join(hosts))
    keys = [e.ref for e in evidence if e.kind == "manifest-key"]
    if keys:
        parts.append("manifest key " + ", ".join(f"{k}=false (switched off)" if k in switched_off else k
                                                 for k in keys))
    leftovers = [e.ref for e in evidence if e.kind == "manifest-component"]
    if leftovers:
        parts.append("manifest component " + ", ".join(leftovers) + " whose class is not in the code")
    if classes:
        parts.append(f"{classes} class{'es' if classes != 1 else ''} under its packages "
                     f"(fewer than {MIN_CLASSES}, no entry class)")
    return "; ".join(parts) + "; no code found"
