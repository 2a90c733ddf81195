#!/usr/bin/env python3
"""Rewrites the CRCs in a trace file so that a reader that checks them sees
what the libFuzzer build (which does not) saw.

trace_reader_fuzz is compiled with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION,
so TraceReader skips its CRC checks there and the inputs libFuzzer finds
mostly have wrong CRCs. The replay test (trace_reader_fuzz_replay, built like
the rest of the tree) does check them, and would stop at the first mismatch.
Run this on an input before adding it to fuzz/corpus/trace_reader_fuzz/:

    fuzz/fix_crcs.py crash-1234 fuzz/corpus/trace_reader_fuzz/crash_whatever.flt

It walks the file as trace/reader.cc does (docs/trace-format.md):
file header (CRC32 of all but its last 4 bytes, in its last 4 bytes), then
24-byte block headers (magic "FLBK", type 1..3, codec 0..1, stored/raw
lengths <= 16 MiB, equal if stored) each followed by `stored` payload bytes;
where no block header is, it scans byte by byte for the next one, like the
reader. It sets payload_crc (offset 16) and header_crc (offset 20) of every
block it reaches and leaves all other bytes as they are.

Only blocks are walked, never the records inside them, so it serves trace
format versions 1 and 2 alike (the reader reads both).
"""
import struct
import sys
import zlib

FILE_MAGIC = b"FLTRACE\0"
BLOCK_MAGIC = b"FLBK"
HEADER_FIXED = 48
MAX_HEADER = 1 << 20
BLOCK_HEADER = 24
MAX_BLOCK = 16 << 20


def le32(b, off):
    return struct.unpack_from("<I", b, off)[0]


def block_header_ok(b, off):
    """ValidBlockHeader() without its CRC check."""
    if b[off:off + 4] != BLOCK_MAGIC:
        return False
    btype, codec = b[off + 4], b[off + 5]
    stored, raw = le32(b, off + 8), le32(b, off + 12)
    if btype < 1 or btype > 3 or codec > 1:
        return False
    if stored > MAX_BLOCK or raw > MAX_BLOCK:
        return False
    return not (codec == 0 and stored != raw)


def fix(b):
    if len(b) < HEADER_FIXED or b[:8] != FILE_MAGIC:
        return 0
    size = le32(b, 12)
    if size < HEADER_FIXED + 16 or size > MAX_HEADER or size > len(b):
        return 0
    struct.pack_into("<I", b, size - 4, zlib.crc32(b[:size - 4]))
    fixed, pos = 1, size
    while pos + BLOCK_HEADER <= len(b):
        if not block_header_ok(b, pos):
            pos += 1
            while pos + BLOCK_HEADER <= len(b) and not block_header_ok(b, pos):
                pos += 1
            if pos + BLOCK_HEADER > len(b):
                break
        stored = le32(b, pos + 8)
        if pos + BLOCK_HEADER + stored > len(b):
            break  # cut off inside the payload: the reader stops here
        payload = b[pos + BLOCK_HEADER:pos + BLOCK_HEADER + stored]
        struct.pack_into("<I", b, pos + 16, zlib.crc32(payload))
        struct.pack_into("<I", b, pos + 20, zlib.crc32(b[pos:pos + 20]))
        fixed += 1
        pos += BLOCK_HEADER + stored
    return fixed


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: fix_crcs.py INPUT [OUTPUT]  (OUTPUT defaults to INPUT)")
    with open(sys.argv[1], "rb") as f:
        b = bytearray(f.read())
    n = fix(b)
    with open(sys.argv[-1], "wb") as f:
        f.write(b)
    print(f"{sys.argv[-1]}: {n} CRC-covered parts set ({len(b)} bytes)")


if __name__ == "__main__":
    main()
