"""Does a batch of split-file lines hold text that may be a value training cannot use?

The Python loops' test, on every batch as it streams (split.finisher); the C loop makes the
same one over its output (_fastsplit.c), so a clean extract pays one pass over its bytes and
the warehouse runs the model's query once. A yes is confirmed, and named, by
extract_values.check.
"""

from __future__ import annotations

import re

# Every byte of a clean line: COPY writes PostgreSQL's shortest exact float text and plain
# numerics, an empty field for NULL. `Infinity`, `NaN` and a large exponent (`e+39`) each
# need another byte. bytes.translate deleting these is one C pass (about 0.2 s for 1M rows x
# 11 columns here, where three bytes.find calls took 1.8 s).
CLEAN = b"0123456789.,-e\n"
# A numeric prints every digit, without an exponent (PostgreSQL docs, "Arbitrary Precision
# Numbers"): 39 digits in a row may be 10^38 or more, beyond float32's 3.4e38, though every
# byte is clean. PostgreSQL prints no leading zeros, so shorter runs are inside the range.
# Found as 39 zeros once every digit is a zero: two C passes, where a regular expression
# took 40 times as long as `CLEAN`'s.
DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"0" * 9)
LONG = b"0" * 39
# A line whose label (the first field) is not exactly 0 or 1, after a newline.
NOT_ZERO_ONE = re.compile(rb"\n(?![01],)")


def odd(blob: bytes | memoryview, binary: bool) -> bool:
    """True when the lines (label first, each ending in a newline) may hold a value outside
    float32's finite range, an infinity, a NaN, or for `binary` a label other than 0 and 1.
    Never misses one; may say yes for a harmless one (1e+20, a NaN feature, a label 1.0)."""
    data = bytes(blob)
    if not data:
        return False
    if data.translate(None, CLEAN) or LONG in data.translate(DIGITS_AS_ZERO):
        return True
    if binary:
        return data[:2] not in (b"0,", b"1,") or bool(NOT_ZERO_ONE.search(data, 0, len(data) - 1))
    return False
