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


def test_a_wrong_level_would_be_caught():
    # the check is not vacuous: GET_ACCOUNTS changed level at API 23 and the table must say so
    rule = permission_rules()["android.permission.GET_ACCOUNTS"]
    assert (rule.protection_at(22), rule.protection_at(23)) == ("normal", "dangerous")
    assert aosp_level(_aosp()[22]["android.permission.GET_ACCOUNTS"]["protectionLevel"]) == "normal"
    assert aosp_level("signature|privileged|development|appop") == "signatureOrSystem"
