#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/):
a few valid files and a few broken ones, each small. Standard library only.
Usage: python3 tests/fuzz/make_corpus.py   (from the repository root)"""
import gzip
import json
import os
import shutil
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def safetensors(entries, metadata=None, pad=True, raw_header=None, tail=b""):
    """entries: list of (name, dtype, shape, bytes); offsets laid out back to back."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, payload in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    text = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data + tail


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def make_safetensors():
    f32 = struct.pack("<6f", 0.0, 1.0, -2.5, 3.25, 1e-3, -0.0)
    valid = [
        ("weight", "F32", [2, 3], f32),
        ("step", "I64", [1], struct.pack("<q", 42)),
        ("seeds", "U64", [2], struct.pack("<2Q", 7, 2**64 - 1)),
        ("half", "F16", [3], struct.pack("<3H", 0x3C00, 0x7C00, 0x0001)),
        ("brain", "BF16", [2], struct.pack("<2H", 0x3F80, 0xFFC0)),
        ("mask", "BOOL", [4], bytes([0, 1, 1, 0])),
        ("small", "I8", [2, 2], bytes([1, 255, 127, 128])),
        ("empty", "F64", [0, 5], b""),
        ("scalar", "F64", [], struct.pack("<d", 2.0)),
    ]
    write("safetensors", "valid_all_dtypes.safetensors", safetensors(valid, {"format": "pt", "step": "42"}))
    write("safetensors", "valid_no_metadata.safetensors", safetensors(valid[:1]))
    write("safetensors", "valid_empty.safetensors", safetensors([], {}))
    python = os.path.join(os.path.dirname(ROOT), "..", "data", "python_written.safetensors")
    if os.path.exists(python):
        shutil.copy(python, os.path.join(ROOT, "safetensors", "valid_python_written.safetensors"))
    good = safetensors(valid[:2], {"format": "pt"})
    write("safetensors", "bad_length_beyond_file.safetensors", struct.pack("<Q", 10**6) + good[8:])
    write("safetensors", "bad_not_json.safetensors", safetensors([], raw_header=b'{"weight": {"dtype": "F32",'))
    write("safetensors", "bad_nested.safetensors", safetensors([], raw_header=b"[" * 40 + b"]" * 40))
    write("safetensors", "bad_unknown_dtype.safetensors", safetensors([("w", "F31", [1], b"\0" * 4)]))
    write("safetensors", "bad_span.safetensors", safetensors([("w", "F32", [3], b"\0" * 8)]))
    write("safetensors", "bad_trailing.safetensors", safetensors(valid[:1], tail=b"\0" * 8))
    hdr = b'{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}'
    write("safetensors", "bad_overlap.safetensors", safetensors([], raw_header=hdr, tail=b"\1" * 6))
    hdr = b'{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}'
    write("safetensors", "bad_duplicate.safetensors", safetensors([], raw_header=hdr, tail=b"\1" * 4))
    hdr = b'{"a":{"dtype":"F32","shape":[0,4611686018427387904,4611686018427387904],"data_offsets":[0,0]}}'
    write("safetensors", "edge_zero_dim_huge_shape.safetensors", safetensors([], raw_header=hdr))


def be32(v):
    return struct.pack(">I", v)


def make_idx():
    images = be32(0x803) + be32(3) + be32(4) + be32(5) + bytes((i * 53) % 256 for i in range(60))
    labels = be32(0x801) + be32(3) + bytes([7, 0, 9])
    # byte 0: bit 0 = which file the rest is (0 images, 1 labels), bits 1-3 = pad_to
    write("idx", "images_raw", bytes([0]) + images)
    write("idx", "images_gz_pad4", bytes([4 << 1 & 0xE]) + gzip.compress(images, mtime=0))
    write("idx", "labels_raw", bytes([1]) + labels)
    write("idx", "labels_gz", bytes([1 | 6 << 1]) + gzip.compress(labels, mtime=0))
    write("idx", "bad_magic", bytes([0]) + be32(0x802) + images[4:])
    write("idx", "bad_truncated_gz", bytes([0]) + gzip.compress(images, mtime=0)[:40])
    write("idx", "bad_label", bytes([1]) + be32(0x801) + be32(3) + bytes([7, 10, 9]))
    write("idx", "bad_extra_bytes", bytes([0]) + images + b"\0")
    write("idx", "bad_huge_dims", bytes([0]) + be32(0x803) + be32(0xFFFFFFFF) + be32(0xFFFFFFFF) + be32(2))


if __name__ == "__main__":
    make_safetensors()
    make_idx()
