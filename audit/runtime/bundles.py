"""Which members of a bundle to install on a given device, chosen as bundletool does.

bundletool's `.apks` hold either split APKs (`splits/<module>-master.apk`, `splits/<module>-<config>.apk`), or
standalone APKs for pre-Lollipop devices (`standalones/standalone-<abi>_<density>.apk`), or one
`universal.apk`; never mix them. For a device with split support (API 21+) bundletool installs every module's
master plus, per module, the config split of the device's best ABI, its best-matching screen density, and its
languages. XAPK (`manifest.json`, `split_apks` ids like `config.arm64_v8a`) and APKM (`split_config.xx.apk`)
name their config splits the same way and are chosen by the same rules. OBB files (`Android/obb/PKG/...`) of an
XAPK are pushed to the same path on the device.
"""
from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

ABIS = ("arm64_v8a", "armeabi_v7a", "armeabi", "x86_64", "x86", "mips64", "mips", "riscv64")
# Density buckets (dpi) as bundletool names them.
DENSITIES = {"ldpi": 120, "mdpi": 160, "tvdpi": 213, "hdpi": 240, "xhdpi": 320, "xxhdpi": 480, "xxxhdpi": 640}
SPLIT_SUPPORT_API = 21


@dataclass(frozen=True)
class DeviceSpec:
    """What the choice depends on: `getprop ro.product.cpu.abilist`, `wm density`, the locale, the API level."""

    abis: tuple[str, ...]                 # preferred first, Android spelling: arm64-v8a, armeabi-v7a, x86_64
    density: int                          # dpi
    languages: tuple[str, ...] = ("en",)  # two-letter codes, preferred first
    sdk: int = 30

    @property
    def abi_names(self) -> tuple[str, ...]:
        return tuple(a.replace("-", "_") for a in self.abis)


@dataclass
class Selection:
    members: list[str]                    # APK members to install, base first
    obb: list[str] = field(default_factory=list)    # OBB members, to push to /sdcard/<same path>
    skipped: list[str] = field(default_factory=list)
    mode: str = "splits"                  # splits | standalone | universal | single


def _kind(config: str) -> tuple[str, str]:
    """('abi'|'density'|'language'|'other', normalised value) of a config qualifier like arm64_v8a, xxhdpi, fr."""
    value = config.lower().replace("-", "_")
    if value in ABIS:
        return "abi", value
    if value in DENSITIES:
        return "density", value
    if re.fullmatch(r"[a-z]{2,3}(_r?[a-z]{2})?", value):
        return "language", value.split("_", 1)[0]
    return "other", value


def _best_density(available: list[str], dpi: int) -> str | None:
    """bundletool's choice: the smallest bucket at or above the device's density, else the largest below."""
    above = sorted((DENSITIES[d], d) for d in available if DENSITIES[d] >= dpi)
    if above:
        return above[0][1]
    below = sorted((DENSITIES[d], d) for d in available)
    return below[-1][1] if below else None


def choose_configs(modules: dict[str, dict[str, str]], device: DeviceSpec) -> tuple[list[str], list[str]]:
    """modules: module -> {config ('master' or a qualifier) -> member}. Returns (chosen, skipped) members."""
    chosen: list[str] = []
    skipped: list[str] = []
    for module in sorted(modules, key=lambda m: (m != "base", m)):
        configs = modules[module]
        if "master" in configs:
            chosen.append(configs["master"])
        by_kind: dict[str, dict[str, str]] = {}
        for config, member in configs.items():
            if config == "master":
                continue
            kind, value = _kind(config)
            by_kind.setdefault(kind, {})[value] = member
        keep: set[str] = set()
        abis = by_kind.get("abi", {})
        best_abi = next((a for a in device.abi_names if a in abis), None)
        if best_abi is not None:
            keep.add(abis[best_abi])
        densities = by_kind.get("density", {})
        best = _best_density(list(densities), device.density)
        if best is not None:
            keep.add(densities[best])
        for language, member in by_kind.get("language", {}).items():
            if language in device.languages:
                keep.add(member)
        keep.update(by_kind.get("other", {}).values())     # unknown qualifiers: bundletool would not drop them
        for config, member in sorted(configs.items()):
            if config == "master":
                continue
            (chosen if member in keep else skipped).append(member)
    return chosen, skipped


_SPLIT_MEMBER = re.compile(r"^splits/(?P<module>[^/]+?)-(?P<config>master|[A-Za-z0-9_]+)\.apk$")
_STANDALONE = re.compile(r"^standalones/standalone(?:-(?P<config>[A-Za-z0-9_]+))?\.apk$")
_CONFIG_FILE = re.compile(r"^(?:split_)?config\.(?P<config>[A-Za-z0-9_]+)\.apk$")


def _standalone_fits(config: str | None, device: DeviceSpec) -> tuple[int, int]:
    """A sort key for standalone APKs: ABI preference, then density distance (smaller is better)."""
    parts = (config or "").lower().split("_")
    abi_rank, density_gap = len(device.abi_names), 0
    for i, abi in enumerate(device.abi_names):
        if abi in (config or "").lower():
            abi_rank = i
            break
    for part in parts:
        if part in DENSITIES:
            density_gap = abs(DENSITIES[part] - device.density)
    return abi_rank, density_gap


def select_members(names: list[str], device: DeviceSpec, xapk_manifest: dict | None = None) -> Selection:
    """The members of a bundle (zip member names) to install on `device`."""
    apks = [n for n in names if n.lower().endswith(".apk")]
    obb = [n for n in names if n.lower().endswith(".obb")]
    splits = [n for n in apks if _SPLIT_MEMBER.match(n)]
    standalones = [n for n in apks if _STANDALONE.match(n)]
    if splits or standalones or "universal.apk" in apks:      # bundletool output
        if splits and device.sdk >= SPLIT_SUPPORT_API:
            modules: dict[str, dict[str, str]] = {}
            for name in splits:
                match = _SPLIT_MEMBER.match(name)
                modules.setdefault(match["module"], {})[match["config"]] = name
            chosen, skipped = choose_configs(modules, device)
            return Selection(chosen, obb, skipped + [n for n in apks if n not in splits], "splits")
        if standalones and (device.sdk < SPLIT_SUPPORT_API or not splits):
            best = min(standalones, key=lambda n: _standalone_fits(_STANDALONE.match(n)["config"], device))
            return Selection([best], obb, [n for n in apks if n != best], "standalone")
        if "universal.apk" in apks:
            return Selection(["universal.apk"], obb, [n for n in apks if n != "universal.apk"], "universal")
    # XAPK / APKM / a plain split set: base + config.<qualifier> splits + feature splits.
    ids: dict[str, str] = {}
    if xapk_manifest and isinstance(xapk_manifest.get("split_apks"), list):
        for entry in xapk_manifest["split_apks"]:
            if isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("id"), str):
                ids[entry["file"]] = entry["id"]
    modules = {}
    for name in apks:
        base_name = PurePosixPath(name).name
        split_id = ids.get(name, base_name[:-4])
        config = _CONFIG_FILE.match(base_name) or re.fullmatch(r"config\.(?P<config>[A-Za-z0-9_]+)", split_id)
        if config:
            modules.setdefault("base", {})[config["config"]] = name
        elif split_id in ("base", "base-master") or base_name in ("base.apk", "base-master.apk"):
            modules.setdefault("base", {})["master"] = name
        else:
            modules[f"feature:{split_id}"] = {"master": name}
    if len(apks) == 1:
        return Selection(apks, obb, [], "single")
    chosen, skipped = choose_configs(modules, device)
    return Selection(chosen, obb, skipped, "splits")


def read_selection(archive: zipfile.ZipFile, device: DeviceSpec) -> Selection:
    manifest = None
    if "manifest.json" in archive.namelist():
        try:
            manifest = json.loads(archive.read("manifest.json"))
        except (ValueError, RecursionError):
            manifest = None
    return select_members(archive.namelist(), device, manifest if isinstance(manifest, dict) else None)
