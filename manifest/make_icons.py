"""Draw the two Teams app icons as PNG files, with the standard library only.

    python manifest/make_icons.py            # writes manifest/color.png and manifest/outline.png

- `color.png`: 192×192, RGB, a white bone with a fracture line on the accent colour.
- `outline.png`: 32×32, RGBA, the same bone in white on a transparent background (Teams
  requires the outline icon to be white and transparent; edges are white with partial alpha).

The PNGs are committed; run this again only to change the drawing. The accent colour is the
manifest's `accentColor` (bot/manifest.py, ACCENT_COLOR).
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

ACCENT = (0x1D, 0x6A, 0x96)  # #1D6A96
WHITE = (0xFF, 0xFF, 0xFF)
SUPERSAMPLE = 4


def _bone(x: float, y: float) -> bool:
    """Whether the point (x, y) of the unit square lies on the bone (y grows downwards)."""
    # Shaft from lower left to upper right, in coordinates along (u) and across (v) it.
    cx, cy = 0.5, 0.5
    d = 1 / math.sqrt(2)
    u = (x - cx) * d - (y - cy) * d
    v = (x - cx) * d + (y - cy) * d
    half = 0.27  # half the shaft length
    shaft = abs(u) <= half and abs(v) <= 0.075
    knob_r = 0.095
    knobs = any(
        (u - end) ** 2 + (v - side) ** 2 <= knob_r**2
        for end in (-half, half)
        for side in (-0.075, 0.075)
    )
    if not (shaft or knobs):
        return False
    # The fracture: a zigzag gap across the middle of the shaft.
    tooth = 0.05
    zig = 0.025 * (1 - 4 * abs((v / tooth) % 1 - 0.5))
    return abs(u - zig) > 0.018


def _coverage(size: int, inset: float, shape: Callable[[float, float], bool]) -> list[list[float]]:
    """Share of each pixel covered by `shape`, drawn in the square inset by `inset`."""
    span = 1 - 2 * inset
    rows = []
    for py in range(size):
        row = []
        for px in range(size):
            hits = 0
            for sy in range(SUPERSAMPLE):
                for sx in range(SUPERSAMPLE):
                    x = ((px + (sx + 0.5) / SUPERSAMPLE) / size - inset) / span
                    y = ((py + (sy + 0.5) / SUPERSAMPLE) / size - inset) / span
                    hits += shape(x, y)
            row.append(hits / SUPERSAMPLE**2)
        rows.append(row)
    return rows


def _png(width: int, height: int, color_type: int, rows: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every scanline
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def color_icon() -> bytes:
    """192×192 RGB: white bone on the accent colour."""
    rows = []
    for cov_row in _coverage(192, 0.18, _bone):
        row = bytearray()
        for c in cov_row:
            row += bytes(round(a + (w - a) * c) for a, w in zip(ACCENT, WHITE, strict=True))
        rows.append(bytes(row))
    return _png(192, 192, 2, rows)


def outline_icon() -> bytes:
    """32×32 RGBA: white bone, transparent elsewhere."""
    rows = []
    for cov_row in _coverage(32, 0.02, _bone):
        row = bytearray()
        for c in cov_row:
            row += bytes((*WHITE, round(255 * c)))
        rows.append(bytes(row))
    return _png(32, 32, 6, rows)


def main() -> int:
    here = Path(__file__).resolve().parent
    (here / "color.png").write_bytes(color_icon())
    (here / "outline.png").write_bytes(outline_icon())
    print(f"wrote {here / 'color.png'} and {here / 'outline.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
