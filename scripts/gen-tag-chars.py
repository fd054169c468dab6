#!/usr/bin/env python3
"""gen-tag-chars.py — prints the code point table s3/tagging.c checks tag text
against: the ranges of Unicode's letters, numbers and separators (general
categories L*, N* and Z*, the \\p{L}\\p{Z}\\p{N} of AWS's tag pattern), merged,
as the {lo, hi} pairs of a C array (no trailing comma, so clang-format packs
them). Paste the output over the table between the GENERATED and END
GENERATED comments in src/s3/tagging.c, then run `make format`.

The table follows the Unicode version of the running Python's unicodedata
(printed in the comment); rerun it with a newer Python to move it on.
"""
import unicodedata

ranges = []
start = None
for cp in range(0x110000):
    ok = unicodedata.category(chr(cp))[0] in "LNZ"
    if ok and start is None:
        start = cp
    elif not ok and start is not None:
        ranges.append((start, cp - 1))
        start = None
if start is not None:
    ranges.append((start, 0x10FFFF))

print(f"/* Unicode {unicodedata.unidata_version}: {len(ranges)} ranges of L*, N* and Z*. */")
pairs = [f"{{0x{lo:X}, 0x{hi:X}}}" for lo, hi in ranges]
print("static const uint32_t lnz[][2] = {")
for i in range(0, len(pairs), 4):
    tail = "," if i + 4 < len(pairs) else ""
    print("\t" + ", ".join(pairs[i : i + 4]) + tail)
print("};")
