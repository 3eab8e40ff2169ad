"""Our binary XML (AXML) reader: the same element tree as androguard's AXMLPrinter on every real manifest we have
(corpus and fixtures, built by aapt, aapt2 and d8-era tool chains), platform attributes resolved by resource id
as Android does, attribute ids checked against the real framework-res.apk, and hostile files refused with one
InputError, quickly."""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import audit  # noqa: F401  (its import hook silences androguard's loguru output)
from audit.errors import InputError
from audit.static import axml
from audit.static.axml import ANDROID, ANDROID_ATTRIBUTES, parse_axml, render_value
from audit.static.manifest import _read_manifest, parse_manifest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = sorted((SHARED / "corpus" / "apks").glob("*.apk")) if (SHARED / "corpus" / "apks").is_dir() else []
FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")
NO = 0xFFFFFFFF


# -- a small AXML writer, to make the files aapt never would ----------------------------------------------
def _pool(strings: list[str], utf8: bool) -> bytes:
    offsets, blob = [], b""
    for text in strings:
        offsets.append(len(blob))
        if utf8:
            raw = text.encode()
            blob += bytes([len(text), len(raw)]) + raw + b"\0"
        else:
            blob += struct.pack("<H", len(text)) + text.encode("utf-16-le") + b"\0\0"
    blob += b"\0" * (-len(blob) % 4)
    start = 28 + 4 * len(strings)
    body = struct.pack("<IIIII", len(strings), 0, 0x100 if utf8 else 0, start, 0)
    body += b"".join(struct.pack("<I", o) for o in offsets) + blob
    return struct.pack("<HHI", 0x0001, 28, 8 + len(body)) + body


class Doc:
    """Elements as (tag, [(namespace or None, name, resource id or 0, type, value)], [children])."""

    def __init__(self, root, utf8: bool = False):
        self.strings: list[str] = []
        self.ids: list[int] = []
        self.utf8 = utf8
        self.root = root
        # names with resource ids first: the resource map is indexed by string index
        self._collect_ids(root)

    def _collect_ids(self, element):
        for _ns, name, resource_id, _type, _value in element[1]:
            if resource_id and (name, resource_id) not in zip(self.strings, self.ids):
                self.strings.append(name)
                self.ids.append(resource_id)
        for child in element[2]:
            self._collect_ids(child)

    def ref(self, text: str | None, resource_id: int = 0) -> int:
        if text is None:
            return NO
        if resource_id:
            return next(i for i, (s, r) in enumerate(zip(self.strings, self.ids)) if s == text and r == resource_id)
        for i in range(len(self.ids), len(self.strings)):
            if self.strings[i] == text:
                return i
        self.strings.append(text)
        return len(self.strings) - 1

    def _element(self, element, out: list[bytes]):
        tag, attributes, children = element
        attrs = b""
        for ns, name, resource_id, value_type, value in attributes:
            if value_type == axml.TYPE_STRING:
                value = self.ref(value)
                raw = value
            else:
                raw = NO
            attrs += struct.pack("<IIIHBBI", self.ref(ns), self.ref(name, resource_id), raw, 8, 0, value_type, value)
        ext = struct.pack("<IIHHHHHH", NO, self.ref(tag), 20, 20, len(attributes), 0, 0, 0)
        out.append(struct.pack("<HHIII", 0x0102, 16, 16 + len(ext) + len(attrs), 1, NO) + ext + attrs)
        for child in children:
            self._element(child, out)
        out.append(struct.pack("<HHIIIII", 0x0103, 16, 24, 1, NO, NO, self.ref(tag)))

    def bytes(self) -> bytes:
        nodes: list[bytes] = []
        uri = self.ref(ANDROID[1:-1])
        prefix = self.ref("android")
        nodes.append(struct.pack("<HHIIIII", 0x0100, 16, 24, 1, NO, prefix, uri))
        self._element(self.root, nodes)
        nodes.append(struct.pack("<HHIIIII", 0x0101, 16, 24, 1, NO, prefix, uri))
        resource_map = struct.pack("<HHI", 0x0180, 8, 8 + 4 * len(self.ids)) + \
            b"".join(struct.pack("<I", i) for i in self.ids)
        body = _pool(self.strings, self.utf8) + resource_map + b"".join(nodes)
        return struct.pack("<HHI", 0x0003, 8, 8 + len(body)) + body


A = ANDROID[1:-1]
S, DEC, HEX, BOOL, REF = axml.TYPE_STRING, axml.TYPE_INT_DEC, axml.TYPE_INT_HEX, axml.TYPE_INT_BOOLEAN, axml.TYPE_REFERENCE
NAME, EXPORTED, LABEL, VERSION_CODE, TARGET_SDK = 0x01010003, 0x01010010, 0x01010001, 0x0101021B, 0x01010270


def sample(utf8: bool = False, name_strings: dict[str, str] | None = None):
    n = name_strings or {}
    return Doc(("manifest", [(None, "package", 0, S, "org.example.app"),
                             (A, n.get("versionCode", "versionCode"), VERSION_CODE, DEC, 42),
                             (A, "versionName", 0x0101021C, S, "4.2")],
                [("uses-sdk", [(A, n.get("targetSdkVersion", "targetSdkVersion"), TARGET_SDK, DEC, 33)], []),
                 ("uses-permission", [(A, n.get("name", "name"), NAME, S, "android.permission.CAMERA")], []),
                 ("application", [(A, n.get("label", "label"), LABEL, REF, 0x7F0A0001)],
                  [("activity", [(A, n.get("name", "name"), NAME, S, ".Main"),
                                 (A, n.get("exported", "exported"), EXPORTED, BOOL, 0xFFFFFFFF)], [])])]),
               utf8=utf8)


# -- real manifests -----------------------------------------------------------------------------------------
def _tree(element) -> tuple:
    children = element.children if hasattr(element, "children") else [c for c in element if isinstance(c.tag, str)]
    return element.tag, dict(element.attrib), [_tree(c) for c in children]


def _real_manifests(fixture_builder) -> list[tuple[str, bytes]]:
    apks = [*CORPUS, fixture_builder.build("education"), fixture_builder.build("clean"),
            *fixture_builder.build("split")]
    out = []
    for apk in apks:
        with zipfile.ZipFile(apk) as z:
            out.append((apk.name, z.read("AndroidManifest.xml")))
    return out


def test_same_tree_and_manifest_as_androguard_on_every_real_manifest(fixture_builder):
    """Element by element, attribute by attribute, and then every field the scan reports."""
    from androguard.core.axml import AXMLPrinter
    manifests = _real_manifests(fixture_builder)
    assert len(manifests) >= 5 + len(CORPUS)
    for name, data in manifests:
        ours = parse_axml(data, name)
        theirs = AXMLPrinter(data).get_xml_obj()
        assert _tree(ours) == _tree(theirs), name
        assert parse_manifest(data, name) == _read_manifest(theirs, name), name


@pytest.mark.skipif(not CORPUS, reason="shared corpus not present")
def test_corpus_manifests_have_what_the_scan_needs():
    for apk in CORPUS:
        with zipfile.ZipFile(apk) as z:
            manifest = parse_manifest(z.read("AndroidManifest.xml"), apk.name)
        assert re.fullmatch(r"[A-Za-z][\w.]*", manifest.package), apk.name
        assert manifest.components or manifest.requested, apk.name


def test_attribute_ids_are_the_platforms():
    """Our id -> name table against the real framework-res.apk, as aapt dumps it."""
    if not shutil.which("aapt") or not FRAMEWORK_RES.exists():
        pytest.skip("aapt / android-framework-res not installed (make deb)")
    dump = subprocess.run(["aapt", "dump", "resources", str(FRAMEWORK_RES)], capture_output=True, text=True,
                          timeout=120, check=True).stdout
    platform = {int(i, 16): n for i, n in re.findall(r"spec resource 0x(0101[0-9a-f]{4}) android:attr/(\w+)", dump)}
    assert len(platform) > 1000
    for resource_id, name in ANDROID_ATTRIBUTES.items():
        assert platform.get(resource_id) == name, hex(resource_id)


# -- what aapt would not write ----------------------------------------------------------------------------
@pytest.mark.parametrize("utf8", [False, True])
def test_typed_values_and_both_string_encodings(utf8):
    root = parse_axml(sample(utf8).bytes(), "sample")
    assert root.tag == "manifest" and root.get("package") == "org.example.app"
    assert root.get(ANDROID + "versionCode") == "42" and root.get(ANDROID + "versionName") == "4.2"
    app = root.find("application")
    assert app.get(ANDROID + "label") == "@7F0A0001"
    activity = app.find("activity")
    assert activity.get(ANDROID + "exported") == "true" and activity.get(ANDROID + "name") == ".Main"
    assert [e.tag for e in root.iter()] == ["manifest", "uses-sdk", "uses-permission", "application", "activity"]
    manifest = parse_manifest(sample(utf8).bytes(), "sample")
    assert (manifest.package, manifest.version_code, manifest.target_sdk) == ("org.example.app", "42", 33)
    assert [c.name for c in manifest.components] == ["org.example.app.Main"]


def test_value_rendering_matches_aapt_notation():
    assert render_value(HEX, 0x10) == "0x00000010"
    assert render_value(DEC, 0xFFFFFFFF) == "-1"
    assert render_value(BOOL, 0) == "false"
    assert render_value(REF, 0x01080000) == "@android:01080000"
    assert render_value(axml.TYPE_ATTRIBUTE, 0x7F010002) == "?7F010002"
    assert render_value(0x1C, 0xFF00FF00) == "#FF00FF00"
    assert render_value(axml.TYPE_FLOAT, struct.unpack("<I", struct.pack("<f", 1.5))[0]) == "1.500000"
    assert render_value(axml.TYPE_DIMENSION, (16 << 8) | 1) == "16.000000dip"
    assert render_value(axml.TYPE_NULL, 0) is None


def test_scrambled_attribute_names_resolve_by_resource_id():
    """Packers blank or rename attribute-name strings; the platform goes by the resource map, so do we."""
    scrambled = {"name": "", "exported": "zz", "versionCode": "q", "targetSdkVersion": "x1", "label": "  "}
    manifest = parse_manifest(sample(name_strings=scrambled).bytes(), "packed")
    assert manifest.version_code == "42" and manifest.target_sdk == 33 and manifest.label == "@7F0A0001"
    assert [(c.name, c.exported) for c in manifest.components] == [("org.example.app.Main", True)]
    assert [p.name for p in manifest.requested] == ["android.permission.CAMERA"]


def test_a_name_string_cannot_impersonate_another_attribute():
    """Id says android:description (not in our table), string says "exported": it is not `exported`;
    id says label, string says "name": it is the label. The first of two equal attributes wins."""
    doc = Doc(("manifest", [(None, "package", 0, S, "p.q")],
               [("application", [], [("service", [(A, "name", NAME, S, ".Svc"),
                                                  (A, "exported", 0x01010020, BOOL, 0xFFFFFFFF),
                                                  (A, "name", LABEL, S, "Fake"),
                                                  (A, "exported", EXPORTED, BOOL, 0),
                                                  (A, "exported", EXPORTED, BOOL, 0xFFFFFFFF)], [])])]))
    service = parse_axml(doc.bytes(), "x").find("application").find("service")
    assert service.get(ANDROID + "name") == ".Svc" and service.get(ANDROID + "label") == "Fake"
    assert service.get(ANDROID + "exported") == "false"
    assert service.get(ANDROID + "@01010020") == "true"


# -- hostile files: one InputError, fast --------------------------------------------------------------------
def _refused(data: bytes, match: str = "") -> str:
    with pytest.raises(InputError, match="malformed manifest in evil.apk: .*" + match) as caught:
        parse_axml(data, "evil.apk")
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_every_truncation_of_a_real_manifest_is_refused(education_apk):
    with zipfile.ZipFile(education_apk) as z:
        data = z.read("AndroidManifest.xml")
    for length in range(0, len(data), 7):
        _refused(data[:length])


def test_bogus_string_pools_are_refused():
    good = sample().bytes()
    pool = 8
    # string count far beyond the chunk: would be a 16 GiB offset table
    _refused(good[:pool + 8] + struct.pack("<I", 0xFFFFFFFF) + good[pool + 12:], "string pool of")
    # string data starting past the pool
    _refused(good[:pool + 20] + struct.pack("<I", 0x7FFFFFF0) + good[pool + 24:], "string data starts")
    # a pool header too small for its fields
    _refused(good[:pool + 2] + struct.pack("<H", 12) + good[pool + 4:], "string pool header")
    # no pool at all: the first chunk is retyped to something unknown
    _refused(good[:pool] + struct.pack("<H", 0x0042) + good[pool + 2:], "no string pool")


def test_bogus_string_offsets_read_as_absent_not_as_garbage():
    """One string offset pointing past the pool: Android gets NULL for it, so the attribute is absent
    (here the package name, so the manifest is refused by the manifest reader)."""
    doc = sample()
    data = bytearray(doc.bytes())
    package_index = doc.strings.index("org.example.app")
    struct.pack_into("<I", data, 8 + 28 + 4 * package_index, 0x00FFFFFF)
    assert parse_axml(bytes(data), "evil.apk").get("package") is None
    with pytest.raises(InputError, match="malformed manifest in evil.apk: no package name"):
        parse_manifest(bytes(data), "evil.apk")


def test_chunks_that_would_loop_or_overrun_are_refused():
    good = sample().bytes()
    first_node = 8 + struct.unpack_from("<I", good, 12)[0]
    first_node += struct.unpack_from("<I", good, first_node + 4)[0]        # past the resource map
    for size, why in ((0, "smaller than its"), (6, "smaller than its"), (0x7FFFFFF0, "runs past the end"),
                      (26, "not 4-byte aligned")):
        _refused(good[:first_node + 4] + struct.pack("<I", size) + good[first_node + 8:], why)
    # a document size larger than the data, and one smaller than its own header
    _refused(good[:4] + struct.pack("<I", len(good) + 4) + good[8:], "XML header")
    _refused(good[:2] + struct.pack("<H", 4) + good[4:], "XML header")
    # attributes claimed beyond their element's chunk
    start_element = first_node + 24                                         # after the start-namespace node
    _refused(good[:start_element + 28] + struct.pack("<H", 5000) + good[start_element + 30:], "attributes")


def test_element_count_and_depth_are_bounded(monkeypatch):
    deep = ("manifest", [(None, "package", 0, S, "a.b")], [])
    node = deep
    for _ in range(40):
        child = ("x", [], [])
        node[2].append(child)
        node = child
    data = Doc(deep).bytes()
    assert parse_axml(data, "ok")
    monkeypatch.setattr(axml, "MAX_DEPTH", 20)
    _refused(data, "elements nested more than 20 deep")
    monkeypatch.setattr(axml, "MAX_DEPTH", 1000)
    monkeypatch.setattr(axml, "MAX_ELEMENTS", 30)
    _refused(data, "more than 30 elements")


def test_trailing_bytes_and_content_after_the_root_are_ignored():
    data = sample().bytes()
    assert parse_axml(data + b"\xff" * 13, "x").get("package") == "org.example.app"
    assert _tree(parse_axml(data, "x")) == _tree(parse_axml(data + b"junk", "x"))


def test_the_scan_path_imports_neither_androguard_nor_loguru():
    code = ("import sys, audit.static.scan, audit.static.command, audit.report;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('androguard', 'loguru', 'lxml')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
    # importing audit installs no import hook; quiet_androguard() silences androguard for whoever imports it
    code = ("import sys; n = len(sys.meta_path); import audit; assert len(sys.meta_path) == n;"
            "audit.quiet_androguard(); from androguard.core.axml import AXMLPrinter; from loguru import logger;"
            "print(logger._core.activation_list)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "('androguard.', False)" in out.stdout
