"""rules/permissions.yaml against AOSP's own permission data (androguard ships frameworks/base's manifest
permissions per API level, 4-34): every AOSP permission listed has the protection level AOSP gives it on each
level (`protection` + `levels`), and exists exactly from `since` to `until`; the others say who defines them."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from audit.rulesdata import load_yaml, rules_dir
from audit.static.manifest import permission_rules


def _aosp() -> dict[int, dict]:
    androguard = pytest.importorskip("androguard")   # a test extra: the scan itself never imports it
    folder = Path(os.path.dirname(androguard.__file__)) / "core" / "api_specific_resources" / "aosp_permissions"
    files = {int(re.search(r"_(\d+)\.json$", p.name).group(1)): p for p in folder.glob("permissions_*.json")}
    if not files:
        pytest.skip("androguard ships no AOSP permission data")
    return {api: json.loads(files[api].read_text())["permissions"] for api in sorted(files)}


def aosp_level(protection: str) -> str:
    """AOSP's protectionLevel (`signature|privileged|appop`) in the table's vocabulary."""
    flags = protection.split("|")
    base = flags[0]
    if base in ("", "normal"):
        return "normal"
    if base == "dangerous":
        return "dangerous"
    if base in ("signatureOrSystem", "system") or {"privileged", "system"} & set(flags):
        return "signatureOrSystem"
    return "signature"


def test_protection_levels_and_ranges_match_aosp():
    data = _aosp()
    apis = sorted(data)
    raw = load_yaml(rules_dir() / "permissions.yaml")["permissions"]
    rules = permission_rules()
    checked = 0
    problems = []
    for name, spec in raw.items():
        present = [api for api in apis if name in data[api]]
        if (spec.get("since") or 0) > apis[-1]:
            # added after the data's last level (ACCESS_LOCAL_NETWORK, API 37): it must name where its level and
            # `since` come from, and AOSP's data must indeed not define it yet
            if present or not spec.get("source") or spec.get("defined_by"):
                problems.append(f"{name}: since {spec['since']} is past the AOSP data (API {apis[-1]}): needs "
                                f"`source` (not defined_by), and no AOSP level may define it (found on {present})")
            continue
        if spec.get("source"):
            problems.append(f"{name}: `source` is for permissions added after API {apis[-1]}; AOSP's data decides")
        if not present:
            if not spec.get("defined_by"):
                problems.append(f"{name}: not an AOSP permission on any API {apis[0]}-{apis[-1]}, and no defined_by")
            continue
        if spec.get("defined_by"):
            problems.append(f"{name}: AOSP defines it (API {present[0]}+), yet defined_by says {spec['defined_by']}")
        since, until = spec.get("since") or apis[0], spec.get("until") or apis[-1]
        if (present[0], present[-1]) != (since, until):
            problems.append(f"{name}: AOSP defines it on API {present[0]}-{present[-1]}, "
                            f"the table says {since}-{until}")
        for api in present:
            want = aosp_level(data[api][name]["protectionLevel"])
            got = rules[name].protection_at(api)
            if got != want:
                problems.append(f"{name}: API {api}: AOSP {want} ({data[api][name]['protectionLevel']}), table {got}")
            checked += 1
    assert not problems, "\n".join(problems)
    assert checked > 1000


def test_every_other_aosp_permission_has_its_newest_level():
    """platform_defined lists each AOSP permission the table does not, at its level on the newest API that
    defines it: a requested one is never `unknown`."""
    from audit.static.manifest import platform_levels
    data = _aosp()
    table = permission_rules()
    levels = platform_levels()
    assert not set(levels) & set(table)
    problems = []
    for name in sorted(set().union(*data.values()) - set(table)):
        newest = max(api for api in data if name in data[api])
        want = aosp_level(data[newest][name]["protectionLevel"])
        if levels.get(name) != want:
            problems.append(f"{name}: AOSP {want} (API {newest}), platform_defined {levels.get(name)}")
    problems += [f"{name}: not an AOSP permission" for name in levels if not any(name in d for d in data.values())]
    assert not problems, "\n".join(problems)


def test_a_wrong_level_would_be_caught():
    # the check is not vacuous: GET_ACCOUNTS changed level at API 23 and the table must say so
    rule = permission_rules()["android.permission.GET_ACCOUNTS"]
    assert (rule.protection_at(22), rule.protection_at(23)) == ("normal", "dangerous")
    assert aosp_level(_aosp()[22]["android.permission.GET_ACCOUNTS"]["protectionLevel"]) == "normal"
    assert aosp_level("signature|privileged|development|appop") == "signatureOrSystem"


FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")   # Debian android-framework-res, API 29
HARD_RESTRICTED = 0x4   # frameworks/base attrs.xml permissionFlags: costsMoney 1, removed 2, hardRestricted 4


def test_hard_restricted_permissions_match_the_platforms_own_flags():
    """`hard_restricted: 29` exactly on the permissions framework-res.apk of API 29 flags hardRestricted."""
    import shutil
    import subprocess
    if not FRAMEWORK_RES.is_file() or shutil.which("aapt") is None:
        pytest.skip("framework-res.apk (android-framework-res) or aapt not installed")
    tree = subprocess.run(["aapt", "dump", "xmltree", str(FRAMEWORK_RES), "AndroidManifest.xml"],
                          capture_output=True, text=True, check=True).stdout
    assert "versionCode='29'" in subprocess.run(["aapt", "dump", "badging", str(FRAMEWORK_RES)],
                                                 capture_output=True, text=True).stdout
    flagged = set()
    for element in re.split(r"\n\s*E: ", tree):
        name = re.search(r'android:name\([^)]*\)="([^"]+)"', element)
        flags = re.search(r"android:permissionFlags\([^)]*\)=\(type 0x11\)0x([0-9a-f]+)", element)
        if element.startswith("permission ") and name and flags and int(flags.group(1), 16) & HARD_RESTRICTED:
            flagged.add(name.group(1))
    assert len(flagged) >= 8
    rules = permission_rules()
    listed = {name for name, rule in rules.items() if rule.hard_restricted == 29}
    assert listed == flagged & set(rules), (listed ^ (flagged & set(rules)))
    assert not {name for name, rule in rules.items() if rule.hard_restricted not in (None, 29)}
