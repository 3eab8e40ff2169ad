"""One attribution: who does something, from a class name, a Java stack or a host, in the context of one app.

Every stage asks this module: the static engine for the class of a calling method, the runtime stage for the
stack of a hooked call, the traffic stage for the stack that sent a request. The rules, in order:

1. The app's own code (first party): the manifest package, the packages of the Application class and of the
   manifest components (catalogued SDK and library packages excepted), and the organisation owning those
   (the reversed-domain owner split with the Public Suffix List: `uk.co.bbc.iplayer` -> `uk.co.bbc`, never
   `uk.co`). An organisation that is a generic prefix (rules/libraries.yaml `generic_organisations`:
   com.google, com.example ...) never makes its other packages first party; there the part the manifest package
   and the launcher's package share is the app's (`com.example.foo.free` with its screens in
   `com.example.foo.ui`: `com.example.foo`). An organisation that ships a catalogued SDK (an SDK vendor's sample,
   test or own app: `com.unity3d.ads.test`) does not make its other packages first party either: its code outside
   the app's packages and the catalogue is that vendor's, app or SDK alike, and is `unknown` with the reason.
2. A catalogued SDK or library: the longest catalogue prefix on package boundaries (Catalogue.match_prefix).
   A first-party package longer than the catalogue prefix wins (`com.facebook.katana` is not the Facebook SDK);
   a first-party organisation does not (`com.facebook.ads` stays the SDK in a `com.facebook.*` app).
   A catalogued package moved under another one by a shading tool (`com.app.shaded.okhttp3.Call`,
   `x.y.z.com.google.gson.Gson`) is that library or SDK even under the app's own package: the part from a
   reverse-DNS root (`com.`, `io.` ..., never a platform root like `android.`) or from a versioned single label
   (`okhttp3`) on is a catalogue prefix (relocated_match).
3. Any other named namespace is an SDK the catalogue does not know: `sdk` `unidentified:<organisation>`.
4. Obfuscated names (`a.b.c`, `A0.b`, `com.a.b.C`, a class in the default package) cannot be placed: `unknown`.

A stack is read top to bottom: platform frames (rules/libraries.yaml `platform`, unless a longer catalogue prefix
names the class: `android.support` is a bundled library), the hooked API's own class and library frames are
skipped (a library acts for whoever called it); the first other frame decides. A stack of library frames only is
the first library's. The static engine applies the same rule through the call graph: a call made inside a library
is attributed to the library method's callers (audit/static/callsites.py).

The static scan also places renamed code the names misattribute (audit/static/obfuscated.py, callsites.py). When
the runtime and traffic stages have the scanned APK, its AppContext carries those placements
(with_static_placements: calling class -> actor, the app packages the build moved SDK code into, SDKs shaded under
the app's package), so a class gets the same actor in a stack as in the static report.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from .errors import InputError
from .model import Actor, ActorKind
from .rulesdata import load_yaml, rules_dir, validate

if TYPE_CHECKING:
    from .catalogue import Catalogue

UNIDENTIFIED = "unidentified:"
FIRST_PARTY = Actor(ActorKind.FIRST_PARTY)
UNKNOWN = Actor(ActorKind.UNKNOWN)
_OBFUSCATED_SEGMENT = re.compile(r"^[a-zA-Z$_][a-zA-Z0-9$_]?$")    # a, zz, A0 (R8's package names)
_SHORT_SEGMENT = re.compile(r"^[a-z$_][a-z0-9$_]{0,2}$")
# Package names a build tool derives from a hash: Xamarin's Java callable wrappers (`crc64<16 hex>`, `md5<32 hex>`)
_HASHED_SEGMENT = re.compile(r"^(?:crc64[0-9a-f]{16}|md5[0-9a-f]{32})$")
_OBFUSCATED_CLASS = re.compile(r"^(?:zz)?[a-z]{1,3}[0-9]{0,3}$")   # R8 / ProGuard class names: a, zzb, abc, d0, a12
# `java.base/java.lang.Thread.getStackTrace(Thread.java:1619)`, `at a.b.C.m(Native Method)`, `app//a.B.m`, `a.B.m`
_FRAME = re.compile(r"^(?:at\s+)?(?:[^()\s]*/)?(?P<cls>[^/()\s]+)\.(?P<method>[^./()\s]+)(?:\((?P<where>[^()]*)\))?$")


# -- rules data -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttributionRules:
    platform: tuple[str, ...]          # package prefixes of the OS and runtime (never an actor)
    generic: frozenset[str]            # organisation prefixes that never make an organisation
    # renamed library code known by a string constant or a source-file name: text -> library id
    signature_strings: tuple[tuple[str, str], ...] = ()
    signature_files: tuple[tuple[str, str], ...] = ()
    runtimes_not_read: tuple["RuntimeNotRead", ...] = ()


@dataclass(frozen=True)
class RuntimeNotRead:
    """A runtime that runs the app's logic from code the scan does not read, and calls Android from it by name
    (rules/libraries.yaml `runtimes_not_read`, naming its entry in `libraries`)."""
    id: str                            # its library's id and name
    name: str
    code: str                          # what the scan does not read
    packages: tuple[str, ...] = ()     # its library's: a class under one, defined in a dex, means it is there
    components: tuple[str, ...] = ()   # or a component the manifest names (a platform class: in no dex)


@functools.lru_cache(maxsize=4)
def _rules(rules: str) -> AttributionRules:
    path = f"{rules}/libraries.yaml"
    raw = load_yaml(path, "library list")
    validate(raw, "libraries", path, "library list")
    lists = {key: [item.strip(".") for item in raw.get(key) or ()] for key in ("platform", "generic_organisations")}
    signatures = raw.get("renamed_signatures") or ()
    return AttributionRules(tuple(lists["platform"]), frozenset(lists["generic_organisations"]),
                            tuple(sorted((text, sig["library"]) for sig in signatures for text in sig.get("strings") or ())),
                            tuple(sorted((name, sig["library"]) for sig in signatures
                                         for name in sig.get("source_files") or ())),
                            _runtimes_not_read(raw, path))


def _runtimes_not_read(raw: dict, path: str) -> tuple[RuntimeNotRead, ...]:
    libraries = {entry["id"]: entry for entry in raw.get("libraries") or ()}
    runtimes = []
    for runtime in raw.get("runtimes_not_read") or ():
        library = libraries.get(runtime["library"])
        if library is None:
            raise InputError(f"{path}: runtimes_not_read names library {runtime['library']!r}, which `libraries` "
                             "does not list")
        runtimes.append(RuntimeNotRead(library["id"], library["name"], runtime["code"],
                                       tuple(library["packages"]), tuple(runtime.get("components") or ())))
    return tuple(runtimes)


@functools.lru_cache(maxsize=4)
def _platform_roots(rules: AttributionRules) -> frozenset[str]:
    """Platform prefixes of one label (`android`, `java`): `com` of `com.android.internal` is no platform root."""
    return frozenset(p for p in rules.platform if "." not in p)


def attribution_rules() -> AttributionRules:
    return _rules_for(os.environ.get("APPAUDIT_RULES"))


@functools.lru_cache(maxsize=4)
def _rules_for(override: str | None) -> AttributionRules:
    """Keyed by the one setting that moves the rules folder: rules_dir() resolves a path (a system call), and
    this is asked once per class and host."""
    return _rules(str(rules_dir()))


# -- names ------------------------------------------------------------------------------------------------
def dotted(class_name: str) -> str:
    """`Lcom/foo/Bar;` or `com/foo/Bar` or `com.foo.Bar` -> `com.foo.Bar`."""
    if class_name.startswith("L") and class_name.endswith(";"):
        class_name = class_name[1:-1]
    return class_name.replace("/", ".")


def package_of(class_name: str) -> str:
    return dotted(class_name).rpartition(".")[0]


def looks_obfuscated(class_name: str) -> bool:
    """A class in no package, or whose package is all one- or two-character segments (`a.b.C`, R8's `A0.b`),
    or all short segments not rooted in a real top-level domain (`aab.c.D`, R8's names in very large apps), or
    rooted in one whose organisation is one character (`com.a.a.d`, `com.b.a.C`: ProGuard keeping `com` and
    renaming the rest; no real vendor ships code as `com.a`), or named after a hash (Xamarin's `crc64…` wrappers:
    which assembly, the app's or a library's, they wrap is not in the name)."""
    parts = dotted(class_name).split(".")
    if len(parts) == 1 or all(_OBFUSCATED_SEGMENT.match(p) for p in parts[:-1]) or _HASHED_SEGMENT.match(parts[0]):
        return True
    if (all(_SHORT_SEGMENT.match(p) for p in parts[:-1])
            and public_suffix_list().publicsuffix(parts[0].lower()) is None):
        return True
    organisation = organisation_of(".".join(parts[:-1]))
    return organisation is not None and len(organisation.rpartition(".")[2]) == 1


def obfuscated_class_name(class_name: str) -> bool:
    """The class's own name is an R8/ProGuard name (`zza`, `b`), whatever its package is called."""
    simple = dotted(class_name).rpartition(".")[2].split("$", 1)[0]
    return bool(_OBFUSCATED_CLASS.match(simple))


def relocated_match(catalogue: "Catalogue", class_name: str) -> tuple[str, Actor] | None:
    """A catalogued library or SDK moved under another package by a shading tool (`com.app.shaded.okhttp3.Call`,
    `io.sentry.vendor.com.google.gson.Gson`): (the relocated prefix, its actor), or None. The moved part must
    start at a reverse-DNS root that is no platform root (`com.google.gson`, not `android.support` in an app's
    own `com.acme.android.support` screens) or at a versioned single label (`okhttp3`, `retrofit2`)."""
    parts = dotted(class_name).split(".")
    roots = catalogue.roots()
    platform_roots = _platform_roots(attribution_rules())
    for start in range(1, len(parts) - 1):
        root = parts[start]
        if root not in roots or root in platform_roots:
            continue
        found = catalogue.match_prefix(".".join(parts[start:]))
        if found is None:
            continue
        labels = found[0].count(".") + 1
        if ((labels >= 2 and public_suffix_list().publicsuffix(root.lower()) == root.lower())
                or (labels == 1 and any(c.isdigit() for c in root))):
            return ".".join(parts[:start] + [found[0]]), found[1]
    return None


def under(name: str, prefix: str) -> bool:
    """`name` is the package `prefix` or lies inside it (package boundaries: com.foo never covers com.foox)."""
    return name == prefix or name.startswith(prefix + ".")


@functools.lru_cache(maxsize=1)
def public_suffix_list():
    """The one parsed Public Suffix List of the process (packages here, hosts in catalogue.py): the copy shipped
    with the package (no network), ICANN and private sections. By default an unknown top-level label is no
    suffix, so a package not rooted in a real domain has no organisation; host helpers ask per call."""
    from .pslcache import public_suffix_list as parsed_once   # parsed once per installation, not per process
    return parsed_once(accept_unknown=False)


@functools.lru_cache(maxsize=65536)
def organisation_of(package: str) -> str | None:
    """The organisation owning a reverse-DNS package: `uk.co.bbc.iplayer` -> `uk.co.bbc`, `com.foo.app` ->
    `com.foo`, `io.github.someone.app` -> `io.github.someone`. None when the package is not rooted in a real
    public suffix (`t2.paj`, `shark.internal`) or is a public suffix itself."""
    labels = [label for label in package.split(".") if label]
    if len(labels) < 2:
        return None
    private = public_suffix_list().privatesuffix(".".join(reversed(labels)).lower())
    if private is None:
        return None
    return ".".join(labels[:private.count(".") + 1])


def namespace_of(package: str, generic: Iterable[str] = ()) -> str | None:
    """The namespace that names an SDK the catalogue lacks: its organisation (`com.millennialmedia.android` ->
    `com.millennialmedia`), one level deeper under a generic prefix (`com.example.sdk`), the first label for
    packages not rooted in a domain (`shark.internal` -> `shark`)."""
    labels = [label for label in package.split(".") if label]
    if not labels:
        return None
    org = organisation_of(package)
    depth = org.count(".") + 1 if org else 1
    generic = set(generic)
    while ".".join(labels[:depth]) in generic and depth < len(labels):
        depth += 1
    return ".".join(labels[:depth])


# -- the app ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AppContext:
    """What the app says about its own code."""

    package: str | None = None
    own_packages: tuple[str, ...] = ()     # first party, and longer than any catalogue prefix they contain
    organisations: tuple[str, ...] = ()    # first party where no catalogue prefix matches
    # organisation of the app that ships catalogued SDKs -> their ids: its other code is the vendor's, app or SDK
    vendor_organisations: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # What the static scan placed beyond the names (with_static_placements), so that a runtime or traffic stack
    # frame in a class gets the actor its call sites got: calling class -> actor where that differs from the
    # names' verdict (renamed SDK code placed by its callers, renamed library code by its signature or subclass,
    # renamed Play services code by its evidence) ...
    placed: tuple[tuple[str, Actor], ...] = ()
    # ... and the rules behind it for the classes that made no call site: app packages the build moved SDK or
    # library code into (package -> what shows it; a renamed class there is `unknown`, never first party) and SDKs
    # shaded under the app's package without their top-level label (relocated package -> the SDK).
    moved_into: tuple[tuple[str, str], ...] = ()
    relocated_sdks: tuple[tuple[str, Actor], ...] = ()

    @functools.cached_property
    def placed_classes(self) -> dict[str, Actor]:
        return dict(self.placed)

    @functools.cached_property
    def moved_into_packages(self) -> dict[str, str]:
        return dict(self.moved_into)

    @classmethod
    def of(cls, app: "AppContext | str | None") -> "AppContext":
        if isinstance(app, AppContext):
            return app
        return _context_of_package(app) if isinstance(app, str) and app else _NO_APP

    def is_own(self, class_name: str) -> bool:
        name = dotted(class_name)
        return any(under(name, p) for p in self.own_packages + self.organisations)


_NO_APP = AppContext()


@functools.lru_cache(maxsize=256)
def _context_of_package(package: str) -> AppContext:
    return app_context(None, package)


def app_context(catalogue: "Catalogue | None", package: str | None, entry_classes: Iterable[str] = (),
                application_class: str | None = None, launchers: Iterable[str] | None = None,
                instrumented: Iterable[str] = ()) -> AppContext:
    """First party from the manifest: its package, the packages of the Application class and of the launcher
    activities (the home screen starts the app's own code, never an SDK's), and for a test APK the package it
    instruments (`<instrumentation android:targetPackage>`: test code lives in the tested app's package, e.g.
    `com.github.uiautomator.stub` in `com.github.uiautomator.test`, which no organisation ties together under a
    generic prefix).

    Packages of catalogued code (`com.google.android.gms.ads.AdActivity`) are not the app's. Given launchers, no
    other component makes first party: an app whose code lives outside its package (`t2.paj`, code
    `org.t2health.paj`) names its launcher there, while the other components may all be SDKs the catalogue lacks
    (a game whose only uncatalogued components are an ad network's). Without a launcher (a keyboard, a wallpaper,
    a report without launcher flags), a component package outside the organisations of the manifest package and
    the Application class counts only when no component lies under those; then the organisation holding most
    components is the app's."""
    if not isinstance(package, str) or not package.strip():
        return _NO_APP
    package = package.strip()
    generic = attribution_rules().generic

    def uncatalogued(cls: str) -> bool:
        return catalogue is None or catalogue.match_prefix(cls) is None

    def org(pkg: str) -> str:
        found = organisation_of(pkg)
        return found if found and found not in generic else pkg

    classes = [c for c in (dotted(e) for e in entry_classes if isinstance(e, str)) if package_of(c)]
    seeds = {package, *(t.strip() for t in instrumented if isinstance(t, str) and t.strip())}
    if isinstance(application_class, str) and package_of(application_class) and uncatalogued(application_class):
        seeds.add(package_of(dotted(application_class)))
    launchers = [c for c in launchers or () if isinstance(c, str)] or None   # no launcher: no launcher facts
    if launchers is not None:
        seeds.update(package_of(dotted(c)) for c in launchers
                     if package_of(c) and (uncatalogued(c) or _vendor_sample_screen(catalogue, package, c, generic)))
        classes = []
    anchors = {org(s) for s in seeds}
    components = [c for c in classes if uncatalogued(c)]
    foreign = [c for c in components if not any(under(c, a) for a in anchors)]
    if foreign and len(foreign) == len(components):
        counts: dict[str, int] = {}
        for cls in foreign:
            counts[org(package_of(cls))] = counts.get(org(package_of(cls)), 0) + 1
        top = max(counts.values())
        seeds.update(package_of(c) for c in foreign if counts[org(package_of(c))] == top)
    seeds.update(_shared_with_package(catalogue, package, seeds, generic))
    organisations = {o for s in seeds if (o := organisation_of(s)) and o not in generic}
    vendors = {o: _sdks_under(catalogue, o) for o in organisations}
    return AppContext(package, tuple(sorted(seeds)), tuple(sorted(o for o in organisations - seeds if not vendors[o])),
                      tuple(sorted((o, ids) for o, ids in vendors.items() if ids and o not in seeds)))


def _vendor_sample_screen(catalogue: "Catalogue", package: str, launcher: str, generic: frozenset[str]) -> bool:
    """A launcher inside a catalogued SDK's namespace that is the app's own screen: an SDK vendor's sample app
    (`com.appsflyer.demo` launching `com.appsflyer.sample.MainActivity`). It shares the manifest package's
    organisation (not a generic one), its package is deeper than the catalogue prefix, and none of the SDK's
    entry classes lies in it. A game launching `com.unity3d.player.UnityPlayerActivity` shares no organisation
    with it, so the engine stays a library."""
    launcher = dotted(launcher)
    own = package_of(launcher)
    organisation = organisation_of(package)
    matched = catalogue.match_prefix(launcher)
    if (matched is None or organisation is None or organisation in generic or organisation_of(own) != organisation
            or own.count(".") <= matched[0].count(".")):
        return False
    return not any(package_of(e) == own or under(package_of(e), own)
                   for sdk in catalogue.sdks if sdk.id == matched[1].id for e in sdk.entry_classes)


def _sdks_under(catalogue: "Catalogue | None", organisation: str) -> tuple[str, ...]:
    """The catalogued SDKs whose packages lie in this organisation (`com.unity3d` -> unity_ads)."""
    if catalogue is None:
        return ()
    return tuple(sorted({sdk.id for sdk in catalogue.sdks if any(under(p, organisation) for p in sdk.packages)}))


def _shared_with_package(catalogue: "Catalogue | None", package: str, seeds: set[str],
                         generic: frozenset[str]) -> set[str]:
    """Under a generic organisation, the packages the manifest package shares with each other seed, deeper than
    the generic prefix and inside no catalogue prefix (`com.example.foo.free` and `com.example.foo.ui` ->
    `com.example.foo`): one app's code split by flavour or module, where the organisation says nothing."""
    out: set[str] = set()
    labels = package.split(".")
    for seed in seeds:
        other = seed.split(".")
        common = 0
        while common < min(len(labels), len(other)) and labels[common] == other[common]:
            common += 1
        shared = ".".join(labels[:common])
        if (common < 2 or shared in seeds or organisation_of(shared) not in generic
                or any(under(shared, g) and shared.count(".") <= g.count(".") for g in generic)):
            continue
        if catalogue is None or catalogue.match_prefix(shared + ".C") is None:
            out.add(shared)
    return out


def moved_code_actor(package: str, why: str, detail: str) -> Actor:
    """`unknown` for a renamed class in an app package the build moved SDK or library code into (its name says
    nothing of who wrote it): `why` names the catalogued code showing the move, `detail` what else was tried."""
    return Actor(ActorKind.UNKNOWN, f"{package} (renamed code in a package of the app that the build moved other "
                                    f"code into: {why}; {detail})")


def with_static_placements(catalogue: "Catalogue", app: AppContext, call_sites: Iterable[tuple[str, Actor]],
                           moved_into: Iterable[tuple[str, str]] = (),
                           relocated_sdks: Iterable[tuple[str, Actor]] = ()) -> AppContext:
    """The app's context carrying what the static scan placed: its rules (moved-into packages, relocated SDK
    packages) and, for each calling class whose call sites got an actor the names and those rules do not give,
    that actor (a class whose call sites got different actors is left to the names). The runtime and traffic
    stages attribute stacks with it, so one class gets one actor in one audit."""
    ruled = dataclasses.replace(app, moved_into=tuple(sorted(set(moved_into))),
                                relocated_sdks=tuple(sorted(set(relocated_sdks), key=lambda r: (r[0], str(r[1])))),
                                placed=())
    by_class: dict[str, set[Actor]] = {}
    for class_name, actor in call_sites:
        by_class.setdefault(dotted(class_name), set()).add(actor)
    placed = tuple(sorted((cls, next(iter(actors))) for cls, actors in by_class.items()
                          if len(actors) == 1 and actor_for_class(catalogue, cls, ruled) not in actors))
    return dataclasses.replace(ruled, placed=placed)


def app_context_from_report(catalogue: "Catalogue | None", scan: dict) -> AppContext:
    """The manifest's part of the context from an `appaudit.scan/1` report, for a stage that sees the app only
    through it. The report does not carry what the scan placed beyond the names (with_static_placements): the
    pipeline and `appaudit traffic --apk` hand the runtime and traffic stages the scan's own context instead."""
    app = scan.get("app") if isinstance(scan, dict) else None
    package = app.get("package") if isinstance(app, dict) else None
    components = [c for c in scan.get("components") or () if isinstance(c, dict) and isinstance(c.get("name"), str)]
    application = next((c["name"] for c in components if c.get("kind") == "application"), None)
    launchers = [c["name"] for c in components if c.get("launcher") is True]
    return app_context(catalogue, package, [c["name"] for c in components], application, launchers)


# -- the one attribution ----------------------------------------------------------------------------------
def actor_for_class(catalogue: "Catalogue", class_name: str, app: AppContext | str | None) -> Actor:
    """Who a class of the app's code belongs to (rules 1-4 above)."""
    return placement(catalogue, class_name, app)[1]


def placement(catalogue: "Catalogue", class_name: str, app: AppContext | str | None) -> tuple[str | None, Actor]:
    """(the catalogue prefix that placed the class, its actor): the prefix is None for first-party, unidentified
    and unknown code; for relocated code it is the relocated prefix (`com.app.shaded.okhttp3`)."""
    context = AppContext.of(app)
    name = dotted(class_name)
    if context.placed and name in context.placed_classes:
        return None, context.placed_classes[name]
    prefix, actor = _placement_by_name(catalogue, name, context)
    if actor.kind is ActorKind.FIRST_PARTY and (context.relocated_sdks or context.moved_into):
        relocated = max((r for r in context.relocated_sdks if under(name, r[0])), key=lambda r: len(r[0]),
                        default=None)
        if relocated is not None:
            return relocated
        why = context.moved_into_packages.get(package_of(name))
        if why is not None and obfuscated_class_name(name):
            return None, moved_code_actor(package_of(name), why, "the scan placed no call site of this class")
    return prefix, actor


def _placement_by_name(catalogue: "Catalogue", name: str, context: AppContext) -> tuple[str | None, Actor]:
    matched = catalogue.match_prefix(name)
    own = max((p for p in context.own_packages if under(name, p)), key=len, default=None)
    if own is not None and (matched is None or matched[0].count(".") <= own.count(".")):
        return _unless_relocated(catalogue, name, FIRST_PARTY)
    if matched is not None:
        return matched[0], matched[1]
    if any(under(name, o) for o in context.organisations):
        return _unless_relocated(catalogue, name, FIRST_PARTY)
    relocated = relocated_match(catalogue, name)
    if relocated is not None:
        return relocated
    for organisation, sdks in context.vendor_organisations:
        if under(name, organisation):
            return None, Actor(ActorKind.UNKNOWN, f"{package_of(name)} (namespace of the app's organisation "
                                                  f"{organisation}, which ships {' and '.join(sdks)}: the app's "
                                                  f"own code or a part of that SDK the catalogue lacks)")
    if looks_obfuscated(name):
        return None, UNKNOWN
    namespace = namespace_of(package_of(name), attribution_rules().generic)
    return None, (Actor(ActorKind.SDK, UNIDENTIFIED + namespace) if namespace else UNKNOWN)


def _unless_relocated(catalogue: "Catalogue", name: str, actor: Actor) -> tuple[str | None, Actor]:
    relocated = relocated_match(catalogue, name)
    return relocated if relocated is not None else (None, actor)


def frame_class(frame: str) -> str | None:
    """The class of one stack frame, in any form the stages meet (`at a.B.m(B.java:3)`, `a.B.m`)."""
    match = _FRAME.match(frame.strip())
    return match["cls"] if match else None


def frame_name(frame: str) -> str:
    """`class.method` of one stack frame (its file and line dropped), or the text itself if it is no frame."""
    match = _FRAME.match(frame.strip())
    return f"{match['cls']}.{match['method']}" if match else frame.strip()


def is_platform(class_name: str) -> bool:
    name = dotted(class_name)
    return any(under(name, p) for p in attribution_rules().platform)


def _platform_frame(catalogue: "Catalogue", class_name: str) -> bool:
    """A frame of the OS or runtime, unless a catalogue prefix longer than the platform prefix names the class:
    `android.support.v7.app.TwilightManager` is the support library bundled in the APK (a library frame, the
    static call site's actor when no other frame names one), not the OS."""
    name = dotted(class_name)
    platform = max((p for p in attribution_rules().platform if under(name, p)), key=len, default=None)
    if platform is None:
        return False
    matched = catalogue.match_prefix(name)
    return matched is None or len(matched[0]) <= len(platform)


def actor_for_stack(catalogue: "Catalogue", frames: Iterable[str], app: AppContext | str | None,
                    api_class: str | None = None) -> tuple[Actor, str] | None:
    """The actor of a Java stack (innermost frame first) and the frame that decided it, or None when no frame
    names app code. Platform frames, the hooked API's own class and library frames are skipped."""
    context = AppContext.of(app)
    own = dotted(api_class).split("$", 1)[0] if api_class else None
    fallback: tuple[Actor, str] | None = None
    for frame in frames:
        if not isinstance(frame, str):
            continue
        cls = frame_class(frame)
        if cls is None or (own and cls.split("$", 1)[0] == own) or _platform_frame(catalogue, cls):
            continue
        actor = actor_for_class(catalogue, cls, context)
        if actor.kind is ActorKind.LIBRARY:
            fallback = fallback or (actor, frame.strip())
            continue
        return actor, frame.strip()
    return fallback


def actor_for_host(catalogue: "Catalogue", host: str) -> Actor | None:
    """The catalogued SDK whose hosts name this host (or a parent domain), else None."""
    owner = catalogue.owner_of_host(host)
    return Actor(ActorKind.SDK, owner.sdk.id) if owner is not None and owner.sdk is not None else None


def attribute(catalogue: "Catalogue", app: AppContext | str | None, *, class_name: str | None = None,
              stack: Iterable[str] | None = None, host: str | None = None,
              api_class: str | None = None) -> Actor:
    """The one entry point: an actor from a class name, else a stack, else a host; `unknown` if none places it."""
    if class_name:
        return actor_for_class(catalogue, class_name, app)
    if stack is not None:
        found = actor_for_stack(catalogue, stack, app, api_class)
        if found is not None:
            return found[0]
    if host:
        return actor_for_host(catalogue, host) or UNKNOWN
    return UNKNOWN
