"""A frida-server for the device, matching the host's frida: downloaded from Frida's releases when the machine is
online, checked, and cached under APPAUDIT_HOME so the next `device doctor --fix` needs no network.

The release file is `frida-server-{version}-android-{arch}.xz`; it is decompressed as it arrives (bounded: a
download or a decompressed file past its limit is refused), must be an ELF for the device's architecture, and
only then enters the cache (written beside it and renamed: a truncated, corrupt or wrong file leaves nothing).
APPAUDIT_FRIDA_RELEASES replaces the base URL (a mirror, or a local server in tests).
"""
from __future__ import annotations

import lzma
import os
import tempfile
from pathlib import Path

from ..errors import InputError

RELEASES_ENV = "APPAUDIT_FRIDA_RELEASES"
RELEASES_URL = "https://github.com/frida/frida/releases/download"
MAX_DOWNLOAD_BYTES = 128 * 1024 * 1024        # frida-server .xz files are ~20 MB
MAX_BINARY_BYTES = 256 * 1024 * 1024          # and ~50-100 MB decompressed
DOWNLOAD_TIMEOUT_S = 60
CHUNK = 1 << 16

# ELF e_machine values of the architectures frida-server is built for on Android.
ELF_MACHINE = {3: "x86", 62: "x86_64", 40: "arm", 183: "arm64"}


def release_url(version: str, arch: str) -> str:
    base = os.environ.get(RELEASES_ENV) or RELEASES_URL
    return f"{base.rstrip('/')}/{version}/frida-server-{version}-android-{arch}.xz"


def cache_dir() -> Path:
    """Beside the rules cache: $APPAUDIT_HOME/cache/frida-server (else $XDG_CACHE_HOME/appaudit/frida-server)."""
    from ..rulescache import cache_dir as rules_cache_dir
    return rules_cache_dir().parent / "frida-server"


def elf_arch(head: bytes) -> str | None:
    """The frida architecture name of an ELF header (None: not an ELF, or not one Android runs)."""
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[5] != 1:      # little-endian only (all Android ABIs)
        return None
    arch = ELF_MACHINE.get(int.from_bytes(head[18:20], "little"))
    bits = {1: 32, 2: 64}.get(head[4])
    if arch is None or bits != (64 if arch in ("x86_64", "arm64") else 32):
        return None
    return arch


def frida_server_for(version: str, arch: str) -> Path:
    """The cached frida-server for this version and architecture, downloaded first when it is not cached."""
    target = cache_dir() / f"frida-server-{version}-android-{arch}"
    if target.is_file():
        return target
    url = release_url(version, arch)
    by_hand = (f"fetch {url} by hand, unxz it and run: appaudit device doctor --fix "
               f"frida-server-{version}-android-{arch}")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            _download_xz(url, out, by_hand)
        with open(temp, "rb") as check:
            found = elf_arch(check.read(20))
        if found != arch:
            what = f"an ELF for {found}" if found else "not an Android ELF executable"
            raise InputError(f"{url} is {what}, not frida-server for {arch}; {by_hand}")
        os.chmod(temp, 0o755)
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return target


def _download_xz(url: str, out, by_hand: str) -> None:
    import http.client
    import urllib.error
    import urllib.request
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    received = written = 0
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    if response.length:        # fewer bytes than its Content-Length announced
                        raise http.client.IncompleteRead(b"", response.length)
                    break
                received += len(chunk)
                if received > MAX_DOWNLOAD_BYTES:
                    raise InputError(f"{url} is larger than {MAX_DOWNLOAD_BYTES >> 20} MB: not a frida-server; "
                                     f"{by_hand}")
                if decompressor.eof:
                    raise InputError(f"{url} has data after the end of its xz stream: corrupt; {by_hand}")
                # Bounded output per step: a small input may expand a lot.
                data = decompressor.decompress(chunk, max_length=CHUNK * 16)
                while True:
                    written += len(data)
                    if written > MAX_BINARY_BYTES:
                        raise InputError(f"{url} decompresses to more than {MAX_BINARY_BYTES >> 20} MB: not a "
                                         f"frida-server; {by_hand}")
                    out.write(data)
                    if decompressor.eof or decompressor.needs_input:
                        break
                    data = decompressor.decompress(b"", max_length=CHUNK * 16)
    except urllib.error.HTTPError as exc:
        raise InputError(f"cannot download {url}: HTTP {exc.code} {exc.reason}; {by_hand}") from None
    except http.client.HTTPException as exc:      # IncompleteRead: the connection ended early
        raise InputError(f"{url}: download cut short ({type(exc).__name__}); {by_hand}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        raise InputError(f"cannot download {url} ({reason}; offline?); {by_hand}") from None
    except lzma.LZMAError as exc:
        raise InputError(f"{url} is not a valid .xz file ({exc}): corrupt download; {by_hand}") from None
    if not decompressor.eof:
        raise InputError(f"{url} ended before its xz stream did: truncated download; {by_hand}")
