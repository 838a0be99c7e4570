"""A tiny pure-Python baseline JPEG writer for the sandbox image CDN.

It writes a flat grey square of the requested size: one 8-bit component, all quantisation steps 1, a
two-symbol DC Huffman table (category 0 and the category of the first block's DC) and a one-symbol AC
table (EOB). The first block carries the grey level; every other block is "DC diff 0, EOB" (2 bits), so
a 500x500 image is about 1 KB. A COM segment carries the image id, so every image has its own bytes.
"""

from __future__ import annotations

import struct
from functools import lru_cache


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload


class _BitWriter:
    def __init__(self) -> None:
        self._out = bytearray()
        self._acc = 0
        self._n = 0

    def write(self, value: int, length: int) -> None:
        for shift in range(length - 1, -1, -1):
            self._acc = (self._acc << 1) | ((value >> shift) & 1)
            self._n += 1
            if self._n == 8:
                self._flush_byte()

    def _flush_byte(self) -> None:
        self._out.append(self._acc)
        if self._acc == 0xFF:
            self._out.append(0x00)  # byte stuffing
        self._acc = 0
        self._n = 0

    def finish(self) -> bytes:
        if self._n:
            pad = 8 - self._n
            self.write((1 << pad) - 1, pad)  # pad with 1 bits
        return bytes(self._out)


@lru_cache(maxsize=256)
def make_jpeg(width: int, height: int, grey: int = 200, comment: str = "") -> bytes:
    """Return a valid baseline JPEG (FFD8 … FFD9) of a flat grey ``width`` x ``height`` square."""
    if not (1 <= width <= 4096 and 1 <= height <= 4096):
        raise ValueError("JPEG side must be 1..4096")
    dc = (max(1, min(255, grey)) - 128) * 8 or 8
    category = abs(dc).bit_length()
    extra = dc if dc > 0 else dc + (1 << category) - 1  # JPEG one's-complement for negatives
    blocks = ((width + 7) // 8) * ((height + 7) // 8)

    bits = _BitWriter()
    bits.write(0b10, 2)  # DC symbol "category" (code 10)
    bits.write(extra, category)
    bits.write(0, 1)  # AC EOB (code 0)
    for _ in range(blocks - 1):
        bits.write(0, 1)  # DC diff 0 (code 0)
        bits.write(0, 1)  # EOB
    scan = bits.finish()

    dc_counts = bytes([1, 1] + [0] * 14)
    ac_counts = bytes([1] + [0] * 15)
    parts = [
        b"\xff\xd8",
        _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
        _segment(0xFE, comment.encode("utf-8")[:60_000] or b"sandbox"),
        _segment(0xDB, b"\x00" + bytes([1] * 64)),
        _segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"),
        _segment(0xC4, b"\x00" + dc_counts + bytes([0, category])),
        _segment(0xC4, b"\x10" + ac_counts + b"\x00"),
        _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
        scan,
        b"\xff\xd9",
    ]
    return b"".join(parts)
