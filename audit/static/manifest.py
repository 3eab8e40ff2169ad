"""AndroidManifest.xml (binary AXML) -> what the app is, asks for and exposes; rules/permissions.yaml -> what
each permission unlocks.

Our own bounded AXML reader (axml.py) reads the binary form, resolving platform attributes by resource id as
Android does; every failure of it (and a manifest without a package) becomes one InputError "malformed manifest
in X", since a hostile APK can put anything there. <meta-data> values are never kept: they are often API keys.
"""
from __future__ import annotations

import dataclasses
import functools
import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..rulesdata import Validator, load_yaml, rules_dir, validate
from .axml import ANDROID, StringPool, parse_axml
from .inputs import one_line
from .protoxml import parse_proto_xml, proto_resource_string
from .report import Component, Permission

ANDROID_NS = ANDROID
COMPONENT_TAGS = {"activity": "activity", "activity-alias": "activity", "service": "service",
                  "receiver": "receiver", "provider": "provider"}
PERMISSION_TAGS = ("uses-permission", "uses-permission-sdk-23", "uses-permission-sdk-m")
PROTECTION_LEVELS = ("dangerous", "normal", "signature", "signatureOrSystem")
MAX_ELEMENTS = 200_000


@dataclass(frozen=True)
class RequestedPermission:
    name: str
    max_sdk: int | None = None
    min_sdk_23: bool = False        # requested with <uses-permission-sdk-23>: only on API 23+
    never_for_location: bool = False   # usesPermissionFlags="neverForLocation" (API 31+): the app asserts, and the
                                       # platform enforces (beacons filtered out), that no location is derived
    implicit: bool = False          # not in the manifest: Android requests it for the app's old target SDK


@dataclass(frozen=True)
class Manifest:
    package: str
    version_code: str | None
    version_name: str | None
    min_sdk: int | None
    target_sdk: int | None
    label: str | None                                  # literal text, or "@7F0A0001" for a resource
    split: str | None                                  # <manifest split="...">: None for a base APK
    requested: tuple[RequestedPermission, ...]
    defined: tuple[tuple[str, str], ...]               # (<permission> name, protectionLevel) the app defines
    components: tuple[Component, ...]
    meta_data: tuple[str, ...]
    application_class: str | None = None
    has_code: bool = True
    service_permissions: tuple[tuple[str, str], ...] = ()   # (service class, android:permission guarding it)
    meta_data_off: tuple[str, ...] = ()                # <meta-data> keys whose value is `false` (a switch off)
    shared_user_id: str | None = None                  # android:sharedUserId: permissions shared with other apps
    shared_user_max_sdk: int | None = None             # android:sharedUserMaxSdkVersion (API 33+)
    # <instrumentation android:targetPackage>: a test APK (androidTest, a UI-automation server) whose code the
    # system loads into that app's process, where that app's permissions and target API level apply
    instrumentation_targets: tuple[str, ...] = ()
    # what in a base manifest says the app installs only with split APKs (isSplitRequired, requiredSplitTypes,
    # Play's com.android.vending.splits.required): None when nothing does
    split_required: str | None = None

    @property
    def instruments_other_app(self) -> str | None:
        """The other package whose process runs this APK's instrumentation code, if any (self-instrumenting
        test APKs, targetPackage = package, run as themselves)."""
        return next((t for t in self.instrumentation_targets if t != self.package), None)

    @property
    def entry_classes(self) -> tuple[str, ...]:
        """Classes the system instantiates (dotted names): the roots of reachability."""
        names = {c.name for c in self.components}
        return tuple(sorted(names))


@dataclass(frozen=True)
class PermissionRule:
    name: str
    protection: str
    data_types: tuple[str, ...]
    observe: bool
    binds_service: bool = False
    levels: tuple[tuple[int, str], ...] = ()   # (first API, protection level) when it changed, ascending
    since: int | None = None                   # first / last API level that defines it
    until: int | None = None
    hard_restricted: int | None = None         # from this API level, grantable only when the installer allowlists it
    never_for_location: tuple[str, ...] = ()   # data types it does not unlock when requested neverForLocation
    implicit_below_target: int | None = None   # requested for every app whose target SDK is below this

    def unlocks(self, request: "RequestedPermission") -> tuple[str, ...]:
        """The data types this request of the permission makes readable."""
        if request.never_for_location and self.never_for_location:
            return tuple(t for t in self.data_types if t not in self.never_for_location)
        return self.data_types

    def protection_at(self, api: int) -> str:
        """The protection level on a device of this API level."""
        level = self.levels[0][1] if self.levels else self.protection
        for first, value in self.levels:
            if api >= first:
                level = value
        return level


# -- parsing --------------------------------------------------------------------------------------------
def _attr(element, name: str) -> str | None:
    value = element.get(ANDROID_NS + name)
    if value is None:
        value = element.get(name)
    return value


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0) if value.lower().startswith("0x") else int(value)
    except ValueError:
        return None   # a codename ("P") or a resource reference: unknown rather than wrong


def _bool(value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "1", "-1"):
        return True
    if lowered in ("false", "0"):
        return False
    return None   # a resource reference (@7F050001): decided per device configuration


def qualify(name: str, package: str) -> str:
    """Android's rule for component names: `.Foo` and `Foo` (no dot) are relative to the package."""
    name = name.strip()
    if name.startswith("."):
        return package + name
    if "." not in name:
        return f"{package}.{name}"
    return name


def _axml_root(data: bytes, where: str, bundle: bool | None = None):
    """The element tree of a manifest: aapt2's protobuf XML for an App Bundle module (bundle True), else binary
    XML, else (not from a built APK, but cheap to accept) text; bundle None: protobuf too when it starts like one."""
    if bundle:
        return parse_proto_xml(data, where)
    # Binary XML first, whatever the first bytes say: the installer reads an APK's manifest with ResXMLTree::setTo,
    # which checks the header's sizes but never its chunk type, so an APK whose type bytes were changed against
    # analysis tools (to 0x000a, a protobuf's first byte, or 0x003c, '<') installs and must be read as binary XML.
    try:
        return parse_axml(data, where)
    except InputError:
        if data[:1] == b"<" or data[:5] == b"\xef\xbb\xbf<?":
            return _text_root(data, where)
        if bundle is None and data[:1] == b"\x0a":   # protobuf field 1 (XmlNode.element)
            return parse_proto_xml(data, where)
        raise


def _text_root(data: bytes, where: str):
    """A plain-text manifest (never in a built APK, but cheap to accept): parsed without entities or DTDs."""
    from lxml import etree
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise InputError(f"malformed manifest in {where}: {one_line(str(exc))}") from None


def parse_manifest(data: bytes, where: str, bundle: bool | None = None) -> Manifest:
    """bundle: True for an App Bundle module's manifest, False for an APK's, None when not known."""
    root = _axml_root(data, where, bundle)
    try:
        return _read_manifest(root, where)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"malformed manifest in {where}: {type(exc).__name__}: {one_line(str(exc))}") from None


def _read_manifest(root, where: str) -> Manifest:
    if not isinstance(root.tag, str) or root.tag != "manifest":
        raise InputError(f"malformed manifest in {where}: root element is <{root.tag}>, expected <manifest>")
    package = (root.get("package") or "").strip()
    if not package:
        raise InputError(f"malformed manifest in {where}: no package name")
    sdk = root.find("uses-sdk")
    min_sdk = _int(_attr(sdk, "minSdkVersion")) if sdk is not None else None
    target_sdk = _int(_attr(sdk, "targetSdkVersion")) if sdk is not None else None
    if target_sdk is None:
        target_sdk = min_sdk   # the platform's own default

    requested: dict[str, RequestedPermission] = {}
    defined: dict[str, str] = {}
    components: list[Component] = []
    meta_data: set[str] = set()
    meta_data_off: set[str] = set()
    service_permissions: set[tuple[str, str]] = set()
    application_class = None
    has_code = True
    instrumentation_targets: set[str] = set()
    split_types = (_attr(root, "requiredSplitTypes") or "").strip()
    split_required = [f'requiredSplitTypes="{split_types}"'] if split_types else []
    count = 0
    for element in root.iter():
        count += 1
        if count > MAX_ELEMENTS:
            raise InputError(f"malformed manifest in {where}: more than {MAX_ELEMENTS} elements")
        tag = element.tag
        if not isinstance(tag, str):
            continue   # comments
        if tag == "permission":
            name = (_attr(element, "name") or "").strip()
            if name:
                defined[name] = _protection_name(_attr(element, "protectionLevel"))
        elif tag == "meta-data":
            name = (_attr(element, "name") or "").strip()
            if name:
                meta_data.add(name)
                if _bool(_attr(element, "value")) is False:
                    meta_data_off.add(name)   # only that a switch is off: other values may be API keys
                elif name == "com.android.vending.splits.required" and _bool(_attr(element, "value")):
                    split_required.append(f"<meta-data {name}>")
        elif tag == "application":
            name = _attr(element, "name")
            if name:
                application_class = qualify(name, package)
                components.append(Component("application", application_class, None))
            if _bool(_attr(element, "hasCode")) is False:
                has_code = False
            if _bool(_attr(element, "isSplitRequired")):
                split_required.append('isSplitRequired="true"')
            for extra in ("backupAgent", "appComponentFactory"):
                value = _attr(element, extra)
                if value and not value.startswith("@"):
                    components.append(Component("application", qualify(value, package), None))
        elif tag in COMPONENT_TAGS:
            name = _attr(element, "targetActivity" if tag == "activity-alias" else "name")
            if not name:
                continue
            exported = _bool(_attr(element, "exported"))
            if exported is None and _attr(element, "exported") is None:
                exported = _default_exported(tag, element, target_sdk)
            components.append(Component(COMPONENT_TAGS[tag], qualify(name, package), exported,
                                        tag in ("activity", "activity-alias") and _is_launcher(element)))
            guard = _attr(element, "permission")
            if tag == "service" and guard:
                service_permissions.add((qualify(name, package), guard.strip()))
        elif tag == "instrumentation":
            name = _attr(element, "name")
            if name:
                components.append(Component("application", qualify(name, package), None))
            target = (_attr(element, "targetPackage") or "").strip()
            if target:
                instrumentation_targets.add(target)

    # Android reads <uses-permission> only as a child of <manifest> (PackageParser); one nested elsewhere, e.g.
    # inside <application>, requests nothing.
    for element in _children(root):
        if element.tag in PERMISSION_TAGS:
            name = (_attr(element, "name") or "").strip()
            if name:
                entry = RequestedPermission(name, _int(_attr(element, "maxSdkVersion")),
                                            element.tag != "uses-permission",
                                            _never_for_location(_attr(element, "usesPermissionFlags")))
                requested[name] = _broadest(requested.get(name), entry)
    declared_target = _declared_target(sdk)
    if root.get("split") is None and declared_target is not None:
        for rule in permission_rules().values():
            if (rule.implicit_below_target and declared_target < rule.implicit_below_target
                    and rule.name not in requested):
                requested[rule.name] = RequestedPermission(rule.name, implicit=True)

    return Manifest(
        shared_user_id=(_attr(root, "sharedUserId") or "").strip() or None,
        shared_user_max_sdk=_int(_attr(root, "sharedUserMaxSdkVersion")),
        package=package,
        version_code=_attr(root, "versionCode"),
        version_name=_attr(root, "versionName"),
        min_sdk=min_sdk,
        target_sdk=target_sdk,
        label=_label(root),
        split=(root.get("split") or None),
        requested=tuple(sorted(requested.values(), key=lambda p: p.name)),
        defined=tuple(sorted(defined.items())),
        components=_one_per_class(components),
        meta_data=tuple(sorted(meta_data)),
        application_class=application_class,
        has_code=has_code,
        service_permissions=tuple(sorted(service_permissions)),
        meta_data_off=tuple(sorted(meta_data_off)),
        instrumentation_targets=tuple(sorted(instrumentation_targets)),
        split_required=", ".join(split_required) or None,
    )


def _declared_target(sdk) -> int | None:
    """The target SDK that decides the permissions Android requests on an old app's behalf (permissions.yaml
    `implicit_below_target`: API 4 added READ_PHONE_STATE and WRITE_EXTERNAL_STORAGE for what every app could do
    before): targetSdkVersion, else minSdkVersion; no <uses-sdk>, or one naming no level, means API 1; None for a
    codename or resource reference (a newer platform, or unknown: nothing implied)."""
    raw = [_attr(sdk, name) for name in ("targetSdkVersion", "minSdkVersion")] if sdk is not None else [None, None]
    for value in raw:
        if value is not None:
            return _int(value)
    return 1


_LAUNCHER_CATEGORIES = ("android.intent.category.LAUNCHER", "android.intent.category.LEANBACK_LAUNCHER")


def _children(element) -> list:
    return element.children if hasattr(element, "children") else list(element)


def _is_launcher(element) -> bool:
    """An <intent-filter> with action MAIN and a home-screen category (phone or TV launcher)."""
    for intent_filter in _children(element):
        if intent_filter.tag != "intent-filter":
            continue
        names = {(child.tag, (_attr(child, "name") or "").strip()) for child in _children(intent_filter)}
        if ("action", "android.intent.action.MAIN") in names and any(("category", c) in names
                                                                     for c in _LAUNCHER_CATEGORIES):
            return True
    return False


def _one_per_class(components: list[Component]) -> tuple[Component, ...]:
    """Sorted, without repeats; an activity a launcher alias targets (and declared alike) is listed once."""
    launchers = {(c.kind, c.name, c.exported) for c in components if c.launcher}
    unique = {c for c in components if c.launcher or (c.kind, c.name, c.exported) not in launchers}
    return tuple(sorted(unique, key=lambda c: (c.kind, c.name, str(c.exported), c.launcher)))


def _broadest(previous: RequestedPermission | None, entry: RequestedPermission) -> RequestedPermission:
    """One permission requested twice: Android keeps each request that applies on the device (maxSdkVersion,
    <uses-permission-sdk-23>), so the permission is held where either applies. The union of two such ranges
    is one range, except for a plain request capped below API 22 beside an sdk-23 one: then the request
    covering the newer devices is kept. neverForLocation is asserted for the permission only if every request of
    it asserts it."""
    if previous is None:
        return entry
    kept = _broader_range(previous, entry)
    never = previous.never_for_location and entry.never_for_location
    return kept if kept.never_for_location == never else dataclasses.replace(kept, never_for_location=never)


def _broader_range(previous: RequestedPermission, entry: RequestedPermission) -> RequestedPermission:
    """Of two requests of one permission, the one whose API range covers both (or one made to)."""
    def reach(r: RequestedPermission) -> float:
        return float("inf") if r.max_sdk is None else r.max_sdk

    plain = [r for r in (previous, entry) if not r.min_sdk_23]
    from23 = [r for r in (previous, entry) if r.min_sdk_23]
    if len(plain) == 2 or len(from23) == 2:
        return max(previous, entry, key=reach)
    low, high = plain[0], from23[0]
    if reach(low) >= 22:     # ..N and 23..M join up: one plain request up to the later cap
        return RequestedPermission(entry.name, None if max(reach(low), reach(high)) == float("inf")
                                   else max(low.max_sdk, high.max_sdk))
    return high if reach(high) >= 23 else low


NEVER_FOR_LOCATION = 0x10000    # android:usesPermissionFlags flag (attrs_manifest.xml; PackageInfo constant)


def _never_for_location(flags: str | None) -> bool:
    """usesPermissionFlags as compiled (`0x00010000`) or as source text (`neverForLocation`)."""
    if not flags:
        return False
    if "neverForLocation" in flags:
        return True
    value = _int(flags)
    return value is not None and bool(value & NEVER_FOR_LOCATION)


def _label(root) -> str | None:
    app = root.find("application")
    label = _attr(app, "label") if app is not None else None
    return label or None


def _default_exported(tag: str, element, target_sdk: int | None) -> bool:
    """The platform default when android:exported is absent: components with an intent filter are exported
    (apps targeting API 31+ must say so explicitly); providers are exported up to target API 16."""
    if tag == "provider":
        return target_sdk is not None and target_sdk <= 16
    return element.find("intent-filter") is not None


_PROTECTION_FLAGS = {0: "normal", 1: "dangerous", 2: "signature", 3: "signatureOrSystem"}


def _protection_name(value: str | None) -> str:
    if value is None:
        return "normal"
    number = _int(value)
    if number is not None:
        return _PROTECTION_FLAGS.get(number & 0xF, "unknown")
    base = value.split("|")[0].strip()
    return base if base in PROTECTION_LEVELS else "unknown"


def resolve_label(label: str | None, arsc: bytes | None) -> str | None:
    """The app's name from resources.arsc (or an .aab's resources.pb) when the manifest refers to a string
    resource; cheap, optional."""
    if not label or not label.startswith("@"):
        return label
    if not arsc:
        return None
    try:
        resource_id = int(label[1:], 16)
    except ValueError:
        return None
    if arsc[:1] in (b"\x0a", b"\x12"):   # an App Bundle's resources.pb (protobuf); resources.arsc starts 02 00
        return proto_resource_string(arsc, resource_id) or None
    return arsc_string(arsc, resource_id) or None


# -- rules/permissions.yaml -----------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _permission_table(path: str) -> tuple[dict[str, PermissionRule], dict[str, str]]:
    """The file read and checked once: its rules (`permissions`), and the protection level of every other
    permission the platform defines (`platform_defined`)."""
    raw = load_yaml(path, "permission table")
    validate(raw, "permissions", path, "permission table")
    check = Validator(path)
    out: dict[str, PermissionRule] = {}
    for name, spec in raw["permissions"].items():
        levels = tuple(sorted((spec.get("levels") or {}).items()))
        if levels and levels[-1][1] != spec["protection"]:
            check.fail(spec, "levels", f"the last level ({levels[-1][1]}) must be `protection` ({spec['protection']})")
        check.ordered(spec)
        observe = spec.get("observe")
        if observe is None:
            observe = spec["protection"] == "dangerous"
        out[name] = PermissionRule(name, spec["protection"], tuple(spec["data_types"]), observe,
                                   spec.get("binds_service", False), levels, spec.get("since"), spec.get("until"),
                                   spec.get("hard_restricted"), tuple(spec.get("never_for_location") or ()),
                                   spec.get("implicit_below_target"))
    levels: dict[str, str] = {}
    for level, names in (raw.get("platform_defined") or {}).items():
        for name in names:
            if name in out or name in levels:
                check.fail(raw["platform_defined"], level, f"{name} is listed twice")
            levels[name] = level
    return out, levels


def permission_rules() -> dict[str, PermissionRule]:
    return _permission_table(str(rules_dir() / "permissions.yaml"))[0]


def platform_levels() -> dict[str, str]:
    """The protection level of every other permission the platform defines (permissions.yaml platform_defined):
    it unlocks nothing an audit names, but a request of it is not `unknown`."""
    return _permission_table(str(rules_dir() / "permissions.yaml"))[1]


def permissions_of(manifest: Manifest) -> tuple[Permission, ...]:
    """Requested permissions with protection level and what they unlock. A permission the table does not list is
    at its platform level when the platform defines it, `custom` when the app (or its split) does, else
    `unknown`."""
    rules = permission_rules()
    platform = platform_levels()
    defined = dict(manifest.defined)
    out = []
    for request in manifest.requested:
        rule = rules.get(request.name)
        if rule is not None:
            out.append(Permission(request.name, rule.protection, rule.unlocks(request), request.max_sdk,
                                  request.implicit))
        elif request.name in platform:
            out.append(Permission(request.name, platform[request.name], (), request.max_sdk))
        elif request.name in defined:
            out.append(Permission(request.name, "custom", (), request.max_sdk))
        else:
            out.append(Permission(request.name, "unknown", (), request.max_sdk))
    return tuple(out)


# -- a label lookup in resources.arsc -------------------------------------------------------------------
# androguard's ARSCParser decodes the whole table (a quarter of a second on a 1 MB table, seconds on big
# apps); the label needs one entry of one type, so this walks the chunk headers and decodes just that.
_RES_STRING_POOL, _RES_TABLE, _RES_PACKAGE, _RES_TYPE = 0x0001, 0x0002, 0x0200, 0x0201
_TYPE_REFERENCE, _TYPE_STRING = 0x01, 0x03
_FLAG_COMPLEX, _FLAG_COMPACT = 0x0001, 0x0008
_TYPE_FLAG_SPARSE, _TYPE_FLAG_OFFSET16 = 0x01, 0x02


def _arsc_value(data: bytes, resource_id: int) -> tuple[int, int] | None:
    """(data type, data) of a resource in the default configuration (else the first that has it)."""
    package_id, type_id, entry_id = resource_id >> 24, (resource_id >> 16) & 0xFF, resource_id & 0xFFFF
    _type, header_size, size = struct.unpack_from("<HHI", data, 0)
    if _type != _RES_TABLE:
        return None
    end = min(size, len(data))
    pos, found = header_size, None
    while pos + 8 <= end:
        chunk_type, chunk_header, chunk_size = struct.unpack_from("<HHI", data, pos)
        if chunk_size < 8:
            return None
        if chunk_type == _RES_PACKAGE and struct.unpack_from("<I", data, pos + 8)[0] == package_id:
            inner, inner_end = pos + chunk_header, min(pos + chunk_size, end)
            while inner + 8 <= inner_end:
                t, h, s = struct.unpack_from("<HHI", data, inner)
                if s < 8:
                    return None
                if t == _RES_TYPE and data[inner + 8] == type_id:
                    value = _type_entry(data, inner, h, s, entry_id)
                    if value is not None:
                        config_size = struct.unpack_from("<I", data, inner + 20)[0]
                        config = data[inner + 24:inner + 20 + min(config_size, 64)]
                        if not any(config):
                            return value          # the default configuration
                        found = found or value
                inner += s
        pos += chunk_size
    return found


def _type_entry(data: bytes, chunk: int, header: int, size: int, entry_id: int) -> tuple[int, int] | None:
    flags = data[chunk + 9]
    entry_count, entries_start = struct.unpack_from("<II", data, chunk + 12)
    offsets = chunk + header
    # Each mode's index must fit the chunk before any of it is read: 4 bytes per entry (u32 offsets, or
    # sparse u16 index + u16 offset), 2 bytes with OFFSET16. A count past the chunk is corrupt; checking
    # every mode (sparse OFFSET16 chunks too) keeps a hostile count from scanning to the end of the table.
    width = 2 if flags & _TYPE_FLAG_OFFSET16 and not flags & _TYPE_FLAG_SPARSE else 4
    if offsets + width * entry_count > chunk + size:
        return None
    if flags & _TYPE_FLAG_SPARSE:
        # entries sorted by index (ResTable_sparseTypeEntry): a binary search, as the platform does
        lo, hi = 0, entry_count
        while lo < hi:
            mid = (lo + hi) // 2
            idx, off = struct.unpack_from("<HH", data, offsets + 4 * mid)
            if idx < entry_id:
                lo = mid + 1
            elif idx > entry_id:
                hi = mid
            else:
                offset = off * 4
                break
        else:
            return None
    elif entry_id >= entry_count:
        return None
    elif flags & _TYPE_FLAG_OFFSET16:
        offset = struct.unpack_from("<H", data, offsets + 2 * entry_id)[0]
        if offset == 0xFFFF:
            return None
        offset *= 4
    else:
        offset = struct.unpack_from("<I", data, offsets + 4 * entry_id)[0]
        if offset == 0xFFFFFFFF:
            return None
    pos = chunk + entries_start + offset
    if pos + 8 > chunk + size:
        return None
    entry_size, entry_flags = struct.unpack_from("<HH", data, pos)
    if entry_flags & _FLAG_COMPACT:
        return entry_flags >> 8, struct.unpack_from("<I", data, pos + 4)[0]
    if entry_flags & _FLAG_COMPLEX:
        return None
    if pos + entry_size + 8 > chunk + size:
        return None
    _value_size, _zero, data_type, value = struct.unpack_from("<HBBI", data, pos + entry_size)
    return data_type, value


def arsc_string(arsc: bytes, resource_id: int) -> str | None:
    """A string resource's default value; references followed a few steps. Any inconsistency -> None."""
    def fail(reason: str):
        raise InputError(reason)

    try:
        _type, header_size, _size = struct.unpack_from("<HHI", arsc, 0)
        pool_type, pool_header, pool_size = struct.unpack_from("<HHI", arsc, header_size)
        if pool_type != _RES_STRING_POOL or pool_size > len(arsc) - header_size:
            return None
        pool = StringPool(arsc, header_size, pool_header, pool_size, fail)
        for _ in range(4):
            value = _arsc_value(arsc, resource_id)
            if value is None:
                return None
            data_type, data = value
            if data_type == _TYPE_STRING:
                return pool.get(data)
            if data_type != _TYPE_REFERENCE:
                return None
            resource_id = data
    except (struct.error, IndexError, InputError):
        return None
    return None
