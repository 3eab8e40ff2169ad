"""Opening what the user gives `appaudit scan`: one APK, the APK files of a split set, or one bundle
(.apks from bundletool, .xapk, .apkm from APKMirror, or an Android App Bundle .aab as uploaded to the store),
read into memory with bounds.

Nothing is ever extracted to disk. Every member read is stream-inflated against a per-entry cap, a total cap
for the whole app and a compression-ratio check, because a zip's header sizes are the attacker's to choose.
Member names that would escape a folder (`../x`, `/etc/x`) make the archive refused outright: no legitimate
APK or bundle has them, and a hostile one uses them against tools that do extract.

Which APK is the base and which package each belongs to is decided from the manifests (audit/static/manifest.py),
so this module only returns the raw pieces: each APK's manifest bytes, dex bytes and resources.arsc.
An .aab is read as the split set it installs as: each module folder (`base/`, feature modules) is one part,
with its manifest in aapt2's protobuf form (`<module>/manifest/AndroidManifest.xml`, read by protoxml.py) and its
code in `<module>/dex/classes*.dex`; its resource table (`resources.pb`, protobuf too) takes the place of
resources.arsc (the label lookup tells them apart).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import BoundExceeded, InputError
from .report import InputFile

MiB = 1024 * 1024
MAX_TOTAL_INFLATED = 512 * MiB       # everything read from one app, bundles and splits together
MAX_ENTRY_INFLATED = 256 * MiB       # one member
MAX_MANIFEST_BYTES = 8 * MiB         # real manifests are well under 1 MiB
MAX_ARSC_BYTES = 64 * MiB
MAX_RATIO = 200                      # inflated/compressed; dex compresses ~3x, zero-filled bombs ~1000x
RATIO_GRACE = 4 * MiB                # small members may compress very well (runs of zeros in a tiny dex)
MAX_ENTRIES = 200_000                # a central directory with millions of entries is itself a bomb
MAX_APKS = 200                       # members of one bundle / files of one split set
CHUNK = 1 * MiB
# Android's libziparchive reads stored and deflated members only (code in another method does not load), and
# Python's bzip2/LZMA readers inflate a whole block before a read returns (a 1.7 KB member -> 2 GiB), so such
# members are refused before any byte is inflated; except an APK's manifest and resource table, which Android's
# resource system reads as stored (Archive.read as_resource).
ANDROID_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
# Members looked into for dex code Android does not load itself (a dex, or an archive holding one, in assets/, in
# res/raw/ or at the root): at most this many per APK, and a nested archive only up to this size and this many
# entries (its directory is read whole: 64 MiB of bare entries would be ~900 000 objects)
MAX_MEMBERS_PEEKED = 20_000
MAX_NESTED_ARCHIVE = 64 * MiB
MAX_NESTED_ENTRIES = 10_000
DEX_MAGIC = b"dex\n"
# what reading a damaged member raises (zipfile's own errors, a bad deflate stream, a truncated file)
ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError,
                   OverflowError)
# the type descriptors of the platform's dex class loaders, as a dex that refers to one holds them in its strings
DEX_LOADER_TYPES = tuple(f"Ldalvik/system/{name};".encode() for name in (
    "DexClassLoader", "InMemoryDexClassLoader", "PathClassLoader", "DelegateLastClassLoader", "BaseDexClassLoader"))
ZIP_MAGIC = b"PK\x03\x04"
_METHOD_NAMES = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA", 9: "deflate64", 93: "zstd", 95: "xz",
                 98: "PPMd", 99: "AES-encrypted"}


MANIFEST = "AndroidManifest.xml"
ARSC = "resources.arsc"
RES_TABLE_HEADER = b"\x02\x00\x0c\x00"   # ResChunk_header of a ResTable: RES_TABLE_TYPE, header size 12
_DEX_NAME = re.compile(r"^classes(\d*)\.dex$")
BUNDLE_SUFFIXES = (".apks", ".xapk", ".apkm", ".aab")
AAB_BASE_MANIFEST = "base/manifest/AndroidManifest.xml"


@dataclass(frozen=True)
class ApkContents:
    """The parts of one APK (a whole app or one split) the static scan needs."""

    name: str                              # display name: the path given, or bundle!member
    manifest: bytes
    dexes: tuple[tuple[str, bytes], ...]   # (display name, bytes) of classes*.dex in numeric order
    arsc: bytes | None = None               # resources.arsc, or an App Bundle module's resources.pb
    unreadable_dexes: tuple[str, ...] = ()  # why each classes*.dex member that could not be inflated failed
    module: str | None = None               # an App Bundle's feature module: its name is its split's name
    bundle_module: bool = False             # an App Bundle module: its manifest is aapt2's protobuf XML
    embedded_code: tuple[str, ...] = ()     # members besides classes*.dex holding dex code: only the app loads them
    members_not_peeked: int = 0             # members not looked into for dex code (past a bound of _embedded_code)
    # where the app's dexes name a dex class loader: the dex files of embedded_code, as a class loader would open
    # them, (display name, bytes) in order; why each member that could not be read failed; the members that are
    # apps of their own (an APK: not read)
    carried_dexes: tuple[tuple[str, bytes], ...] = ()
    unreadable_carried: tuple[str, ...] = ()
    carried_apps: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpenedApp:
    apks: tuple[ApkContents, ...]
    inputs: tuple[InputFile, ...]
    warnings: tuple[str, ...] = ()
    bundle_package: str | None = None      # the package a bundle's own metadata names, if any


@dataclass
class Budget:
    """Inflated bytes left for one app: shared by every member of every archive read for it."""

    limit: int = field(default_factory=lambda: MAX_TOTAL_INFLATED)
    used: int = 0

    def take(self, amount: int, where: str) -> None:
        self.used += amount
        if self.used > self.limit:
            raise BoundExceeded(f"{where}: the app inflates to more than {self.limit // MiB} MiB in total "
                                "(zip bomb?)")


def one_line(text: str, limit: int = 200) -> str:
    """An exception's text as one short printable line: the CLI prints exactly one line per error."""
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


# -- files on disk --------------------------------------------------------------------------------------
def _check_file(path: Path) -> int:
    """Size of a readable, non-empty regular file; anything else is a one-line InputError."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({one_line(str(exc.strerror or exc))})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path} is a directory; give the APK file(s) or a bundle (.apks, .xapk, .apkm)")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path} is not a regular file")
    if info.st_size == 0:
        raise InputError(f"{path} is empty")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")
    return info.st_size


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({one_line(str(exc.strerror or exc))})") from None
    return digest.hexdigest()


# -- zip access -----------------------------------------------------------------------------------------
def _outside_name(name: str) -> bool:
    """A member name pointing outside the archive's folder (`..` part, absolute, drive letter)."""
    if ".." not in name and ":" not in name[:2] and not name.startswith(("/", "\\")):
        return False    # the common case, decided without a regex (an APK has hundreds of members)
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return True
    return any(part == ".." for part in re.split(r"[/\\]", name))


class Archive:
    """A zip (file on disk or bytes in memory) whose members are read with bounds."""

    def __init__(self, source: Path | bytes, display: str, budget: Budget):
        self.display = display
        self.budget = budget
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
            infos = self.zip.infolist()
        except zipfile.BadZipFile as exc:
            raise InputError(f"{display} is not a valid zip archive (truncated or not an APK?): {one_line(str(exc))}") from None
        except (OSError, EOFError, ValueError, NotImplementedError, RuntimeError, OverflowError) as exc:
            raise InputError(f"{display}: cannot read zip archive: {one_line(str(exc))}") from None
        if len(infos) > MAX_ENTRIES:
            raise BoundExceeded(f"{display}: {len(infos)} zip entries, more than the {MAX_ENTRIES} allowed")
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if "\x00" in info.orig_filename:
                # Python's reader cuts the name at the NUL; Android's libziparchive refuses to open such an
                # archive (kInvalidEntryName), so the app never installs
                raise InputError(f"{display}: member name {info.orig_filename!r} holds a NUL byte: Android "
                                 "refuses to open such an archive (not installable)")
            if _outside_name(info.filename):
                # Path-traversal names are an anti-analysis trick of real apps (they break unpacking tools);
                # Android installs such an APK and looks its code and resources up by their exact names, which
                # these never are. Nothing here writes members to disk: the member is left unread.
                continue
            if info.filename in self.members:
                # The Master Key fix (Android 4.4): libziparchive refuses an archive naming one member twice
                # (kDuplicateEntry), as the signature check and the loader could read different copies
                raise InputError(f"{display}: two members named {info.filename!r}: Android refuses to open such "
                                 "an archive (not installable)")
            self.members[info.filename] = info

    def close(self) -> None:
        self.zip.close()

    def names(self) -> list[str]:
        return list(self.members)

    def has(self, name: str) -> bool:
        return name in self.members

    def holds_dex_code(self, name: str) -> bool | None:
        """Whether a member is dex code: a dex file, or an archive (jar, apk, zip) holding a classes*.dex, read
        without inflating it into memory (its first bytes; a nested archive's directory through a seekable
        stream). None: a nested archive past MAX_NESTED_ARCHIVE or MAX_NESTED_ENTRIES, not looked into. A member
        Android could not read either (another compression method, encrypted, corrupt) is none."""
        info = self.members[name]
        if info.is_dir() or info.compress_type not in ANDROID_METHODS or info.flag_bits & 0x1 or info.file_size < 4:
            return False
        try:
            with self.zip.open(info) as stream:
                head = stream.read(4)
                if head == DEX_MAGIC:
                    return True
                if head != ZIP_MAGIC:
                    return False
                if max(info.file_size, info.compress_size) > MAX_NESTED_ARCHIVE:
                    return None
                # the end record's entry count, before zipfile makes an object per entry (its comment, up to
                # 64 KiB, may follow it; a ZIP64 count of 0xFFFF is past the bound too)
                stream.seek(max(0, info.file_size - 22 - 0xFFFF))
                tail = stream.read()
                end = tail.rfind(b"PK\x05\x06")
                if end < 0 or len(tail) < end + 12:
                    return False
                if int.from_bytes(tail[end + 10:end + 12], "little") > MAX_NESTED_ENTRIES:
                    return None
                stream.seek(0)
                with zipfile.ZipFile(stream) as inner:
                    return any(_DEX_NAME.match(n.rpartition("/")[2]) for n in inner.namelist())
        except ZIP_READ_ERRORS:
            return False

    def is_app(self, name: str) -> bool:
        """Whether a member is an APK (an archive with a manifest), read through a seekable stream, not inflated
        into memory (holds_dex_code has bounded its directory)."""
        try:
            with self.zip.open(self.members[name]) as stream, zipfile.ZipFile(stream) as inner:
                return MANIFEST in inner.NameToInfo
        except ZIP_READ_ERRORS:
            return False

    def read(self, name: str, cap: int = MAX_ENTRY_INFLATED, as_resource: bool = False) -> bytes:
        """Inflate one member into memory, never trusting its declared size. `as_resource`: read as Android's
        resource system reads an APK's AndroidManifest.xml and resources.arsc (see below)."""
        info = self.members[name]
        where = f"{self.display}!{name}"
        if info.is_dir():
            raise InputError(f"{where} is a folder, expected a file")
        flagged_encrypted = bool(info.flag_bits & 0x1)
        if flagged_encrypted or as_resource:
            info = _copy_info(info)   # read differently, leaving the archive's own header untouched
        if flagged_encrypted:
            # Android ignores the "encrypted" bit (a known anti-analysis trick); so do we.
            info.flag_bits &= ~0x1
        if as_resource:
            # The installer reads the manifest through libandroidfw (ZipAssetsProvider::OpenInternal), which
            # inflates a deflated member and maps any other as stored: its uncompressed size in bytes from the
            # data offset; it checks no CRC either way. Apps set unknown method numbers on AndroidManifest.xml
            # against analysis tools (Zimperium, 2023: 3 300 samples, installing on Android 9+); refusing them
            # (or a wrong CRC) refused installable apps. Read as Android does: bytes that are really compressed
            # then fail as a malformed manifest, as on a device.
            # zipfile checks no CRC when there is none to compare. A member flagged encrypted keeps a CRC it
            # has: ciphertext read as data can inflate without an error (a few percent of ZipCrypto headers),
            # and only the CRC then tells a password-protected archive from the flag trick
            if not (flagged_encrypted and info.CRC):
                info.CRC = None
            if info.compress_type not in ANDROID_METHODS:
                info.compress_type, info.compress_size = zipfile.ZIP_STORED, info.file_size
        if info.compress_type not in ANDROID_METHODS:
            method = _METHOD_NAMES.get(info.compress_type, "unknown")
            raise InputError(f"{where}: compression method {info.compress_type} ({method}) is not one Android "
                             "accepts (only stored and deflate); member not read")
        cap = min(cap, MAX_ENTRY_INFLATED)
        compressed = max(info.compress_size, 1)
        chunks, total = [], 0
        try:
            with self.zip.open(info) as stream:
                while True:
                    block = stream.read(CHUNK)
                    if not block:
                        break
                    total += len(block)
                    if total > cap:
                        raise BoundExceeded(f"{where} inflates to more than {cap // MiB} MiB (zip bomb?)")
                    if total > RATIO_GRACE and total / compressed > MAX_RATIO:
                        raise BoundExceeded(f"{where} inflates more than {MAX_RATIO}x its compressed size "
                                            "(zip bomb?)")
                    self.budget.take(len(block), self.display)
                    chunks.append(block)
        except InputError:
            raise
        except ZIP_READ_ERRORS as exc:
            if flagged_encrypted:   # the bit was no trick (no inflate, or a bad CRC): really password-protected
                raise InputError(f"{where}: the zip member is encrypted (a password-protected archive, which "
                                 "Android cannot read either): decrypt it first") from None
            problem = "corrupt zip member" if isinstance(exc, zipfile.BadZipFile) else "cannot inflate zip member"
            raise InputError(f"{where}: {problem}: {one_line(str(exc))}") from None
        return b"".join(chunks)


def _copy_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A copy of a member's header to read it differently, leaving the archive's own untouched."""
    clone = zipfile.ZipInfo(info.filename, info.date_time)
    for attr in ("compress_type", "flag_bits", "compress_size", "file_size", "CRC",
                 "header_offset", "extra", "create_system", "external_attr"):
        setattr(clone, attr, getattr(info, attr))
    return clone


def _loaded_dex_names(names: list[str], folder: str) -> tuple[list[str], list[str]]:
    """(the dex members ART loads, in its order; the other classes*.dex members). ART opens classes.dex, then
    classes2.dex, classes3.dex ... and stops at the first name missing (DexFileLoader::GetMultiDexClassesDexName,
    OpenAllDexFilesFromZip): classes0.dex, classes1.dex, classes02.dex or a dex past a gap never load. Read by a
    pattern instead, a decoy classes0.dex sorted first and defined the app's classes ahead of the real ones."""
    present = {n for n in names if n.startswith(folder) and _DEX_NAME.match(n[len(folder):])}
    loaded: list[str] = []
    while (name := f"{folder}classes{len(loaded) + 1 if loaded else ''}.dex") in present:
        loaded.append(name)
    return loaded, sorted(present.difference(loaded))


def read_apk(archive: Archive) -> tuple[ApkContents, list[str]]:
    """The manifest, dex files and resource table of one APK, plus warnings for unreadable optional parts."""
    if not archive.has(MANIFEST):
        raise InputError(f"{archive.display}: no {MANIFEST} (not an APK)")
    return _read_parts(archive, archive.display, MANIFEST, "", ARSC)


def read_aab_module(archive: Archive, module: str) -> tuple[ApkContents, list[str]]:
    """One module of an Android App Bundle (`base`, a feature module) as the APK it becomes."""
    return _read_parts(archive, f"{archive.display}!{module}", f"{module}/manifest/{MANIFEST}", f"{module}/dex/",
                       f"{module}/resources.pb")


def _read_parts(archive: Archive, display: str, manifest_name: str, dex_folder: str,
                arsc_name: str | None) -> tuple[ApkContents, list[str]]:
    # an APK's manifest and resource table are read as Android's resource system reads them (AssetManager opens
    # both through libandroidfw); an App Bundle module's by bundletool
    apk = manifest_name == MANIFEST
    manifest = archive.read(manifest_name, MAX_MANIFEST_BYTES, as_resource=apk)
    dex_names, not_loaded = _loaded_dex_names(archive.names(), dex_folder)
    dexes, unreadable, warnings = [], [], []
    if not_loaded:
        warnings.append(f"dex not read: {', '.join(not_loaded)}: Android loads {dex_folder}classes.dex, classes2.dex, "
                        "classes3.dex ... up to the first name missing, never these")
    for name in dex_names:
        try:
            dexes.append((f"{archive.display}!{name}", archive.read(name)))
        except BoundExceeded:
            raise
        except InputError as exc:   # one corrupt member: the rest of the code is still worth scanning
            unreadable.append(str(exc))
    arsc = None
    if arsc_name is not None and archive.has(arsc_name):
        try:
            arsc = archive.read(arsc_name, MAX_ARSC_BYTES, as_resource=apk)
            if apk and not arsc.startswith(RES_TABLE_HEADER):
                # what a member really compressed in a method Android does not inflate gives, read as stored
                raise InputError(f"{archive.display}!{arsc_name} is no resource table (as Android's resource "
                                 "system reads it: a member not deflated is read as stored)")
        except BoundExceeded:
            raise
        except InputError as exc:
            arsc = None
            warnings.append(f"resources not read: {exc}")
    embedded, not_peeked = _embedded_code(archive, dex_folder, manifest_name, arsc_name)
    carried, unreadable_carried, carried_apps = [], [], []
    # read only where the app's code names a dex class loader (the scan checks that it constructs one): most apps
    # that carry an APK carry one to install, and reading it would only spend the budget
    loading = any(loader in data for _, data in dexes for loader in DEX_LOADER_TYPES)
    for name in embedded if loading else ():
        try:
            found = _carried_dexes(archive, name)
        except BoundExceeded:
            raise
        except InputError as exc:
            unreadable_carried.append(str(exc))
            continue
        if found is None:
            carried_apps.append(name)
        else:
            carried += found
    return ApkContents(display, manifest, tuple(dexes), arsc, tuple(unreadable), bundle_module=not apk,
                       embedded_code=embedded, members_not_peeked=not_peeked, carried_dexes=tuple(carried),
                       unreadable_carried=tuple(unreadable_carried), carried_apps=tuple(carried_apps)), warnings


def _carried_dexes(archive: Archive, name: str) -> list[tuple[str, bytes]] | None:
    """The dex files of a member holding dex code, as a DexClassLoader opens it: the member itself, or an
    archive's classes.dex, classes2.dex ... (read with the same bounds and budget as the app's own). None for an
    app of its own (an APK, with its manifest): one the app installs is not its code, and one a plugin framework
    loads cannot be told from it here."""
    if archive.is_app(name):
        return None
    data = archive.read(name)
    where = f"{archive.display}!{name}"
    if data[:4] == DEX_MAGIC:
        return [(where, data)]
    inner = Archive(data, where, archive.budget)
    try:
        loaded, _ = _loaded_dex_names(inner.names(), "")
        return [(f"{where}!{dex}", inner.read(dex)) for dex in loaded]
    finally:
        inner.close()


def _embedded_code(archive: Archive, dex_folder: str, manifest_name: str, arsc_name: str | None) \
        -> tuple[tuple[str, ...], int]:
    """(the members of an APK or App Bundle module, besides its classes*.dex, that hold dex code: a dex, or a
    jar / apk / zip holding one, in assets/, res/raw/ or at the root; how many were not looked into, past
    MAX_MEMBERS_PEEKED or a nested archive's bounds). Android never loads them itself; the app's code may, with
    a DexClassLoader. Compiled resources, native libraries and signatures are not looked into."""
    module = dex_folder[:-len("dex/")] if dex_folder else ""   # an App Bundle module's folder, `base/`
    skipped = (f"{module}res/", f"{module}lib/", f"{module}META-INF/") + ((f"{module}dex/",) if module else ())
    candidates = [name for name in archive.names()
                  if name.startswith(module) and name not in (manifest_name, arsc_name)
                  and (not name.startswith(skipped) or name.startswith(f"{module}res/raw/"))
                  and (module or not _DEX_NAME.match(name))]   # classes*.dex: read, or not loaded (warned)
    found = {name: archive.holds_dex_code(name) for name in candidates[:MAX_MEMBERS_PEEKED]}
    return (tuple(name for name, dex in found.items() if dex),
            len(candidates) - len(found) + sum(dex is None for dex in found.values()))


# -- bundles --------------------------------------------------------------------------------------------
def _bundle_kind(archive: Archive, path: Path) -> str | None:
    """aab | apks | xapk | apkm, or None when the archive is an APK itself."""
    if archive.has(MANIFEST):
        return None
    if archive.has(AAB_BASE_MANIFEST):
        return "aab"
    names = archive.names()
    if archive.has("toc.pb") or any(n.startswith(("splits/", "standalones/")) for n in names):
        return "apks"
    if archive.has("info.json") and path.suffix.lower() == ".apkm":
        return "apkm"
    if archive.has("manifest.json"):
        return "xapk"
    if any(n.lower().endswith(".apk") for n in names):
        return {".apks": "apks", ".apkm": "apkm"}.get(path.suffix.lower(), "xapk")
    raise InputError(f"{archive.display}: a zip archive but neither an APK (no {MANIFEST}) nor an app bundle "
                     "(no .apk members)")


def _bundle_members(archive: Archive, kind: str) -> tuple[list[str], str | None]:
    """The APK members to scan, and the package the bundle's metadata names (if it names one)."""
    apks = sorted(n for n in archive.names() if n.lower().endswith(".apk") and not n.endswith("/"))
    package = None
    if kind == "apks":
        # bundletool: splits/ for L+ devices; universal.apk or standalones/ (whole apps, one per config)
        # when built that way. Standalones duplicate each other: one is the app.
        splits = [n for n in apks if n.startswith("splits/")]
        if splits:
            return splits, None
        universal = [n for n in apks if PurePosixPath(n).name == "universal.apk"]
        if universal:
            return universal[:1], None
        standalones = [n for n in apks if n.startswith("standalones/")]
        return (standalones[:1] or apks), None
    meta_name = "info.json" if kind == "apkm" else "manifest.json"
    # .xapk keeps expansion files under Android/obb/: data, never code, skipped.
    chosen = [n for n in apks if not n.lower().startswith("android/")]
    meta = None
    if archive.has(meta_name):
        try:
            meta = json.loads(archive.read(meta_name, MiB).decode("utf-8"))
        except BoundExceeded:
            raise
        except (InputError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            # The metadata only names the package and the APKs; the APKs themselves say more, and all of
            # them are scanned without it, so nothing is lost: not a warning (warnings mark a partial scan).
            meta = None
        if isinstance(meta, dict):
            name = meta.get("package_name") or meta.get("pname") or meta.get("package")
            package = name if isinstance(name, str) and name else None
            listed = meta.get("split_apks")
            if isinstance(listed, list):
                files = [item.get("file") for item in listed if isinstance(item, dict)]
                files = [f for f in files if isinstance(f, str) and archive.has(f)]
                if files:
                    chosen = sorted(set(files))
    return chosen, package


# -- entry point ----------------------------------------------------------------------------------------
def open_inputs(paths: list[str | Path]) -> OpenedApp:
    """Read what the user gave into memory. Errors in the one thing given are InputErrors; when several
    APKs are given, one unreadable split becomes a warning (the caller decides if a base is left)."""
    if not paths:
        raise InputError("no APK given")
    paths = [Path(p) for p in paths]
    sizes = [_check_file(p) for p in paths]
    if len(paths) > MAX_APKS:
        raise InputError(f"{len(paths)} files given; at most {MAX_APKS} APKs of one app")
    seen = set()
    for p in paths:
        key = os.path.realpath(p)
        if key in seen:
            raise InputError(f"{p} given twice")
        seen.add(key)
    budget = Budget()
    if len(paths) == 1:
        return _open_single(paths[0], sizes[0], budget)
    for p in paths:
        if p.suffix.lower() in BUNDLE_SUFFIXES:
            raise InputError(f"{p}: give one bundle on its own, or APK files of one split set, not both")
    apks, inputs, warnings = [], [], []
    for p, size in zip(paths, sizes):
        inputs.append(InputFile(str(p), _sha256_file(p), size, "split"))
        contents, more = _read_part(p, str(p), budget, "split", must_be_apk=True)
        if contents is not None:
            apks.append(contents)
        warnings.extend(more)
    if not apks:
        raise InputError("none of the APK files given could be read: " + "; ".join(warnings))
    return OpenedApp(tuple(apks), tuple(inputs), tuple(warnings))


def _read_part(source: Path | bytes, display: str, budget: Budget, label: str,
               must_be_apk: bool = False) -> tuple[ApkContents | None, list[str]]:
    """One APK of a split set or bundle, or None with the reason it was skipped. Bombs end the whole scan: they
    are attacks, not damage to one part."""
    try:
        archive = Archive(source, display, budget)
        try:
            if must_be_apk and not archive.has(MANIFEST):
                raise InputError(f"{display}: no {MANIFEST} (not an APK; a bundle must be given on its own)")
            return read_apk(archive)
        finally:
            archive.close()
    except BoundExceeded:
        raise
    except InputError as exc:
        return None, [f"{label} skipped: {exc}"]


def _open_aab(archive: Archive, bundle: InputFile) -> OpenedApp:
    """The modules of an App Bundle (base first, then feature modules by name) as the parts of one app."""
    suffix = f"/manifest/{MANIFEST}"
    modules = sorted({n[:-len(suffix)] for n in archive.names() if n.endswith(suffix) and n.count("/") == 2},
                     key=lambda m: (m != "base", m))
    if len(modules) > MAX_APKS:
        raise InputError(f"{bundle.path}: {len(modules)} modules in the bundle; at most {MAX_APKS}")
    apks, warnings = [], []
    for module in modules:
        try:
            contents, more = read_aab_module(archive, module)
        except BoundExceeded:
            raise
        except InputError as exc:
            if module == "base":
                raise
            warnings.append(f"bundle module skipped: {exc}")
            continue
        apks.append(contents if module == "base" else dataclasses.replace(contents, module=module))
        warnings.extend(more)
    return OpenedApp(tuple(apks), (bundle,), tuple(warnings))


def _open_single(path: Path, size: int, budget: Budget) -> OpenedApp:
    digest = _sha256_file(path)
    archive = Archive(path, str(path), budget)
    try:
        kind = _bundle_kind(archive, path)
        if kind is None:
            contents, warnings = read_apk(archive)
            return OpenedApp((contents,), (InputFile(str(path), digest, size, "apk"),), tuple(warnings))
        if kind == "aab":
            return _open_aab(archive, InputFile(str(path), digest, size, "bundle"))
        members, package = _bundle_members(archive, kind)
        if not members:
            raise InputError(f"{path}: {kind} bundle without APK members")
        if len(members) > MAX_APKS:
            raise InputError(f"{path}: {len(members)} APKs in the bundle; at most {MAX_APKS}")
        inputs = [InputFile(str(path), digest, size, "bundle")]
        apks, warnings = [], []
        for member in members:
            display = f"{path}!{member}"
            data = archive.read(member)
            inputs.append(InputFile(display, hashlib.sha256(data).hexdigest(), len(data), "member"))
            contents, more = _read_part(data, display, budget, "bundle member")
            if contents is not None:
                apks.append(contents)
            warnings.extend(more)
        if not apks:
            raise InputError(f"{path}: no APK in the bundle could be read: " + "; ".join(warnings))
        return OpenedApp(tuple(apks), tuple(inputs), tuple(warnings), package)
    finally:
        archive.close()
