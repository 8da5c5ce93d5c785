#!/usr/bin/env python3
"""Independent check of a .safetensors file, following the format's rules.

Usage: /usr/bin/python3 tests/reference/check_safetensors.py FILE

Part 1 (plain Python: struct + json) checks what the reference implementation
checks, plus what our writer promises:
  - 8-byte little-endian header length N, N <= 100,000,000, 8 + N <= size
  - N is a multiple of 8 and the header starts with '{' (reference writer)
  - the header is a UTF-8 JSON object with no duplicate keys
  - __metadata__ (optional) maps strings to strings
  - each tensor has exactly dtype, shape, data_offsets; a known dtype; a shape
    of non-negative integers; data_offsets [begin, end] with
    end - begin == prod(shape) * itemsize
  - the ranges, sorted, tile the data section exactly (no overlap, no hole)
Part 2: if the `safetensors` package imports (from the interpreter's path or
from <repo>/.deps/python, where `pip install --target .deps/python
safetensors` puts it), load the file with safetensors.numpy and compare every
tensor with the raw bytes.

Prints one line per tensor ("tensor NAME DTYPE [d0, d1]"), the metadata
("metadata KEY=VALUE"), and a line saying whether part 2 ran. Exit status 0
when every check passes, 1 otherwise.
"""
import json
import math
import struct
import sys
from pathlib import Path

DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "F64": 8, "I64": 8, "U64": 8,
}
MAX_HEADER = 100_000_000


class Bad(Exception):
    pass


def no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise Bad(f"duplicate key {key!r} in the header")
        seen[key] = value
    return seen


def is_uint(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def check_plain(blob):
    if len(blob) < 8:
        raise Bad(f"file has {len(blob)} bytes, fewer than 8")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > MAX_HEADER:
        raise Bad(f"header length {n} exceeds {MAX_HEADER}")
    if 8 + n > len(blob):
        raise Bad(f"header length {n} runs past the end of the file ({len(blob)} bytes)")
    if n % 8 != 0:
        raise Bad(f"header length {n} is not a multiple of 8")
    raw = blob[8:8 + n]
    if not raw.startswith(b"{"):
        raise Bad("header does not start with '{'")
    header = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    if not isinstance(header, dict):
        raise Bad("header is not a JSON object")
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise Bad("__metadata__ is not an object of strings")
    ranges = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise Bad(f"tensor {name!r}: expected exactly dtype, shape, data_offsets")
        dtype, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPE_SIZES:
            raise Bad(f"tensor {name!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(is_uint(d) for d in shape):
            raise Bad(f"tensor {name!r}: bad shape {shape!r}")
        if not isinstance(offs, list) or len(offs) != 2 or not all(is_uint(o) for o in offs):
            raise Bad(f"tensor {name!r}: bad data_offsets {offs!r}")
        begin, end = offs
        if begin > end or end > len(data):
            raise Bad(f"tensor {name!r}: data_offsets {offs} outside [0, {len(data)}]")
        if end - begin != math.prod(shape) * DTYPE_SIZES[dtype]:
            raise Bad(f"tensor {name!r}: {end - begin} bytes for {dtype} {shape}")
        ranges.append((begin, end, name))
    cursor = 0
    for begin, end, name in sorted(ranges):
        if begin != cursor:
            raise Bad(f"tensor {name!r} starts at {begin}, expected {cursor} (overlap or hole)")
        cursor = end
    if cursor != len(data):
        raise Bad(f"tensors cover {cursor} bytes of a {len(data)}-byte data section")
    return header, metadata, data


def check_with_package(path, header, metadata, data):
    sys.path.append(str(Path(__file__).resolve().parents[2] / ".deps" / "python"))
    try:
        import numpy as np
        from safetensors import safe_open
        from safetensors.numpy import load_file
    except ImportError as e:
        print(f"safetensors package: not available ({e}), skipped")
        return
    loaded = load_file(path)
    if set(loaded) != set(header):
        raise Bad(f"package sees tensors {sorted(loaded)}, plain check sees {sorted(header)}")
    for name, info in header.items():
        arr = loaded[name]
        begin, end = info["data_offsets"]
        if list(arr.shape) != info["shape"]:
            raise Bad(f"package: tensor {name!r} has shape {arr.shape}, header says {info['shape']}")
        if np.ascontiguousarray(arr).tobytes() != data[begin:end]:
            raise Bad(f"package: tensor {name!r} bytes differ from the raw data section")
    with safe_open(path, framework="numpy") as f:
        if (f.metadata() or {}) != metadata:
            raise Bad(f"package: metadata {f.metadata()} differs from {metadata}")
    print("safetensors package: loaded, all tensors and metadata match")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    path = sys.argv[1]
    try:
        header, metadata, data = check_plain(Path(path).read_bytes())
        for name, info in header.items():
            print(f"tensor {name} {info['dtype']} {info['shape']}")
        for key in sorted(metadata):
            print(f"metadata {key}={metadata[key]}")
        print("plain check: OK")
        check_with_package(path, header, metadata, data)
    except (Bad, ValueError, UnicodeDecodeError) as e:
        print(f"FAIL {path}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
