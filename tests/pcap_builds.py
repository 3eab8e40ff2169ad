"""Small classic pcap files written in the tests: Ethernet/IPv4/TCP packets carrying what a client sent."""
from __future__ import annotations

import struct
from pathlib import Path

MAX_PACKET_PAYLOAD = 60_000


def write_pcap(packets: list[tuple[str, int, str, int, int, bytes]], path: Path) -> Path:
    """A classic pcap of Ethernet/IPv4/TCP packets: (src, sport, dst, dport, seq, payload) each, PSH|ACK."""
    def ip(text: str) -> bytes:
        return bytes(int(p) for p in text.split("."))

    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for number, (src, sport, dst, dport, seq, payload) in enumerate(packets):
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, 0x18, 65535, 0, 0)
        length = 20 + len(tcp) + len(payload)
        ipv4 = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, number, 0, 64, 6, 0, ip(src), ip(dst))
        frame = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ipv4 + tcp + payload
        out.append(struct.pack("<IIII", 1_700_000_000 + number, 0, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


def one_stream_pcap(payload: bytes, path: Path, port: int = 80) -> Path:
    """A pcap of one client TCP stream 10.0.0.1:40000 -> 10.0.0.2:port, cut into packets of 60 000 bytes."""
    return write_pcap([("10.0.0.1", 40000, "10.0.0.2", port, 1 + start, payload[start:start + MAX_PACKET_PAYLOAD])
                       for start in range(0, len(payload), MAX_PACKET_PAYLOAD)], path)
