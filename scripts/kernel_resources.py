#!/usr/bin/env python3
"""Reads nvcc -Xptxas -v output (step ptxas) or cuobjdump --dump-sass output
(step sass) of kernels/cuda/conv2d.cu on stdin, prints one line per kernel and
checks the rules of scripts/check-kernel-resources.sh. Exit 1 on a broken rule.
Usage: kernel_resources.py ptxas|sass SOURCE < OUTPUT"""
import re
import subprocess
import sys

SMEM_LIMIT = 48 * 1024  # static shared memory per block


def demangle(names):
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True).stdout.splitlines()
    short = []
    for n in out:
        n = re.sub(r"ddpm::kernels::cuda::|\(anonymous namespace\)::|igemm::", "", n)
        short.append(re.sub(r"\(.*\)$", "", n).replace("void ", ""))
    return short


def kind(name):
    """(core, stages, wide) of a GEMM kernel name, core in {simt, tf32, bf16},
    wide for the 128 x 128 x 16 tiles; (direct, 0, False) for the reference
    kernels; None for the rest (reductions)."""
    m = re.search(r"<(Wide)?(SimtCore|Tf32CoreT<(?:true|false)>|Tf32Core|Bf16Core), (\d+)", name)
    if m:
        core = m.group(2)
        core = "tf32" if core.startswith("Tf32") else "bf16" if core == "Bf16Core" else "simt"
        return (core, int(m.group(3)), m.group(1) is not None)
    if "direct" in name:
        return ("direct", 0, False)
    return None


def ptxas(text, src):
    rows, cur = [], None
    for line in text.splitlines():
        m = re.search(r"Compiling entry function '([^']+)' for '(sm_\w+)'", line)
        if m:
            cur = {"name": m.group(1), "regs": 0, "spill": 0, "smem": 0}
            rows.append(cur)
            continue
        if cur is None:
            continue
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            cur["spill"] = int(m.group(1)) + int(m.group(2))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            cur["regs"] = int(m.group(1))
            s = re.search(r"(\d+) bytes smem", line)
            cur["smem"] = int(s.group(1)) if s else 0
    if not rows:
        print(f"kernel_resources: no kernels in the ptxas output of {src}")
        return 1
    bad = 0
    for r, n in zip(rows, demangle([r["name"] for r in rows])):
        why = []
        if r["spill"]:
            why.append(f"spills {r['spill']} bytes")
        if r["smem"] > SMEM_LIMIT:
            why.append(f"static shared memory {r['smem']} > {SMEM_LIMIT}")
        bad += bool(why)
        print(f"{'FAIL' if why else 'ok  '} {r['regs']:4} regs {r['spill']:4} B spilled {r['smem']:6} B smem  {n}"
              + (f"  ({'; '.join(why)})" if why else ""))
    print(f"{src}: {len(rows)} kernels, {bad} breaking the resource rules (no spills, static smem <= {SMEM_LIMIT} B)")
    return 1 if bad else 0


def sass(text, src):
    counts, order, cur = {}, [], None
    for line in text.splitlines():
        m = re.search(r"Function : (\S+)", line)
        if m:
            cur = m.group(1)
            counts[cur] = {"HMMA": 0, "LDGSTS": 0, "LDSM": 0, "TF32": 0, "BF16": 0}
            order.append(cur)
            continue
        if cur is not None:
            for op in ("HMMA", "LDGSTS", "LDSM"):
                if re.search(r"\b" + op + r"\b", line):
                    counts[cur][op] += 1
            m = re.search(r"\bHMMA\.\w+\.F32\.(TF32|BF16)\b", line)
            if m:
                counts[cur][m.group(1)] += 1
    if not order:
        print(f"kernel_resources: no functions in the SASS of {src}")
        return 1
    bad = checked = 0
    for mangled, n in zip(order, demangle(order)):
        k = kind(n)
        c = counts[mangled]
        why = []
        if k is not None:
            checked += 1
            core, stages, wide = k
            if core == "tf32" and (c["TF32"] == 0 or c["BF16"]):
                why.append("a TF32 kernel without TF32 HMMA (or with BF16 ones)")
            if core == "bf16" and (c["BF16"] == 0 or c["TF32"]):
                why.append("a BF16 kernel without BF16 HMMA (or with TF32 ones)")
            if core in ("simt", "direct") and c["HMMA"]:
                why.append("an FP32 kernel with HMMA")
            if stages > 0 and c["LDGSTS"] == 0:
                why.append("a pipelined kernel without LDGSTS")
            if stages == 0 and c["LDGSTS"]:
                why.append("a register-staged kernel with LDGSTS")
            if wide and core != "simt" and c["LDSM"] == 0:
                why.append("a wide tensor-core kernel without LDSM (ldmatrix)")
            if not (wide and core != "simt") and c["LDSM"]:
                why.append("LDSM outside the wide tensor-core kernels")
        bad += bool(why)
        print(f"{'FAIL' if why else 'ok  '} HMMA {c['HMMA']:3} LDGSTS {c['LDGSTS']:3} LDSM {c['LDSM']:3}  {n}"
              + (f"  ({'; '.join(why)})" if why else ""))
    if checked == 0:
        print(f"kernel_resources: no GEMM or direct kernels recognised in {src}")
        return 1
    print(f"{src}: {len(order)} kernels, {checked} checked, {bad} breaking the instruction rules")
    return 1 if bad else 0


if __name__ == "__main__":
    step, src = sys.argv[1], sys.argv[2]
    text = sys.stdin.read()
    sys.exit(ptxas(text, src) if step == "ptxas" else sass(text, src))
