"""Hostile inputs against the real CLI: wall time, peak memory and the one-line outcome of each.

    .venv/bin/python bench/hostile.py [--only NAME ...] [--timeout S] [--json FILE] [--keep DIR]

Each input is built in a temporary folder (the 1 GiB zip bomb is ~1 MiB on disk) and given to `appaudit` in a
fresh child process (`python -m audit.cli`); the parent measures the child's wall time and its own peak RSS
(os.wait4 returns that child's rusage: ru_maxrss, the same figure resource.getrusage(RUSAGE_CHILDREN) gives
for a single child, without the maximum over earlier children). A child still running after --timeout is
killed and reported as a hang. Expected outcome for every input: exit 2 with exactly one `appaudit: error:`
line (or exit 0 where the input is valid but extreme: the report is written with the bound noted).

Each input is built by a child of its own (`--build NAME DIR`) so that this parent stays small: Linux carries
a process's peak RSS across fork and exec, so a parent that had held the 64 MiB buffers of a bomb builder
would lend its own peak to every later measurement.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MiB = 1024 * 1024
IMEI = "353627075111296"


def _fixture(name: str) -> Path:
    """The same reproducible fixture apps the tests use (tests/fixtures/build.py, loaded by path: importing
    tests/conftest.py would set up a test session's private home)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("appaudit_fixture_build", REPO / "tests" / "fixtures" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return Path(module.build(name))


def _members(apk: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(apk) as archive:
        return {info.filename: archive.read(info.filename) for info in archive.infolist()}


def _rezip(members: dict[str, bytes], path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _har(entries: list[dict]) -> str:
    return json.dumps({"log": {"version": "1.2", "creator": {"name": "bench", "version": "1"}, "entries": entries}})


def _entry(url: str = f"https://a.example/x?imei={IMEI}", headers=(), body: str | None = None,
           encoding: str | None = None) -> dict:
    request = {"method": "POST" if body is not None else "GET", "url": url, "httpVersion": "HTTP/1.1",
               "headers": [{"name": k, "value": v} for k, v in headers], "queryString": [], "cookies": [],
               "headersSize": -1, "bodySize": -1}
    if body is not None:
        request["postData"] = {"mimeType": "application/json", "text": body, **({"encoding": encoding} if encoding else {})}
    return {"startedDateTime": "2026-11-24T10:00:00Z", "time": 1, "request": request,
            "response": {"status": 200, "statusText": "", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                         "content": {"size": 0, "mimeType": ""}, "redirectURL": "", "headersSize": -1,
                         "bodySize": 0}, "cache": {}, "timings": {}}


# -- the inputs: each returns the CLI argv (after `appaudit`) ----------------------------------------------
def zip_bomb_1gib(work: Path) -> list[str]:
    """An APK whose classes.dex inflates to 1 GiB of zeros (1 MiB compressed)."""
    apk = work / "bomb.apk"
    members = _members(_fixture("clean"))
    with zipfile.ZipFile(apk, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("AndroidManifest.xml", members["AndroidManifest.xml"])
        with archive.open("classes.dex", "w", force_zip64=True) as member:
            chunk = b"\0" * MiB
            for _ in range(1024):
                member.write(chunk)
    return ["scan", str(apk)]


def zip_bomb_nested_bundle(work: Path) -> list[str]:
    """An .xapk whose 40 member APKs each inflate a 32 MiB dex: every member passes its own cap, the total
    budget for the app (512 MiB) stops it."""
    inner = io.BytesIO()
    members = _members(_fixture("clean"))
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("AndroidManifest.xml", members["AndroidManifest.xml"])
        archive.writestr("classes.dex", b"dex\n035\0" + b"\0" * (32 * MiB))
    bundle = work / "bomb.xapk"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("manifest.json", json.dumps({"package_name": "org.edukit.calculator"}))
        for index in range(40):
            archive.writestr(f"split_{index}.apk", inner.getvalue())
    return ["scan", str(bundle)]


def zip_many_entries(work: Path) -> list[str]:
    """A central directory of 300 000 empty entries (a bomb of its own: metadata, not data)."""
    apk = work / "entries.apk"
    with zipfile.ZipFile(apk, "w", zipfile.ZIP_STORED) as archive:
        for index in range(300_000):
            archive.writestr(f"e{index}", b"")
    return ["scan", str(apk)]


def zip_path_traversal(work: Path) -> list[str]:
    members = _members(_fixture("clean"))
    members["../../../../tmp/appaudit-escaped.dex"] = b"x"
    return ["scan", str(_rezip(members, work / "traversal.apk"))]


def dex_huge_sizes(work: Path) -> list[str]:
    """Every size field of the dex header at 0x7fffffff and every offset at the end of the file."""
    members = _members(_fixture("education"))
    dex = bytearray(members["classes.dex"])
    for field in range(0x38, 0x70, 8):          # (size, offset) pairs: string_ids .. data
        struct.pack_into("<II", dex, field, 0x7FFFFFFF, len(dex) - 4)
    members["classes.dex"] = bytes(dex)
    return ["scan", str(_rezip(members, work / "dex.apk"))]


def dex_out_of_range_indices(work: Path) -> list[str]:
    """The id tables overwritten with 0xffff / 0xffffffff: every index they hold is out of range."""
    members = _members(_fixture("education"))
    dex = bytearray(members["classes.dex"])
    start = struct.unpack_from("<I", dex, 0x44)[0]   # type_ids_off: type, proto, field, method ids follow
    end = struct.unpack_from("<I", dex, 0x64)[0]     # class_defs_off
    dex[start:end] = b"\xff" * (end - start)
    members["classes.dex"] = bytes(dex)
    return ["scan", str(_rezip(members, work / "indices.apk"))]


def axml_bogus_string_pool(work: Path) -> list[str]:
    """The manifest's string pool claims 0x0fffffff strings, its chunk 4 GiB, its strings far past the end."""
    members = _members(_fixture("education"))
    axml = bytearray(members["AndroidManifest.xml"])
    struct.pack_into("<IIIII", axml, 12, 0xFFFFFFF0, 0x0FFFFFFF, 0, 0, 0x7FFFFFFF)
    members["AndroidManifest.xml"] = bytes(axml)
    return ["scan", str(_rezip(members, work / "axml.apk"))]


def json_100k_deep(work: Path) -> list[str]:
    """A HAR whose request body is JSON nested 100 000 deep, and an identifiers file nested as deep."""
    body = "[" * 100_000 + "]" * 100_000
    har = work / "deep.har"
    har.write_text(_har([_entry(body=body)]))
    ids = work / "ids.json"
    ids.write_text(json.dumps({"device_ids.imei": IMEI}))
    return ["traffic", str(har), "--identifiers", str(ids)]


def identifiers_100k_deep(work: Path) -> list[str]:
    ids = work / "deep-ids.json"
    ids.write_text('{"device_ids.imei": ' + "[" * 100_000 + "]" * 100_000 + "}")
    har = work / "one.har"
    har.write_text(_har([_entry()]))
    return ["traffic", str(har), "--identifiers", str(ids)]


def header_8mib(work: Path) -> list[str]:
    har = work / "header.har"
    har.write_text(_har([_entry(headers=[("X-Big", "A" * (8 * MiB)), ("Cookie", "c=" + "B" * (8 * MiB))])]))
    ids = work / "ids.json"
    ids.write_text(json.dumps({"device_ids.imei": IMEI}))
    return ["traffic", str(har), "--identifiers", str(ids)]


def har_many_tiny_objects(work: Path) -> list[str]:
    """64 MiB of HAR made of 2.7 million tiny header objects: ~12x its size once parsed into Python objects."""
    headers = ",".join(['{"name":"a","value":"b"}'] * 2_700_000)
    har = work / "tiny.har"
    har.write_text('{"log":{"entries":[{"startedDateTime":"2024-01-01T00:00:00Z","request":{"method":"GET",'
                   f'"url":"https://a.example/x?imei={IMEI}","headers":[{headers}]}}}}]}}}}')
    ids = work / "ids.json"
    ids.write_text(json.dumps({"device_ids.imei": IMEI}))
    return ["traffic", str(har), "--identifiers", str(ids)]


def gzip_body_bomb(work: Path) -> list[str]:
    """A request body of 4 MiB gzip that inflates to 4 GiB (in layers: gzip inside base64 inside JSON)."""
    import base64
    import zlib
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunks = [compressor.compress(b"\0" * (64 * MiB)) for _ in range(64)] + [compressor.flush()]
    payload = base64.b64encode(b"".join(chunks)).decode()
    har = work / "gzip.har"
    har.write_text(_har([_entry(body=json.dumps({"blob": payload}))]))
    ids = work / "ids.json"
    ids.write_text(json.dumps({"device_ids.imei": IMEI}))
    return ["traffic", str(har), "--identifiers", str(ids)]


def yaml_alias_bomb(work: Path) -> list[str]:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefghi", "bcdefghij"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    sheet = work / "bomb.yaml"
    sheet.write_text("\n".join(lines) + "\n")
    return ["audit", str(_fixture("clean")), "--datasheet", str(sheet)]


def yaml_flow_at_cap(work: Path) -> list[str]:
    from audit.rulesdata import MAX_YAML_BYTES
    sheet = work / "flow.yaml"
    sheet.write_text("[" + "1," * (MAX_YAML_BYTES // 2 - 2) + "1]")    # just under the cap: parsed, then refused
    return ["audit", str(_fixture("clean")), "--datasheet", str(sheet)]


def datasheet_dev_zero(work: Path) -> list[str]:
    return ["audit", str(_fixture("clean")), "--datasheet", "/dev/zero"]


def mitm_truncated(work: Path) -> list[str]:
    seed = SHARED / "corpus" / "traffic" / "mitmproxy-formats" / "flows_successful_log.mitm"
    if not seed.exists():
        raise FileNotFoundError(seed)
    data = seed.read_bytes()
    flows = work / "cut.mitm"
    flows.write_bytes(data[: len(data) * 2 // 3])
    ids = work / "ids.json"
    ids.write_text(json.dumps({"device_ids.imei": IMEI}))
    return ["traffic", str(flows), "--identifiers", str(ids)]


# -- issue 13 (static side): bounds by construction, nothing leaked, nothing injected, faults as errors -----
# Each returns argv, or {"argv": [...], "env": {...}, "secret": text that must appear in no output}.
def _hostile():
    sys.path.insert(0, str(REPO / "tests"))
    import hostile_builders
    return hostile_builders


def _clean_with(work: Path, name: str, methods: dict | None = None, **parts: bytes) -> Path:
    hb = _hostile()
    members = hb.members(_fixture("clean"))
    members.update(parts)
    return hb.write_apk(work / name, members, methods)


def _compressed_member(work: Path, name: str, method: int, size: int) -> list[str]:
    members = _members(_fixture("clean"))
    apk = work / name
    with zipfile.ZipFile(apk, "w", method) as archive:
        archive.writestr(zipfile.ZipInfo("AndroidManifest.xml"), members["AndroidManifest.xml"],
                         compress_type=zipfile.ZIP_DEFLATED)
        info = zipfile.ZipInfo("classes.dex")
        info.compress_type = method
        with archive.open(info, "w", force_zip64=True) as member:
            chunk = b"\0" * (16 * MiB)
            for _ in range(size // len(chunk)):
                member.write(chunk)
    return ["scan", str(apk)]


def zip_bzip2_member(work: Path) -> list[str]:
    """classes.dex as a bzip2 member inflating to 1 GiB (a few hundred bytes compressed)."""
    return _compressed_member(work, "bzip2.apk", zipfile.ZIP_BZIP2, 1024 * MiB)


def zip_lzma_member(work: Path) -> list[str]:
    return _compressed_member(work, "lzma.apk", zipfile.ZIP_LZMA, 512 * MiB)


def axml_aliased_strings(work: Path) -> list[str]:
    """A 6 MB manifest string aliased by 20 000 attribute values (120 GB if each were decoded)."""
    return ["scan", str(_clean_with(work, "aliased.apk", **{
        "AndroidManifest.xml": _hostile().axml_aliased_strings(3 * MiB, 20_000)})), ]


def axml_overlapping_strings(work: Path) -> list[str]:
    """20 000 string ids, each a 30 000-character suffix of one string."""
    return ["scan", str(_clean_with(work, "overlap.apk", **{
        "AndroidManifest.xml": _hostile().axml_aliased_strings(30_000, 20_000, overlap=True)}))]


def dex_long_url_string(work: Path) -> list[str]:
    """One 8 MB string of host-like words (a candidate every ~8 bytes)."""
    return ["scan", str(_clean_with(work, "longurl.apk", **{"classes.dex": _hostile().dex_long_url_string(8 * MiB)}))]


def dex_overlapping_strings(work: Path) -> list[str]:
    """20 000 string ids pointing into one 4 MB string of host-like words."""
    return ["scan", str(_clean_with(work, "overlap-dex.apk", **{
        "classes.dex": _hostile().dex_overlapping_strings(4 * MiB, 20_000)}))]


def dex_shared_interfaces(work: Path) -> list[str]:
    """65 535 classes sharing one interfaces list of 65 535 types."""
    return ["scan", str(_clean_with(work, "interfaces.apk", **{"classes.dex": _hostile().dex_shared_interfaces(65_535)}))]


def arsc_sparse_offset16(work: Path) -> list[str]:
    """A stored resources.arsc whose sparse OFFSET16 type chunk claims 2^31 entries over 60 MiB."""
    return ["scan", str(_clean_with(work, "sparse.apk", {"resources.arsc": zipfile.ZIP_STORED}, **{
        "resources.arsc": _hostile().arsc_sparse_claiming(0x7FFFFFFF, 60 * MiB)}))]


def _ids(work: Path) -> Path:
    ids = work / "ids.json"
    ids.write_text(json.dumps({"device_ids.imei": IMEI}))
    return ids


def leak_dns_label(work: Path) -> dict:
    har = work / "dns.har"
    har.write_text(_har([_entry(url=f"https://{IMEI}.t.example/x")]))
    return {"argv": ["traffic", str(har), "--identifiers", str(_ids(work)), "--format", "md"], "secret": IMEI}


def leak_percent_path(work: Path) -> dict:
    encoded = "".join(f"%{ord(c):02X}" for c in IMEI)
    har = work / "pct.har"
    har.write_text(_har([_entry(url=f"https://a.example/u/{encoded}/x")]))
    return {"argv": ["traffic", str(har), "--identifiers", str(_ids(work))], "secret": IMEI}


def leak_crowded_query(work: Path) -> dict:
    har = work / "crowded.har"
    har.write_text(_har([_entry(url=f"https://a.example/q?id={IMEI}", body=("imei=" + IMEI + "&") * 300)]))
    return {"argv": ["traffic", str(har), "--identifiers", str(_ids(work))], "secret": IMEI}


def redaction_20k_values(work: Path) -> dict:
    """200 requests, 20 000 identifier values (the one-pass redaction replaces a pass per value)."""
    values = [f"{350000000000000 + i * 7919}" for i in range(20_000)]
    har = work / "many.har"
    har.write_text(_har([_entry(url=f"https://a{i}.example/x?id={values[i]}") for i in range(200)]))
    ids = work / "ids.json"
    ids.write_text(json.dumps({"device_ids.imei": values}))
    return {"argv": ["traffic", str(har), "--identifiers", str(ids)], "secret": values[7]}


def _bad_key(work: Path, content: str) -> dict:
    home = work / "home"
    home.mkdir(exist_ok=True)
    (home / "redaction.key").write_text(content)
    har = work / "one.har"
    har.write_text(_har([_entry()]))
    return {"argv": ["traffic", str(har), "--identifiers", str(_ids(work))], "env": {"APPAUDIT_HOME": str(home)},
            "secret": IMEI}


def key_empty(work: Path) -> dict:
    return _bad_key(work, "")


def key_one_byte(work: Path) -> dict:
    return _bad_key(work, "ab")


def key_not_hex(work: Path) -> dict:
    return _bad_key(work, "z" * 64)


def inject_error_line(work: Path) -> list[str]:
    bad = work / "evil\x1b[2J\x1b[H all checks passed\u202e.apk"
    bad.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return ["scan", str(bad)]


def inject_markdown(work: Path) -> dict:
    har = work / "inject.har"
    har.write_text(_har([_entry(url="https://a.example/x\r# all checks passed")]))
    return {"argv": ["traffic", str(har), "--identifiers", str(_ids(work)), "--format", "md",
                     "--app", "com.x\r# ok <script>alert(1)</script>\x1b[2J"], "forbid": ["\x1b", "\r", "\n# ok", "\n# all checks"]}


def output_full_disk(work: Path) -> list[str]:
    return ["scan", str(_fixture("clean")), "-o", "/dev/full"]


def output_inside_capture(work: Path) -> list[str]:
    run = work / "run"
    run.mkdir(exist_ok=True)
    (run / "flows.har").write_text(_har([_entry()]))
    return ["traffic", str(run), "--identifiers", str(_ids(work)), "-o", str(run / "flows.mitm")]


def yaml_duplicate_key(work: Path) -> list[str]:
    sheet = work / "dup.yaml"
    sheet.write_text("app: org.edukit.calculator\ncollected:\n  - device_ids.imei\ncollected: []\n")
    return ["audit", str(_fixture("clean")), "--datasheet", str(sheet)]


def watchdog_time_limit(work: Path) -> list[str]:
    """The watchdog's time limit on a scan that takes seconds: one error line (a partial report if the
    call-site search was under way)."""
    return dex_shared_interfaces(work) + ["--time-limit", "0.5"]


def watchdog_memory_limit(work: Path) -> list[str]:
    """The watchdog's memory limit far below what the scan needs (the 8 MB string scan: ~50 MiB): MemoryError,
    one error line."""
    return dex_long_url_string(work) + ["--memory-limit", "8"]


STATIC_CLASSES = {
    "zip-bzip2-member-1gib": zip_bzip2_member, "zip-lzma-member-512mib": zip_lzma_member,
    "axml-aliased-strings": axml_aliased_strings, "axml-overlapping-strings": axml_overlapping_strings,
    "dex-long-url-string-8mb": dex_long_url_string, "dex-overlapping-strings": dex_overlapping_strings,
    "dex-shared-interfaces": dex_shared_interfaces, "arsc-sparse-offset16": arsc_sparse_offset16,
    "leak-dns-label": leak_dns_label, "leak-percent-path": leak_percent_path,
    "leak-crowded-query": leak_crowded_query, "redaction-20k-values": redaction_20k_values,
    "key-empty": key_empty, "key-one-byte": key_one_byte, "key-not-hex": key_not_hex,
    "inject-error-line": inject_error_line, "inject-markdown": inject_markdown,
    "output-full-disk": output_full_disk, "output-inside-capture": output_inside_capture,
    "yaml-duplicate-key": yaml_duplicate_key, "watchdog-time-limit": watchdog_time_limit,
    "watchdog-memory-limit": watchdog_memory_limit,
}




# -- traffic bounds (issue 13, traffic part): each class ends in a report that is `partial` and names the limit --
def _pcap_packets(path: Path, packets) -> Path:
    """A pcap (Ethernet/IPv4/TCP) of (stream number, payload) client packets, streams told apart by port."""
    seq: dict[int, int] = {}
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for number, (stream, payload) in enumerate(packets):
            sport = 10000 + stream % 50000
            dst = bytes([10, 1, (stream // 50000) % 256, 1])
            tcp = struct.pack("!HHIIBBHHH", sport, 80, seq.get(stream, 1000), 1, 5 << 4, 0x18, 65535, 0, 0)
            seq[stream] = seq.get(stream, 1000) + len(payload)
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), number & 0xFFFF, 0, 64, 6, 0,
                             bytes([10, 0, 0, 2]), dst)
            frame = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00" + ip + tcp + payload
            out.write(struct.pack("<IIII", 1_700_000_000 + number // 1000, number % 1000, len(frame), len(frame)))
            out.write(frame)
    return path


def _http_get(query: str = "") -> bytes:
    return f"GET /collect{query} HTTP/1.1\r\nHost: t.example\r\n\r\n".encode()


def _traffic_case(work: Path, capture: Path) -> list[str]:
    ids = work / "ids.json"
    ids.write_text(json.dumps({"device_ids.imei": IMEI}))
    return ["traffic", str(capture), "--identifiers", str(ids), "-o", str(work / "report.json")]


def har_million_entries(work: Path) -> list[str]:
    """10^6 tiny entries, the IMEI in the last one only (past the 200 000 requests read per capture)."""
    har = work / "million.har"
    with open(har, "w") as out:
        out.write('{"log":{"entries":[')
        tiny = '{"request":{"method":"GET","url":"https://a.example/%d"}},'
        for start in range(0, 999_999, 10_000):
            out.write("".join(tiny % i for i in range(start, min(start + 10_000, 999_999))))
        out.write(json.dumps(_entry()) + "]}}")
    return _traffic_case(work, har)


def har_500mb_base64(work: Path) -> list[str]:
    """One entry whose base64 body is ~480 MB (the IMEI at its start): memory follows the entry, not more."""
    har = work / "b64.har"
    head = json.dumps(_entry(body="", encoding="base64"))
    before, after = head.split('"text": ""', 1)
    block = __import__("base64").b64encode(os.urandom(3 * MiB // 4 * 3))  # 3 MiB of base64 text
    with open(har, "w") as out:
        out.write('{"log":{"entries":[' + before + '"text": "')
        out.write(__import__("base64").b64encode(f"imei={IMEI}&".encode() + b"x" * 33).decode())
        for _ in range(160):
            out.write(block.decode())
        out.write('"' + after + "]}}")
    return _traffic_case(work, har)


def har_double_gzip(work: Path) -> list[str]:
    """5 000 requests whose body is gzip of gzip of 1 GiB of zeros (a few KiB each), then one plain IMEI."""
    import base64
    import zlib
    inner = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join([inner.compress(b"\0" * (64 * MiB)) for _ in range(16)] + [inner.flush()])
    outer = __import__("gzip").compress(__import__("gzip").compress(bomb))
    text = base64.b64encode(outer).decode()
    entry = json.dumps(_entry(url="https://a.example/up", headers=[("Content-Encoding", "gzip")], body=text,
                              encoding="base64"))
    har = work / "double-gzip.har"
    with open(har, "w") as out:
        out.write('{"log":{"entries":[' + ",".join([entry] * 5000) + "," + json.dumps(_entry()) + "]}}")
    return _traffic_case(work, har)


def har_brotli_bomb(work: Path) -> list[str]:
    """A small HAR whose brotli body expands to 1 GiB (the IMEI after it): bounded output per step and in all."""
    import base64
    import brotli
    body = brotli.compress(b"\0" * (1024 * MiB) + f"imei={IMEI}".encode(), quality=5)
    har = work / "brotli.har"
    har.write_text(_har([_entry(url="https://a.example/up", headers=[("Content-Encoding", "br")],
                                body=base64.b64encode(body).decode(), encoding="base64")]))
    return _traffic_case(work, har)


def har_twelve_layers(work: Path) -> list[str]:
    """The IMEI under 12 base64 layers (the decoder peels 8): the report says which layer limit left it."""
    import base64
    nested = json.dumps({"imei": IMEI}).encode()
    for _ in range(12):
        nested = base64.b64encode(nested)
    har = work / "layers.har"
    har.write_text(_har([_entry(url="https://a.example/up", body=nested.decode())]))
    return _traffic_case(work, har)


def har_body_beyond_32mib(work: Path) -> list[str]:
    """The IMEI after 33 MiB of a body (32 MiB are searched)."""
    har = work / "body.har"
    har.write_text(_har([_entry(url="https://a.example/up", body="a" * (33 * MiB) + IMEI)]))
    return _traffic_case(work, har)


def har_many_places(work: Path) -> list[str]:
    """One body with the IMEI at 500 places, and in the URL query (reported at the first 200 places)."""
    har = work / "places.har"
    har.write_text(_har([_entry(body=json.dumps({f"k{i}": IMEI for i in range(500)}))]))
    return _traffic_case(work, har)


def pcap_5001_streams(work: Path) -> list[str]:
    """5 001 TCP streams, the IMEI in the last one (5 000 are read)."""
    packets = [(i, _http_get(f"?n={i}")) for i in range(5000)] + [(5000, _http_get(f"?imei={IMEI}"))]
    return _traffic_case(work, _pcap_packets(work / "streams.pcap", packets))


def pcap_last_packet_cut(work: Path) -> list[str]:
    """A pcap whose last packet (carrying the IMEI) is cut short."""
    pcap = _pcap_packets(work / "cut.pcap", [(0, _http_get("?n=1")), (1, _http_get(f"?imei={IMEI}"))])
    pcap.write_bytes(pcap.read_bytes()[:-20])
    return _traffic_case(work, pcap)


def pcap_300mb_stream(work: Path) -> list[str]:
    """One TCP stream uploading 300 MB (the IMEI in its first request): held per stream, not as a hex dump."""
    size = 300 * MiB
    head = f"POST /up?imei={IMEI} HTTP/1.1\r\nHost: t.example\r\nContent-Length: {size}\r\n\r\n".encode()
    chunk = os.urandom(60_000)
    packets = [(0, head)] + [(0, chunk) for _ in range(size // len(chunk))]
    return _traffic_case(work, _pcap_packets(work / "big.pcap", packets))


TRAFFIC_CASES: dict[str, Callable[[Path], list[str]]] = {
    "har-1m-entries": har_million_entries, "har-500mb-base64": har_500mb_base64,
    "har-double-gzip-5k": har_double_gzip, "har-brotli-bomb-1gib": har_brotli_bomb,
    "har-12-layers": har_twelve_layers, "har-body-33mib": har_body_beyond_32mib,
    "har-500-places": har_many_places, "pcap-5001-streams": pcap_5001_streams,
    "pcap-last-packet-cut": pcap_last_packet_cut, "pcap-300mb-stream": pcap_300mb_stream,
}


def traffic_outcome(cli: list[str]) -> str:
    """For a traffic case: whether the report is partial, the limits it names, and whether the IMEI was found.
    Read by a child: a report of 200 000 requests read here would raise this parent's peak RSS, which every
    later case would inherit (see the module docstring)."""
    if "-o" not in cli or not Path(cli[cli.index("-o") + 1]).is_file():
        return ""
    summary = ("import json, sys; r = json.load(open(sys.argv[1])); "
               "found = any(t.get('data_type') == 'device_ids.imei' for t in r.get('transmissions', [])); "
               "limits = sorted({h['limit'] for h in r.get('limits', [])}); "
               "print(f\"partial={r.get('partial')} limits={limits} imei found={found}\")")
    done = subprocess.run([sys.executable, "-c", summary, cli[cli.index("-o") + 1]], capture_output=True, text=True)
    return done.stdout.strip()


CASES: dict[str, Callable[[Path], list[str]]] = {
    "zip-bomb-1gib": zip_bomb_1gib, "zip-bomb-nested-bundle": zip_bomb_nested_bundle,
    "zip-300k-entries": zip_many_entries, "zip-path-traversal": zip_path_traversal,
    "dex-huge-sizes": dex_huge_sizes, "dex-out-of-range-indices": dex_out_of_range_indices,
    "axml-bogus-string-pool": axml_bogus_string_pool, "json-body-100k-deep": json_100k_deep,
    "identifiers-100k-deep": identifiers_100k_deep, "header-8mib": header_8mib, "har-64mib-tiny-objects": har_many_tiny_objects,
    "gzip-body-bomb-4gib": gzip_body_bomb, "yaml-alias-bomb": yaml_alias_bomb, "yaml-flow-at-cap": yaml_flow_at_cap,
    "datasheet-dev-zero": datasheet_dev_zero, "mitm-truncated": mitm_truncated,
    **STATIC_CLASSES,
}
CASES.update(TRAFFIC_CASES)


def run_case(case: list[str] | dict, timeout: float) -> dict:
    spec = case if isinstance(case, dict) else {"argv": case}
    argv = spec["argv"]
    env = dict(os.environ, APPAUDIT_HOME=os.environ.get("APPAUDIT_HOME", tempfile.mkdtemp(prefix="appaudit-home-")))
    env.update(spec.get("env", {}))
    start = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "audit.cli", *argv], stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, cwd=REPO, env=env, start_new_session=True)
        hung = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                hung = True
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - start
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        out.seek(0)
        stdout = out.read().decode("utf-8", "replace")
    lines = stderr.strip().splitlines()
    clean = (not hung and (proc.returncode == 0 or (proc.returncode == 2 and len(lines) == 1
                                                   and lines[0].startswith("appaudit: error:")
                                                   and "unexpected" not in lines[0])))
    leaked = [s for s in [spec.get("secret"), *spec.get("forbid", ())] if s and (s in stdout or s in stderr)]
    leaked += [c for c in ("\x1b", "\r", "\u202e") if c in stderr]      # nothing reaches the terminal raw
    return {"exit": None if hung else proc.returncode, "hung": hung, "seconds": round(wall, 2),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "clean": clean and not leaked,
            "leaked": [repr(x) if len(x) < 8 else x[:3] + "..." for x in leaked],
            "partial_by": _partial_by(stdout),
            "message": (lines[-1] if lines else "")[:160]}


def _partial_by(stdout: str) -> str:
    """Which limit marked a JSON report partial: the first warning or note naming one."""
    try:
        report = json.loads(stdout)
    except ValueError:
        return ""
    if not isinstance(report, dict) or not (report.get("partial") or any(c.get("partial") for c in
                                                                          report.get("captures") or ())):
        return ""
    texts = [*(report.get("warnings") or ()), *(report.get("notes") or ())]
    return (texts[0] if texts else "partial")[:100]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(CASES), help="run these inputs only")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a case counts as a hang")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--keep", metavar="DIR", help="build the inputs here and keep them")
    parser.add_argument("--build", nargs=2, metavar=("NAME", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build:   # child: build one input, print the CLI arguments for it
        name, folder = args.build
        try:
            print(json.dumps(CASES[name](Path(folder))))
        except FileNotFoundError as exc:
            print(json.dumps({"missing": str(exc)}))
        return 0
    names = args.only or list(CASES)
    results = {}
    with tempfile.TemporaryDirectory(prefix="appaudit-hostile-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        print(f"{'input':28} {'exit':>4} {'wall s':>7} {'peak MiB':>9}  outcome")
        for name in names:
            work = root / name
            work.mkdir(exist_ok=True)
            built = subprocess.run([sys.executable, __file__, "--build", name, str(work)], capture_output=True,
                                   text=True, cwd=REPO)
            if built.returncode != 0:
                print(f"{name:28} could not be built: {built.stderr.strip().splitlines()[-1:]}")
                continue
            cli = json.loads(built.stdout.strip().splitlines()[-1])
            if isinstance(cli, dict) and "missing" in cli:
                print(f"{name:28} skipped: {cli['missing']} not present")
                continue
            result = run_case(cli, args.timeout)
            results[name] = result
            outcome = "HANG (killed)" if result["hung"] else ("ok  " if result["clean"] else "BAD ") + result["message"]
            if result["leaked"]:
                outcome += f" LEAKED {result['leaked']}"
            if result["partial_by"]:
                outcome += f" [partial: {result['partial_by']}]"
            if name in TRAFFIC_CASES:
                result["traffic"] = traffic_outcome(cli)
                outcome += " " + result["traffic"]
            print(f"{name:28} {str(result['exit']):>4} {result['seconds']:7.2f} {result['peak_rss_mib']:9.1f}  "
                  f"{outcome}", flush=True)
        escaped = Path("/tmp/appaudit-escaped.dex")
        if escaped.exists():
            print("BAD: zip-path-traversal wrote /tmp/appaudit-escaped.dex")
            results["zip-path-traversal"]["clean"] = False
    worst = max(results.items(), key=lambda kv: kv[1]["peak_rss_mib"], default=None)
    if worst:
        print(f"worst peak RSS: {worst[1]['peak_rss_mib']} MiB ({worst[0]}); "
              f"slowest: {max(r['seconds'] for r in results.values()):.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0 if all(r["clean"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
