#!/usr/bin/env python3
"""Rewrites CUDA launches `kernel<<<cfg>>>(args)` as `::emu::Launcher{cfg}(kernel, args)`
so that a .cu file compiles as C++ against tests/cuda_emu/include/cuda_runtime.h.
Usage: transform.py IN.cu OUT.cpp"""
import re
import sys

src = open(sys.argv[1]).read()
out = []
pos = 0
while True:
    k = src.find("<<<", pos)
    if k < 0:
        out.append(src[pos:])
        break
    # the kernel expression before <<<: identifier, optionally with template args
    j = k
    if src[j - 1] == ">":
        depth = 0
        j -= 1
        while True:
            c = src[j]
            if c == ">":
                depth += 1
            elif c == "<":
                depth -= 1
                if depth == 0:
                    break
            j -= 1
    while j > 0 and re.match(r"[A-Za-z0-9_:]", src[j - 1]):
        j -= 1
    kernel = src[j:k]
    end = src.find(">>>", k)
    cfg = src[k + 3:end]
    assert src[end + 3] == "(", src[k - 40:end + 10]
    out.append(src[pos:j])
    out.append("::emu::Launcher{%s}(%s, " % (cfg, kernel))
    pos = end + 4
open(sys.argv[2], "w").write("".join(out))
