"""Which apps a corpus run scans: folders walked for app files, and list files of paths (one per line).

One file is one app (an .apk, or a bundle: .xapk / .apks / .apkm / .aab), except loose split APKs: the APK files
of one folder with one package and version, one base and its splits, are one app, scanned together as
`appaudit scan base.apk split_config.x.apk ...` does (a list [base, splits...] in the returned order). Whether an
APK is a base or a split is read from its manifest (bounded reader); an APK that cannot be read stays on its own,
so the run records why it failed. A split with no base beside it, or a folder with two bases of one package and
version, is not grouped either.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ..errors import InputError

APP_SUFFIXES = (".apk", ".xapk", ".apks", ".apkm", ".aab")
MAX_LIST_BYTES = 64 * 1024 * 1024


def is_app_file(name: str) -> bool:
    return name.lower().endswith(APP_SUFFIXES)


def _walk(folder: Path) -> list[str]:
    found = []
    errors: list[OSError] = []
    for root, dirs, files in os.walk(folder, onerror=errors.append, followlinks=False):
        dirs.sort()
        found.extend(os.path.join(root, name) for name in sorted(files) if is_app_file(name))
    if errors and not found:
        raise InputError(f"cannot read folder {folder}: {errors[0].strerror}")
    return found


def _read_list(list_file: Path) -> list[str]:
    try:
        if list_file.stat().st_size > MAX_LIST_BYTES:
            raise InputError(f"list file {list_file} is larger than {MAX_LIST_BYTES // (1024 * 1024)} MiB")
        text = list_file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"list file {list_file} is not UTF-8 text (one app path per line)") from None
    except OSError as exc:
        raise InputError(f"cannot read list file {list_file}: {exc.strerror}") from None
    if "\x00" in text:
        raise InputError(f"list file {list_file} is binary, expected one app path per line")
    paths = []
    for line in text.splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = Path(entry)
        # Relative entries are relative to the list file, so lists stay valid when moved with their APKs.
        paths.append(str(path if path.is_absolute() else list_file.parent / path))
    return paths


def _split_identity(path: str) -> tuple[str, str | None, str | None] | None:
    """(package, version code, split name or None for a base) of an APK file, or None if it cannot be read."""
    from ..static.inputs import MANIFEST, Archive, Budget
    from ..static.manifest import parse_manifest
    try:
        archive = Archive(Path(path), path, Budget())
        try:
            if not archive.has(MANIFEST):
                return None
            manifest = parse_manifest(archive.read(MANIFEST), path)
        finally:
            archive.close()
    except (InputError, OSError):
        return None
    return manifest.package, manifest.version_code, manifest.split


def group_splits(paths: list[str]) -> list[str | list[str]]:
    """Loose split APKs of one app in one folder become one unit [base, splits...]; the rest stay as they are.
    Only folders holding more than one .apk are read, so a folder of whole apps costs one manifest read each."""
    by_folder: dict[str, list[str]] = {}
    for path in paths:
        if path.lower().endswith(".apk"):
            by_folder.setdefault(os.path.dirname(path), []).append(path)
    sets: dict[tuple, list[tuple[str | None, str]]] = {}
    for folder, apks in by_folder.items():
        if len(apks) < 2:
            continue
        for path in apks:
            identity = _split_identity(path)
            if identity is not None:
                package, version, split = identity
                sets.setdefault((folder, package, version), []).append((split, path))
    grouped: dict[str, list[str]] = {}
    for members in sets.values():
        bases = [path for split, path in members if split is None]
        splits = sorted((split, path) for split, path in members if split is not None)
        if len(bases) == 1 and splits:
            unit = [bases[0], *(path for _, path in splits)]
            for path in unit:
                grouped[path] = unit
    out: list[str | list[str]] = []
    for path in paths:
        unit = grouped.get(path)
        if unit is None:
            out.append(path)
        elif unit[0] == path:
            out.append(unit)
    return out


def discover(sources: Iterable[str]) -> list[str | list[str]]:
    """The apps to scan, in a stable order, each once: absolute paths, and [base, splits...] lists for loose
    split sets (group_splits). A missing source or an unreadable list is an InputError.

    A list may name files that have gone missing: they are kept, so the run records them as failed.
    """
    seen: set[str] = set()
    out: list[str] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            candidates = _walk(path)
        elif path.is_file():
            candidates = [str(path)] if is_app_file(path.name) else _read_list(path)
        elif path.exists():
            raise InputError(f"{source} is neither a folder nor a file")
        else:
            raise InputError(f"corpus source not found: {source}")
        for candidate in candidates:
            absolute = os.path.abspath(candidate)
            if absolute not in seen:
                seen.add(absolute)
                out.append(absolute)
    return group_splits(out)
