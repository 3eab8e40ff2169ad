"""Can Android let this app obtain the data through this call? A verdict per capability, from the platform's
rules (rules/apis.yaml `access`, rules/permissions.yaml) and the app's manifest.

For every device API level the app installs on (minSdk .. MAX_API, the last one standing for "and later")
the API's access items are tried in order (the schema is documented in rules/apis.yaml). A permission is held
on a level when the manifest requests it there (`maxSdkVersion`, `<uses-permission-sdk-23>`), the platform
defines it there (rules/permissions.yaml since/until) and it is not a signature / privileged permission at
that level (an ordinary app is never granted those). Each level gets one outcome; consecutive levels with
the same outcome form a range.

Status of the capability: the most permissive outcome on any level the app supports (granted, then
runtime-permission, unknown, degraded, blocked), with `api_levels` naming where it holds and the reason
saying what happens elsewhere. An app with minSdk 23 that reads the IMEI is therefore
`runtime-permission` "only on Android 9 and older (API 23-28); blocked from API 29 (...)": the capability is
real on those devices, and an audit must not call it refused. Only when no level lets the call succeed is the
status `blocked` (or `degraded` when it returns a placeholder everywhere).

How the user gives a dangerous permission depends on the level and the app's target SDK (rules/apis.yaml
`platform`): by accepting it at install before API 23, and to an app targeting 22 and lower on API 23-28 (the
user may revoke it later), on the screen shown before such an app's first launch from API 29, and at runtime
otherwise: `runtime-permission` in each, the reason saying which. A level that does not install an app of this
target SDK (API 34+ below target 23, API 35-37 below 24) is `blocked` for every call.

Below the level an API entry was `added` in, the call cannot run (blocked there). A `degraded` item may hold only
for apps holding some permission (`if_held`: Android 10 answers null to an app targeting 28- that holds
READ_PHONE_STATE, and throws without it). A `special` item's permissions are special access (Usage access: a
signature|appop permission the user grants in Settings): requested is enough for `runtime-permission`, where a
signature permission otherwise never counts as held.

The data type follows what is feasible: an item may name what the call yields with its permission
(getLastKnownLocation with only ACCESS_COARSE_LOCATION is `location.approximate`).

No rule (an API without `access`, a level no item covers) gives `unknown`, never `granted`.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Iterable

from ..model import HANDED_OVER, Feasibility
from .apis import AccessItem, ApiRule, load_platform
from .manifest import Manifest, RequestedPermission, permission_rules

# The newest released level the rules know; it stands for "this and later". Android 16 (API 36) and Android 17
# (API 37) are released: apps Google Play takes target 35-37 and run on 36-37 devices, so every rule in
# rules/apis.yaml is written up to 37 (a level past the rules would silently inherit API 35's answers).
MAX_API = 37
RUNTIME_PERMISSIONS_FROM = 23
_RANK = {"granted": 0, "runtime-permission": 1, "unknown": 2, "degraded": 3, "blocked": 4}
_ANDROID = {1: "1.0", 2: "1.1", 3: "1.5", 4: "1.6", 5: "2.0", 6: "2.0.1", 7: "2.1", 8: "2.2", 9: "2.3",
            10: "2.3.3", 11: "3.0", 12: "3.1", 13: "3.2", 14: "4.0", 15: "4.0.3", 16: "4.1", 17: "4.2",
            18: "4.3", 19: "4.4", 20: "4.4W", 21: "5.0", 22: "5.1", 23: "6", 24: "7.0", 25: "7.1", 26: "8.0",
            27: "8.1", 28: "9", 29: "10", 30: "11", 31: "12", 32: "12L", 33: "13", 34: "14", 35: "15",
            36: "16", 37: "17"}


def short(permission: str) -> str:
    return permission.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class AppLevels:
    """What the verdict needs from the manifest."""

    min_sdk: int | None
    target_sdk: int | None
    requested: tuple[RequestedPermission, ...]
    shared_user_id: str | None = None
    shared_user_max_sdk: int | None = None
    runs_in: str | None = None       # an instrumentation APK's target package, whose process runs its code

    @classmethod
    def of(cls, manifest: Manifest) -> "AppLevels":
        return cls(manifest.min_sdk, manifest.target_sdk, tuple(manifest.requested), manifest.shared_user_id,
                   manifest.shared_user_max_sdk, manifest.instruments_other_app)

    def shares_user_id(self, api: int) -> bool:
        """The app runs under a user id it shares with other packages of the same signer, whose requested
        permissions the whole user id holds (android:sharedUserMaxSdkVersion lets new installs leave it, API 33+)."""
        if not self.shared_user_id:
            return False
        return not (self.shared_user_max_sdk is not None and api >= 33 and api > self.shared_user_max_sdk)

    def platform_user_id(self, api: int) -> bool:
        """The app shares one of the platform's user ids (android.uid.system, .phone ...): only a package signed
        with the platform key may, so it is part of the system image."""
        return self.shares_user_id(api) and self.shared_user_id.startswith("android.uid.")

    @property
    def levels(self) -> range:
        low = max(1, min(self.min_sdk or 1, MAX_API))
        return range(low, MAX_API + 1)

    @functools.cached_property
    def _requests(self) -> dict[str, RequestedPermission]:
        return {r.name: r for r in self.requested}

    def requests(self, permission: str, api: int) -> bool:
        """The manifest requests it on this level and the platform defines it there (whatever its protection)."""
        request = self._requests.get(permission)
        if request is None:
            return False
        if (request.max_sdk is not None and api > request.max_sdk) or (request.min_sdk_23 and api < 23):
            return False
        rule = permission_rules().get(permission)
        return rule is None or not ((rule.since is not None and api < rule.since)
                                    or (rule.until is not None and api > rule.until))

    def holds(self, permission: str, api: int) -> bool:
        """Requested, and of a protection level an ordinary app is granted (never signature / privileged)."""
        if not self.requests(permission, api):
            return False
        rule = permission_rules().get(permission)
        return rule is None or rule.protection_at(api) in ("normal", "dangerous")

    def hard_restricted(self, permission: str, api: int) -> bool:
        rule = permission_rules().get(permission)
        return rule is not None and rule.hard_restricted is not None and api >= rule.hard_restricted

    def dangerous(self, permission: str, api: int) -> bool:
        rule = permission_rules().get(permission)
        return rule is not None and rule.protection_at(api) == "dangerous"


@dataclass(frozen=True)
class _Outcome:
    status: str
    data_type: str
    permissions: tuple[str, ...]
    reason: str


def _at(rule: ApiRule, app: AppLevels, api: int) -> _Outcome:
    """The outcome of one call on a device of one API level."""
    default = rule.data_type
    lowest = load_platform().lowest_target_installed(api)
    target = app.target_sdk if app.target_sdk is not None else 1
    if lowest is not None and target < lowest:
        return _Outcome("blocked", default, (), f"an app targeting API {target} cannot be installed from API "
                        f"{_first_refusing(target)} (INSTALL_FAILED_DEPRECATED_SDK_VERSION; only a copy installed "
                        f"before the device was upgraded still runs)")
    if rule.added is not None and api < rule.added:
        member = rule.class_name.rsplit(".", 1)[-1].replace("$", ".") + "." + (rule.method or rule.field or "")
        return _Outcome("blocked", default, (), f"{member} does not exist before API {rule.added}")
    items = [i for i in rule.access or () if i.applies(api, app.target_sdk)]
    if not items:
        return _Outcome("unknown", default, (), f"no rule in rules/apis.yaml covers API {api}")
    missing: list[str] = []
    for item in items:
        if item.unavailable is not None:
            return _system_app(item, app, api, default) or _Outcome(
                "blocked", default, (), f"unavailable to ordinary apps from API {item.since}: {item.unavailable}")
        if item.degraded is not None:
            if item.if_held and not any(app.holds(p, api) for p in item.if_held):
                continue            # a placeholder only for apps holding these; the next item says what else
            return _system_app(item, app, api, default) or _Outcome("degraded", default, (), item.degraded)
        # special access (Usage access ...) is signature|appop: never granted at install, the user's to allow in
        # Settings once the app requests it
        has = app.requests if item.special else app.holds
        lacking = [p for p in item.all_of if not has(p, api)]
        held = [p for p in item.any_of or () if has(p, api)]
        if not lacking and (held or not item.any_of):
            return _granted(item, app, api, default, (*item.all_of, *held))
        needed = lacking + ([] if held else list(item.any_of or ()))
        if item.without is not None:
            return _Outcome("degraded", item.data_type or default, tuple(needed), item.without)
        missing += [p for p in needed if p not in missing]
    reason = "missing " + " or ".join(short(p) for p in missing)
    if app.shares_user_id(api):
        return _Outcome("unknown", default, tuple(missing), f"{reason} in this manifest, but the app shares user id "
                        f"{app.shared_user_id}: another package of it may request the permission")
    return _Outcome("blocked", default, tuple(missing), reason)


def _system_app(item: AccessItem, app: AppLevels, api: int, default: str) -> _Outcome | None:
    """What a refusal to ordinary apps leaves open to a system app: an app that requests one of the item's
    signature|privileged permissions, or runs under a platform user id, may be one. Android grants those
    permissions to a privileged app preinstalled on the system image (and allow-listed) or to one signed with the
    platform key, neither of which the APK shows: unknown, not refused (nor granted)."""
    if not item.system_only:
        return None
    requested = [p for p in item.system_only if app.requests(p, api)]
    if requested:
        why = (f"this app requests {', '.join(short(p) for p in requested)}, which Android grants only to a "
               "privileged app preinstalled on the system image or to one signed with the platform key: whether "
               "this app is one, the APK cannot show")
    elif app.platform_user_id(api):
        why = (f"this app shares the platform's user id {app.shared_user_id}, which only a package signed with the "
               "platform key can: it runs as part of the system, whose user id may hold what ordinary apps are "
               "refused")
    else:
        return None
    refused = item.unavailable if item.unavailable is not None else item.degraded
    return _Outcome("unknown", default, tuple(requested), f"{refused} for ordinary apps; {why}")


def _granted(item: AccessItem, app: AppLevels, api: int, default: str, permissions: tuple[str, ...]) -> _Outcome:
    dangerous = [p for p in permissions if app.dangerous(p, api)]
    if item.special:
        status, reason = "runtime-permission", (f"works if the user grants {item.special} in Settings ("
                                                + ", ".join(short(p) for p in permissions) + ")")
    elif dangerous:
        grant = load_platform().dangerous_grant(api, app.target_sdk)
        if grant is None:
            status, reason = "unknown", ("no rule in rules/apis.yaml `platform` says how Android grants "
                                         + ", ".join(short(p) for p in dangerous) + f" on API {api}")
        else:
            # granted at install: every permission the call needs is the app's; at runtime: the user decides
            # the dangerous ones
            named = permissions if grant.status == "granted" else dangerous
            status, reason = grant.status, grant.reason.format(permissions=", ".join(short(p) for p in named))
    elif permissions:
        status, reason = "granted", ", ".join(short(p) for p in permissions) + " granted at install"
    else:
        status, reason = "granted", "no permission needed"
    restricted = [p for p in dangerous if app.hard_restricted(p, api)]
    if restricted:
        # Still the user's to grant, but only once the installer allowlisted it: on a phone that is Google
        # Play's decision for the default SMS, phone or assistant app, so say so rather than imply any app gets it.
        reason += (f" and the installer allowlisted {', '.join(short(p) for p in restricted)} (hard-restricted from "
                   f"Android 10: Google Play allows it to the default SMS, phone or assistant app)")
    if item.note:
        reason += f" ({item.note})"
    if item.handover:
        reason = HANDED_OVER + item.handover
    return _Outcome(status, item.data_type or default, tuple(permissions), reason)


def _first_refusing(target: int) -> int:
    """The first device level that no longer installs an app of this target SDK (API 34 for target 22)."""
    return min(since for since, lowest in load_platform().min_installable_target if target < lowest)


def _ranges(outcomes: list[tuple[int, _Outcome]]) -> list[tuple[int, int, _Outcome]]:
    out: list[tuple[int, int, _Outcome]] = []
    for api, outcome in outcomes:
        if out and out[-1][2] == outcome and out[-1][1] == api - 1:
            out[-1] = (out[-1][0], api, outcome)
        else:
            out.append((api, api, outcome))
    return out


def api_range(low: int, high: int) -> str:
    if high >= MAX_API:
        return f"API {low}+"
    return f"API {low}" if low == high else f"API {low}-{high}"


def _where(low: int, high: int, first: int) -> str:
    """"only on Android 9 and older (API 21-28)" for a range that does not cover every level."""
    if high < MAX_API and low <= first:
        return f"only on Android {_ANDROID.get(high, high)} and older ({api_range(low, high)})"
    if high >= MAX_API:
        return f"only on Android {_ANDROID.get(low, low)} and newer ({api_range(low, high)})"
    return f"only on Android {_ANDROID.get(low, low)} to {_ANDROID.get(high, high)} ({api_range(low, high)})"


def judge(rule: ApiRule, app: AppLevels) -> tuple[str, Feasibility]:
    """(data type the call yields where it is most feasible, the verdict)."""
    if rule.access is None:
        return rule.data_type, Feasibility("unknown", f"no rule in rules/apis.yaml decides what Android gives "
                                                      f"through {rule.id}", (), api_range(app.levels[0], MAX_API))
    data_type, verdict = _judge(rule, app)
    if app.runs_in is not None:
        # `am instrument` loads a test APK's code into the target app's process: that app's uid, permissions and
        # target API level govern every call, not this manifest's (which a test APK barely fills in). What this
        # manifest alone would give is kept in the reason, never as the verdict: granted here may be refused
        # there, and the other way round.
        verdict = Feasibility("unknown", f"runs as instrumentation in the process of {app.runs_in}: that app's "
                                         f"permissions and target API level decide (this APK's own manifest "
                                         f"alone: {verdict.status}, {verdict.reason})",
                              verdict.permissions, api_range(app.levels[0], MAX_API))
    return data_type, verdict


@functools.lru_cache(maxsize=4096)
def _judge(rule: ApiRule, app: AppLevels) -> tuple[str, Feasibility]:
    ranges = _ranges([(api, _at(rule, app, api)) for api in app.levels])
    low, high, best = min(ranges, key=lambda r: (_RANK[r[2].status], r[0]))
    first = ranges[0][0]
    if len(ranges) == 1:
        return best.data_type, Feasibility(best.status, best.reason, best.permissions, api_range(low, high))
    same = [r for r in ranges if r[2] == best]
    levels = ", ".join(api_range(r[0], r[1]) for r in same)
    if best.status not in ("granted", "runtime-permission", "unknown"):
        # refused everywhere, for reasons that change with the level: each range says its own
        reason = "; ".join(f"{api_range(r[0], r[1])}: {r[2].reason}" for r in ranges)
        levels = api_range(first, MAX_API)
        permissions = tuple(dict.fromkeys(p for r in ranges for p in r[2].permissions))
        return best.data_type, Feasibility(best.status, reason, permissions, levels)
    # Levels where the call is just as feasible but for another reason (a note, a restriction) belong to its
    # range: "only on Android 9 and older" would be false when API 29+ still works the same way.
    alike = [r for r in ranges if r[2].status == best.status and r[2].data_type == best.data_type]
    if len(alike) == len(same):
        reason = f"{_where(low, high, first)}: {best.reason}" if len(same) == 1 else f"{best.reason} on {levels}"
    else:
        spans = _ranges([(api, True) for r in alike for api in range(r[0], r[1] + 1)])
        levels = ", ".join(api_range(s[0], s[1]) for s in spans)
        reason = "; ".join(f"{api_range(r[0], r[1])}: {r[2].reason}" for r in alike)
        if len(spans) == 1 and (spans[0][0] > first or spans[0][1] < MAX_API):
            reason = f"{_where(spans[0][0], spans[0][1], first)}: {reason}"
    others = [f"{r[2].status} on {api_range(r[0], r[1])} ({r[2].reason})" for r in ranges if r not in alike]
    return best.data_type, Feasibility(best.status, "; ".join([reason, *others]), best.permissions, levels)


def apply(sites: Iterable, rules: Iterable[ApiRule], app: AppLevels) -> list:
    """CallSites with their feasibility and the data type it allows (CallSite.api_id names the rule)."""
    by_id = {r.id: r for r in rules}
    out = []
    for site in sites:
        rule = by_id.get(site.api_id)
        if rule is None:
            verdict = Feasibility("unknown", f"no rule in rules/apis.yaml for {site.api_id}")
            out.append(dataclasses.replace(site, feasibility=verdict))
            continue
        data_type, verdict = judge(rule, app)
        out.append(dataclasses.replace(site, data_type=data_type, feasibility=verdict))
    return out
