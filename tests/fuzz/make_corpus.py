#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/):
a few valid files and a few broken ones, each small. Standard library only.
Usage: python3 tests/fuzz/make_corpus.py   (from the repository root)"""
import gzip
import json
import os
import shutil
import struct
import zlib

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


def png(width, height, bit_depth, colour_type, rows, palette=None, crc_ok=True):
    """A PNG of the given IHDR fields; rows: the raw scanlines (filter byte 0 added here)."""
    def chunk(kind, body):
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc if crc_ok else crc ^ 1)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if palette is not None:
        out += chunk(b"PLTE", palette)
    if rows is not None:
        out += chunk(b"IDAT", zlib.compress(b"".join(b"\0" + r for r in rows)))
    return out + chunk(b"IEND", b"")


def make_png():
    # byte 0: pad_to (0..63); the rest is the file
    gray = png(8, 8, 8, 0, [bytes((x * 31 + y * 7) % 256 for x in range(8)) for y in range(8)])
    write("png", "valid_gray8.png", bytes([0]) + gray)
    write("png", "valid_rgb_pad8.png", bytes([8]) + png(3, 2, 8, 2, [bytes(range(y, y + 9)) for y in range(2)]))
    write("png", "valid_gray_alpha_opaque.png", bytes([0]) + png(4, 4, 8, 4, [bytes([90, 255] * 4)] * 4))
    write("png", "valid_gray16.png", bytes([5]) + png(2, 2, 16, 0, [bytes([1, 2, 255, 255])] * 2))
    write("png", "valid_palette.png", bytes([0]) + png(2, 2, 8, 3, [bytes([0, 1])] * 2, palette=bytes([0, 0, 0, 255, 128, 0])))
    write("png", "bad_transparent_rgba.png", bytes([0]) + png(2, 1, 8, 6, [bytes([1, 2, 3, 0, 4, 5, 6, 255])]))
    write("png", "bad_huge_dims.png", bytes([0]) + png(8192, 8192, 8, 0, None))  # our cap: 2^24 pixels
    write("png", "bad_huge_dims_stb.png", bytes([0]) + png(65535, 65535, 8, 0, None))  # stb's own limit
    write("png", "bad_zero_width.png", bytes([0]) + png(0, 4, 8, 0, None))
    write("png", "bad_truncated.png", bytes([0]) + gray[: len(gray) // 2])
    write("png", "bad_crc.png", bytes([0]) + png(2, 2, 8, 0, [bytes([3, 4])] * 2, crc_ok=False))


def make_checkpoint():
    # byte 0 picks the reader (fuzz_harness.h checkpoint_one): 0 model, 1 state
    # (bits 2-4: flags given, 5-7: ranks - 1), 2 classifier (the rest: a
    # safetensors header); 3 loss.csv / eval.csv text (bits 2-7: resume step)
    config = {"in_channels": "1", "base_channels": "16", "time_embed_dim": "32", "time_embedding": "linear",
              "groups": "8", "schedule": "linear", "timesteps": "1000", "prediction": "epsilon",
              "batch_size": "64", "lr": "0.001", "warmup_steps": "100", "lr_schedule": "constant",
              "lr_decay_steps": "0", "grad_clip": "1", "ema_decay": "0.995", "weight_decay": "0",
              "adamw": "false", "seed": "0", "conditional": "none", "cond_drop": "0.1"}
    geometry = {"data.channels": "1", "data.height": "32", "data.width": "32", "data.orig_height": "28",
                "data.orig_width": "28", "data.pad_top": "2", "data.pad_left": "2",
                "data.source": "fashion-mnist (train)", "data.spec": "fashion-mnist"}

    def header(meta, tensors=True):
        h = {"__metadata__": meta}
        if tensors:
            h["time_mlp.0.weight"] = {"dtype": "F32", "shape": [0, 1], "data_offsets": [0, 0]}
        return json.dumps(h, separators=(",", ":")).encode()

    model = dict(config, **geometry, format="ddpm-engine model v1", weights="ema", step="1000")
    write("checkpoint", "model_unconditional", bytes([0]) + header(model))
    classes = dict(model, conditional="class", num_classes="3",
                   **{"data.class_names": json.dumps(["shirt", "shoe", "bag"])})
    write("checkpoint", "model_class", bytes([0]) + header(classes))
    superres = dict(model, conditional="image", task="superres", superres_from="8", cond_channels="1")
    write("checkpoint", "model_superres", bytes([4]) + header(superres))
    inpaint = dict(model, conditional="image", task="inpaint", cond_channels="2", time_embedding="sinusoidal")
    write("checkpoint", "model_inpaint", bytes([0]) + header(inpaint, tensors=False))
    write("checkpoint", "bad_model_crop", bytes([0]) + header(dict(model, **{"data.pad_top": "30"})))
    write("checkpoint", "bad_model_names", bytes([0]) + header(dict(classes, **{"data.class_names": '["a","a"]'})))
    state = dict(config, **geometry, format="ddpm-engine train state v1", world_size="2", step="500")
    write("checkpoint", "state_two_ranks", bytes([1 | 0b111 << 2 | 3 << 5]) + header(state))
    write("checkpoint", "state_one_rank", bytes([1]) + header(dict(state, world_size="1")))
    write("checkpoint", "bad_state_is_model", bytes([1]) + header(model))
    write("checkpoint", "bad_state_odd_batch", bytes([1 | 2 << 5]) + header(dict(state, batch_size="7")))
    classifier = {"ddpm_eval": "classifier", "arch": "fashion-cnn-v1", "input_channels": "1",
                  "input_height": "28", "input_width": "28", "classes": "3", "class_names": "a,b,c",
                  "test_accuracy": "0.9"}
    write("checkpoint", "classifier", bytes([2]) + header(classifier, tensors=False))
    write("checkpoint", "bad_classifier_names", bytes([2]) + header(dict(classifier, class_names="a,b,c,")))
    loss = b"step,loss,grad_norm,lr,images_per_s\n0,1.5,2.25,1e-05,900\n1,nan,inf,2e-05,910\n9,0.1,0.2,0.001,1e3\n"
    evals = b"step,fd,is,precision,recall,n\n5,12.5,3.25,0.5,0.75,1000\n10,9,4,0.6,0.7,1000\n"
    write("checkpoint", "logs_loss", bytes([3 | 4 << 2]) + loss)
    write("checkpoint", "logs_eval", bytes([3 | 10 << 2]) + evals)
    write("checkpoint", "logs_garbage", bytes([3 | 63 << 2]) + b"step,loss\n1,2,3\n-4,5,6,7,8\n99999999999999999999,1,1,1,1\n")


if __name__ == "__main__":
    make_safetensors()
    make_idx()
    make_png()
    make_checkpoint()
