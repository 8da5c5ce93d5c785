"""Benchmark JSON -> the tables and plots of docs/benchmarks.md.

usage: report.py [--doc docs/benchmarks.md] [--img-dir docs/benchmarks] [--stdout] JSON...

Reads what the suites write:
  ddpm-bench --json            {"benchmark": "ddpm-bench", "machine": ..., "rows": [...]}
                               (--device cpu JSON, "device": "cpu", is skipped)
  cpu-bench.sh / gpu-bench.sh  {"benchmark": "e2e-suite", "device": ..., "runs": [...]}
  ddpm-bench-e2e / torch_e2e.py --json   one run {"benchmark": "e2e", ...}
and rewrites the parts of the doc between the markers
  <!-- report:cpu:begin --> ... <!-- report:cpu:end -->   (CPU end-to-end runs)
  <!-- report:gpu:begin --> ... <!-- report:gpu:end -->   (kernels + CUDA end-to-end)
leaving a section alone when no input feeds it. Plots (PNG, matplotlib) go to
--img-dir: conv_vs_cudnn.png, conv_variants.png (every conv variant forced, vs
cuDNN), roofline.png, e2e_cpu.png, e2e_gpu.png.

Ratios are always reference time / our time (= our speed / reference speed):
above 1 we are faster. Where a measurement was repeated (rounds), the median
over rounds is shown and the individual values listed.
"""
import argparse
import json
import math
import os
import re
import statistics
import sys

BARS = {
    "conv": (0.5, 1.0),       # x cuDNN at matched precision: first bar, goal
    "memory": (60.0, 85.0),   # % of the copy-bandwidth roofline
    "train_eager": (1.0, None),
    "train_compile": (None, 1.3),
    "sample_eager": (1.0, 2.0),
}


def load(paths):
    kernels, runs = [], []
    for p in paths:
        with open(p) as f:
            j = json.load(f)
        kind = j.get("benchmark")
        if kind == "ddpm-bench" and j.get("device", "cuda") == "cpu":
            # ddpm-bench --device cpu: no generated section reads it yet.
            print(f"report.py: {p}: ddpm-bench --device cpu JSON, skipped (the tables are for the CUDA mode)",
                  file=sys.stderr)
        elif kind == "ddpm-bench":
            kernels.append(j)
        elif kind == "e2e-suite":
            for r in j.get("runs", []):
                r.setdefault("_suite", {k: v for k, v in j.items() if k != "runs"})
                runs.append(r)
        elif kind == "e2e":
            runs.append(j)
        else:
            sys.exit(f"report.py: {p}: unknown benchmark kind {kind!r}")
    return kernels, runs


def fmt(v, spec=".2f", none="–"):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return none
    return format(v, spec)


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None



def run_precision(r):
    """fp32, tf32 or bf16: the first word of a run's precision text."""
    return (r.get("precision") or "fp32").split(" ")[0]


def case_key(r):
    if r["what"] == "train":
        return ("train", None, None, r["batch"], run_precision(r))
    return ("sample", r.get("sampler"), r.get("steps"), r["batch"], run_precision(r))


def case_label(key):
    what, sampler, steps, batch, prec = key
    at = "" if prec == "fp32" else f", {prec}"
    if what == "train":
        return f"train step, batch {batch}{at}"
    return f"{sampler.upper()} {steps} steps, batch {batch}{at}"


def e2e_table(runs):
    """Rows per case: median images/s of ours / torch_eager / torch_compile over rounds."""
    cases = {}
    for r in runs:
        if r.get("skipped") or not r.get("images_per_s"):
            continue  # skipped or failed runs: noted below the table
        by = cases.setdefault(case_key(r), {})
        by.setdefault(r["impl"], []).append(r)
    out = []
    for key in sorted(cases, key=lambda k: (k[0] != "train", k[1] or "", k[2] or 0, k[4])):
        by = cases[key]
        row = {"key": key, "label": case_label(key), "note": ""}
        for impl in ("ours", "torch_eager", "torch_compile"):
            rs = by.get(impl, [])
            vals = [x["images_per_s"] for x in rs if x.get("images_per_s")]
            row[impl] = statistics.median(vals) if vals else None
            row[impl + "_all"] = vals
            row[impl + "_load"] = [x.get("load_before", "?").split()[0] for x in rs if x.get("images_per_s")]
            why = [x.get("skipped") or x.get("error") for x in rs if x.get("skipped") or x.get("error")]
            row[impl + "_why"] = why[0] if why and not vals else ""
            notes = [re.sub(r", (\d+) steps instead of \1\b", "", x["note"]) for x in rs if x.get("note")]
            if notes and not row["note"]:
                row["note"] = notes[0]
        out.append(row)
    # a compile run skipped before measuring (torch.compile missing) holds
    # for every case of the suite
    for r in runs:
        if r["impl"] == "torch_compile" and r.get("skipped"):
            for row in out:
                if not row["torch_compile"]:
                    row["torch_compile_why"] = r["skipped"]
    return out


def ratio(a, b):
    return a / b if a and b else None


def fmt_ratio(v):
    return "–" if v is None else f"{v:.2f}x"


def e2e_markdown(runs, device, img_name):
    rows = e2e_table(runs)
    first = runs[0]
    suite = first.get("_suite", {})
    torch_v = next((r.get("torch_version") for r in runs if r.get("torch_version")), "?")
    lines = []
    machine = first.get("machine", "?")
    prec = first.get("precision", "fp32")
    if device == "cpu":
        threads = suite.get("threads", first.get("threads"))
        model = first.get("model", {})
        lines.append(f"Machine: {machine}; {threads} threads on both sides; precision {prec}; "
                     f"PyTorch {torch_v}; UNet base {model.get('base_channels', '?')}, time embedding "
                     f"{model.get('time_embed_dim', '?')}.")
        lines.append("")
        suites = list({r["_suite"].get("uptime_before"): r["_suite"] for r in runs if r.get("_suite")}.values())
        rounds = sum(x.get("rounds", 1) for x in suites)
        for x in suites:
            lines.append(f"- suite run: before `{x.get('uptime_before', '?')}`, after `{x.get('uptime_after', '?')}`")
        if suites:
            lines.append(f"- {rounds} rounds in all (ours and PyTorch interleaved); medians over rounds shown.")
    else:
        lines.append(f"Machine: {machine}; precision {prec}; PyTorch {torch_v}"
                     + (f" (CUDA {first.get('cuda_version')}, cuDNN {first.get('cudnn_version')})"
                        if first.get("cuda_version") else "")
                     + "; eager with cudnn.benchmark on.")
    lines.append("")
    show_load = device == "cpu"
    lines.append("| case | ours img/s | PyTorch eager img/s | ours / eager | torch.compile img/s | ours / compile "
                 "| values (ours; eager) |" + (" 1-min load at start (ours; eager) |" if show_load else ""))
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | --- |" + (" --- |" if show_load else ""))
    for r in rows:
        comp = fmt(r["torch_compile"], ".2f") if r["torch_compile"] else (
            "n/a" if r["torch_compile_why"] else "–")
        vals = ", ".join(fmt(v, ".2f") for v in r["ours_all"]) + "; " + ", ".join(
            fmt(v, ".2f") for v in r["torch_eager_all"])
        label = r["label"] + (f" ({r['note']})" if r["note"] else "")
        lines.append(f"| {label} | {fmt(r['ours'])} | {fmt(r['torch_eager'])} | "
                     f"{fmt_ratio(ratio(r['ours'], r['torch_eager']))} | {comp} | "
                     f"{fmt_ratio(ratio(r['ours'], r['torch_compile']))} | {vals} |"
                     + (f" {', '.join(r['ours_load'])}; {', '.join(r['torch_eager_load'])} |" if show_load else ""))
    if device == "cpu":
        for r in rows:
            if r["key"][0] == "train" and r["ours"] and r["torch_eager"]:
                q = r["ours"] / r["torch_eager"]
                lines.append("")
                lines.append(f"CPU training bar (>= 1.0x PyTorch CPU, goal >= 1.3x): {q:.2f}x, "
                             + ("goal met." if q >= 1.3 else "bar met." if q >= 1.0 else "bar not met."))
    whys = {r["torch_compile_why"] for r in rows if r["torch_compile_why"]}
    for w in sorted(whys):
        lines.append("")
        lines.append(f"torch.compile: {w}.")
    errs = [f"{r['impl']} {r['what']}" + (f" {r['sampler']} {r['steps']} steps" if r.get("sampler") else "")
            + f": {r['error']}" for r in runs if r.get("error")]
    for e in errs:
        lines.append("")
        lines.append(f"Failed: {e}")
    lines.append("")
    lines.append(f"![{device} end-to-end throughput]({img_name})")
    return lines, rows


def plot_e2e(rows, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    impls = [(i, l) for i, l in [("ours", "ours"), ("torch_eager", "PyTorch eager"), ("torch_compile", "torch.compile")]
             if any(r[i] for r in rows)]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / max(1, len(impls))
    for i, (impl, label) in enumerate(impls):
        xs = [k + (i - (len(impls) - 1) / 2) * width for k in range(len(rows))]
        ys = [r[impl] or 0 for r in rows]
        bars = ax.bar(xs, ys, width, label=label)
        for b, y in zip(bars, ys):
            if y:
                ax.annotate(f"{y:.3g}", (b.get_x() + b.get_width() / 2, y), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r["label"].replace(", batch", "\nbatch") for r in rows], fontsize=8)
    ys_all = [r[impl] for r in rows for impl, _ in impls if r[impl]]
    if ys_all and max(ys_all) > 10 * min(ys_all):
        ax.set_yscale("log")
    ax.set_ylabel("images / s")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)



def kernel_markdown(k, conv_img, roof_img):
    m = k["machine"]
    rows = k["rows"]
    lines = [
        f"GPU: {m['gpu']} (sm_{m['compute_capability'].replace('.', '')}, {m['sms']} SMs, "
        f"L2 {m['l2_bytes'] >> 20} MiB); driver {m['driver']}, CUDA runtime {m['cuda_runtime']} "
        f"(driver API {m['cuda_driver_api']}), cuDNN {m['cudnn_runtime']} (headers {m['cudnn_header']}).",
        f"Clocks: SM max {m['sm_clock_max_mhz']} MHz, memory {m['memory_clock_mhz']} MHz x {m['memory_bus_bits']} "
        f"bit; measured copy bandwidth {k['copy_bandwidth_gbps']:.0f} GB/s (nominal "
        f"{m['nominal_bandwidth_gbps']:.0f}); nominal peak FP32 {fmt(k.get('peak_fp32_tflops'), '.1f')} "
        f"TFLOP/s, TF32 {fmt(k.get('peak_tf32_tflops'), '.1f')} TFLOP/s.",
        f"Method: median of {k['repeats']} after {k['warmup']} warm-up, CUDA events, L2 "
        f"{'flushed (' + str(k['l2_flush_bytes'] >> 20) + ' MiB memset) before each call' if k['l2_flushed'] else 'not flushed'}; "
        f"precision: {k['precision']}; TF32 rows: {k['tf32']}."
        + (f" Note: {k['note']}" if k.get("note") else ""),
        "",
    ]
    if k.get("complete") is False:
        lines += ["**Partial run**: ddpm-bench was cut short; the op groups below are the ones it finished.", ""]
    conv = [r for r in rows if r["op"].startswith("conv2d")]
    attn = [r for r in rows if r["op"].startswith("attention")]
    mem = [r for r in rows if not r["op"].startswith(("conv2d", "attention"))]
    bad = [r for r in rows if r.get("error") or r.get("ok") is False]
    if bad:
        lines.append("Cases with errors or above tolerance:")
        lines.append("")
        for r in bad:
            what = r.get("error") or f"error {r['err']:.1e} > tolerance {r['tol']:.0e}"
            lines.append(f"- {r['op']} {r['shape']} batch {r['batch'] or '–'} {r['precision']}: {what}")
        lines.append("")
    for prec in ("fp32", "tf32", "bf16"):
        pr = [r for r in conv if r["precision"] == prec]
        if not pr:
            continue
        lines.append(f"#### conv2d vs cuDNN, {prec}")
        lines.append("")
        lines.append("| pass | shape | batch | ours ms | cuDNN ms | cuDNN / ours | ours TFLOP/s | % peak | cuDNN algo | err "
                     "| our variant (autotuned) | each variant, ms |")
        lines.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | --- |")
        for r in pr:
            algo = re.sub(r"cuDNN algo (\d+), workspace (\d+) B", lambda mm: f"{mm.group(1)} ({int(mm.group(2)) >> 10} KiB)",
                          r.get("ref_detail", ""))
            lines.append(f"| {r['op'].replace('conv2d_', '')} | {r['shape']} | {r['batch']} | {fmt(r['ours_ms'], '.4f')} | "
                         f"{fmt(r['ref_ms'], '.4f')} | {fmt(r['ratio_ref_over_ours'])} | {fmt(r.get('tflops'))} | "
                         f"{fmt(r.get('pct_peak'), '.0f')} | {algo} | {fmt(r['err'], '.1e')} | "
                         f"{r.get('variant', '–').replace('implicit_gemm_', '')} | "
                         + (", ".join(f"{k.replace('implicit_gemm_', '')} {fmt(v, '.4f')}"
                                      for k, v in r.get("variants_ms", {}).items()) or "–") + " |")
        lines.append("")
    if attn:
        lines.append("#### attention vs the unfused bmm + softmax + bmm of our own ops, fp32")
        lines.append("")
        lines.append("| pass | shape | batch | ours ms | unfused ms | unfused / ours | ours TFLOP/s | unfused TFLOP/s "
                     "| err | unfused err |")
        lines.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in attn:
            lines.append(f"| {r['op'].replace('attention_', '')} | {r['shape']} | {r['batch']} | "
                         f"{fmt(r['ours_ms'], '.4f')} | {fmt(r['ref_ms'], '.4f')} | {fmt(r['ratio_ref_over_ours'])} | "
                         f"{fmt(r.get('tflops'))} | {fmt(r.get('ref_tflops'))} | {fmt(r['err'], '.1e')} | "
                         f"{fmt(r['ref_err'], '.1e')} |")
        lines.append("")
        for op, d in sorted({(r["op"], r["ref_detail"]) for r in attn if r.get("ref_detail")}):
            lines.append(f"- {op}: {d}")
        lines.append("")
    if mem:
        lines.append("#### Memory-bound kernels vs the roofline (and cuDNN or the unfused sequence)")
        lines.append("")
        lines.append("| op | shape | batch | ours ms | reference | ref ms | ref / ours | ours GB/s | ours % roofline "
                     "| ref % roofline | err |")
        lines.append("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in mem:
            ref = {"cudnn": "cuDNN", "unfused": "unfused", "roofline": "roofline only"}.get(r["ref_kind"], r["ref_kind"])
            lines.append(f"| {r['op']} | {r['shape']} | {r['batch'] or '–'} | {fmt(r['ours_ms'], '.4f')} | {ref} | "
                         f"{fmt(r['ref_ms'], '.4f')} | {fmt(r['ratio_ref_over_ours'])} | {fmt(r.get('gbps'), '.0f')} | "
                         f"{fmt(r.get('pct_roofline'), '.0f')} | {fmt(r.get('ref_pct_roofline'), '.0f')} | "
                         f"{fmt(r['err'], '.1e')} |")
        lines.append("")
        details = sorted({(r["op"], r["ref_detail"]) for r in mem if r.get("ref_detail")})
        for op, d in details:
            lines.append(f"- {op}: {d}")
        lines.append("")
    lines.append(f"![conv2d: cuDNN time / our time per shape]({conv_img})")
    lines.append("")
    if any(r.get("variants_ms") for r in conv):
        variants_img = os.path.join(os.path.dirname(conv_img), "conv_variants.png")
        lines.append(f"![conv2d: cuDNN time / each variant's time, forced]({variants_img})")
        lines.append("")
    lines.append(f"![memory-bound kernels: % of the copy-bandwidth roofline]({roof_img})")
    return lines, conv, mem


def bars_markdown(conv, mem, gpu_rows):
    lines = ["| bar (goal) | where we stand | met |", "| --- | --- | --- |"]
    for prec in ("fp32", "tf32", "bf16"):
        rs = [r for r in conv if r["precision"] == prec and r.get("ratio_ref_over_ours")]
        if not rs:
            continue
        g = geomean([r["ratio_ref_over_ours"] for r in rs])
        n_ok = sum(r["ratio_ref_over_ours"] >= BARS["conv"][0] for r in rs)
        lines.append(f"| conv2d >= 0.5x cuDNN, {prec} (goal >= 1.0x) | geomean {g:.2f}x, "
                     f"min {min(r['ratio_ref_over_ours'] for r in rs):.2f}x; {n_ok}/{len(rs)} cases >= 0.5x | "
                     f"{'yes' if n_ok == len(rs) else 'no'} |")
    rs = [r for r in mem if r.get("pct_roofline")]
    if rs:
        big = [r for r in rs if r["batch"] in (None, max(x["batch"] or 0 for x in rs))]
        n_ok = sum(r["pct_roofline"] >= BARS["memory"][0] for r in big)
        lines.append(f"| memory-bound >= 60% of roofline (goal >= 85%) | at the largest batch: median "
                     f"{statistics.median(r['pct_roofline'] for r in big):.0f}%, min "
                     f"{min(r['pct_roofline'] for r in big):.0f}%; {n_ok}/{len(big)} cases >= 60% | "
                     f"{'yes' if n_ok == len(big) else 'no'} |")
    for r in gpu_rows:
        e, c = ratio(r["ours"], r["torch_eager"]), ratio(r["ours"], r["torch_compile"])
        if r["key"][0] == "train":
            lines.append(f"| {r['label']}: >= 1.0x PyTorch eager (goal >= 1.3x torch.compile) | "
                         f"{fmt_ratio(e)} eager, {fmt_ratio(c)} compile | {'yes' if e and e >= 1.0 else 'no'} |")
        elif r["key"][1] == "ddpm":
            lines.append(f"| {r['label']}: >= 1.0x PyTorch eager (goal >= 2x eager) | {fmt_ratio(e)} eager, "
                         f"{fmt_ratio(c)} compile | {'yes' if e and e >= 1.0 else 'no'} |")
    return lines


def plot_conv(conv, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    passes = ["conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_weight"]
    precs = [p for p in ("fp32", "tf32", "bf16") if any(r["precision"] == p for r in conv)]
    shapes = list(dict.fromkeys(r["shape"] for r in conv))
    batches = sorted({r["batch"] for r in conv})
    fig, axes = plt.subplots(len(precs), 3, figsize=(14, 3.6 * len(precs)), squeeze=False, sharey=True)
    width = 0.8 / max(1, len(batches))
    for pi, prec in enumerate(precs):
        for ci, ps in enumerate(passes):
            ax = axes[pi][ci]
            for bi, b in enumerate(batches):
                ys = []
                for s in shapes:
                    r = next((r for r in conv if r["op"] == ps and r["shape"] == s and r["batch"] == b
                              and r["precision"] == prec), None)
                    ys.append((r or {}).get("ratio_ref_over_ours") or 0)
                ax.bar([k + (bi - (len(batches) - 1) / 2) * width for k in range(len(shapes))], ys, width,
                       label=f"batch {b}")
            ax.axhline(0.5, color="tab:red", lw=0.8, ls="--")
            ax.axhline(1.0, color="black", lw=0.8)
            ax.set_xticks(range(len(shapes)))
            ax.set_xticklabels(shapes, rotation=60, ha="right", fontsize=7)
            ax.set_title(f"{ps.replace('conv2d_', '')}, {prec}", fontsize=9)
            if ci == 0:
                ax.set_ylabel("cuDNN time / our time")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_variants(conv, path):
    """One panel per precision: for every case (pass, shape, batch) the
    cuDNN time over each variant's forced time, one marker per variant, the
    autotuner's pick circled."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    precs = [p for p in ("fp32", "tf32", "bf16") if any(r["precision"] == p and r.get("variants_ms") for r in conv)]
    if not precs:
        return False
    fig, axes = plt.subplots(len(precs), 1, figsize=(14, 3.8 * len(precs)), squeeze=False)
    for pi, prec in enumerate(precs):
        ax = axes[pi][0]
        rs = [r for r in conv if r["precision"] == prec and r.get("variants_ms") and r.get("ref_ms")]
        names = list(dict.fromkeys(v for r in rs for v in r["variants_ms"]))
        for vi, name in enumerate(names):
            xs, ys = [], []
            for i, r in enumerate(rs):
                t = r["variants_ms"].get(name)
                if t:
                    xs.append(i + (vi - (len(names) - 1) / 2) * 0.8 / max(1, len(names)))
                    ys.append(r["ref_ms"] / t)
            ax.scatter(xs, ys, s=14, label=name.replace("implicit_gemm_", ""))
        picks = [(i, r["ref_ms"] / r["variants_ms"][r["variant"]]) for i, r in enumerate(rs)
                 if r.get("variant") in r["variants_ms"] and r["variants_ms"][r["variant"]]]
        if picks:
            ax.scatter([p[0] for p in picks], [p[1] for p in picks], s=60, facecolors="none", edgecolors="black",
                       label="autotuner's pick")
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(rs)))
        ax.set_xticklabels([f"{r['op'].replace('conv2d_', '')} {r['shape']} b{r['batch']}" for r in rs],
                           rotation=75, ha="right", fontsize=6)
        ax.set_ylabel("cuDNN time / variant time")
        ax.set_title(f"conv2d variants vs cuDNN, {prec}", fontsize=9)
        ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_roofline(mem, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rs = [r for r in mem if r.get("pct_roofline") is not None]
    if not rs:
        return False
    top = max(r["batch"] or 0 for r in rs)
    rs = [r for r in rs if r["batch"] in (None, top)]
    labels = [f"{r['op']} {r['shape']}" + (f" b{r['batch']}" if r["batch"] else "") for r in rs]
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(rs) + 1.2))
    ys = range(len(rs))
    ax.barh([y + 0.2 for y in ys], [r["pct_roofline"] for r in rs], 0.4, label="ours")
    ax.barh([y - 0.2 for y in ys], [r.get("ref_pct_roofline") or 0 for r in rs], 0.4,
            label="reference (cuDNN / unfused)")
    ax.axvline(60, color="tab:red", lw=0.8, ls="--")
    ax.axvline(85, color="black", lw=0.8, ls=":")
    ax.set_yticks(list(ys))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("% of the measured copy bandwidth")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True



def splice(doc, section, lines):
    begin, end = f"<!-- report:{section}:begin -->", f"<!-- report:{section}:end -->"
    i, j = doc.find(begin), doc.find(end)
    if i < 0 or j < i:
        sys.exit(f"report.py: the doc has no {begin} ... {end} markers")
    return doc[:i + len(begin)] + "\n" + "\n".join(lines) + "\n" + doc[j:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", nargs="+")
    ap.add_argument("--doc", default=os.path.join(os.path.dirname(__file__), "..", "docs", "benchmarks.md"))
    ap.add_argument("--img-dir", default=None, help="default: benchmarks/ next to the doc")
    ap.add_argument("--stdout", action="store_true", help="print the sections instead of editing the doc")
    ap.add_argument("--cpu-section", default="cpu",
                    help="marker name for the CPU runs (report:NAME:begin/end; plot e2e_NAME.png)")
    a = ap.parse_args()
    img_dir = a.img_dir or os.path.join(os.path.dirname(os.path.abspath(a.doc)), "benchmarks")
    rel = os.path.relpath(img_dir, os.path.dirname(os.path.abspath(a.doc)))
    os.makedirs(img_dir, exist_ok=True)
    kernels, runs = load(a.json)
    sections = {}

    cpu_runs = [r for r in runs if r.get("device") == "cpu"]
    if cpu_runs:
        img = f"e2e_{a.cpu_section.replace('-', '_')}.png"
        lines, rows = e2e_markdown(cpu_runs, "cpu", f"{rel}/{img}")
        prec = cpu_runs[0].get("precision", "fp32").split(" ")[0].upper()
        plot_e2e(rows, os.path.join(img_dir, img), f"CPU: images/s, ours vs PyTorch (same threads, {prec})")
        sections[a.cpu_section] = lines

    gpu_runs = [r for r in runs if r.get("device") == "cuda"]
    if kernels or gpu_runs:
        lines, conv, mem, gpu_rows = [], [], [], []
        if gpu_runs:
            e2e_lines, gpu_rows = e2e_markdown(gpu_runs, "gpu", f"{rel}/e2e_gpu.png")
            plot_e2e(gpu_rows, os.path.join(img_dir, "e2e_gpu.png"), "GPU: images/s, ours vs PyTorch (FP32)")
        if kernels:
            k = kernels[-1]
            klines, conv, mem = kernel_markdown(k, f"{rel}/conv_vs_cudnn.png", f"{rel}/roofline.png")
            if conv:
                plot_conv(conv, os.path.join(img_dir, "conv_vs_cudnn.png"))
                plot_variants(conv, os.path.join(img_dir, "conv_variants.png"))
            plot_roofline(mem, os.path.join(img_dir, "roofline.png"))
        lines += ["### Where we stand against the bars", ""] + bars_markdown(conv, mem, gpu_rows) + [""]
        if gpu_runs:
            lines += ["### End to end", ""] + e2e_lines + [""]
        if kernels:
            lines += ["### Kernels", ""] + klines
        sections["gpu"] = lines

    if not sections:
        sys.exit("report.py: nothing to report")
    if a.stdout:
        for name, lines in sections.items():
            print(f"<!-- {name} -->")
            print("\n".join(lines))
        return
    with open(a.doc) as f:
        doc = f.read()
    for name, lines in sections.items():
        doc = splice(doc, name, lines)
    with open(a.doc, "w") as f:
        f.write(doc)
    print(f"report.py: updated {', '.join(sections)} in {a.doc}; plots in {img_dir}")


if __name__ == "__main__":
    main()
