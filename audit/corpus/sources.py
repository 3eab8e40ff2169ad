"""Which files a corpus run scans: folders walked for app files, and list files of paths (one per line).

One file is one app: an .apk, or a bundle (.xapk / .apks / .apkm) holding one app's split set. Loose splits of
one app in a folder are not grouped (out of scope): each .apk is scanned as an app of its own.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ..errors import InputError

APP_SUFFIXES = (".apk", ".xapk", ".apks", ".apkm")
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


def discover(sources: Iterable[str]) -> list[str]:
    """Absolute app paths in a stable order, each once. A missing source or an unreadable list is an InputError.

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
    return out
