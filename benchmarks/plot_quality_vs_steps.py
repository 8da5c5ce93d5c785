#!/usr/bin/env python3
"""Plot quality-vs-steps.sh's CSV: FD (and precision/recall) against sampling
steps, one line per sampler and spacing; several CSVs can be given joined
with commas. Usage: plot_quality_vs_steps.py CSV PNG [TITLE]
Needs matplotlib (scripts/install-deps.sh --bench; Debian's /usr/bin/python3)."""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rows = [r for path in sys.argv[1].split(",") for r in csv.DictReader(open(path))]
    if not rows:
        sys.exit(f"plot_quality_vs_steps: {sys.argv[1]} has no rows")
    by = {}
    for r in rows:
        by.setdefault(f"{r['sampler']} {r['spacing']}", []).append(r)
    fig, (ax_fd, ax_pr) = plt.subplots(1, 2, figsize=(10, 4))
    for sampler, rs in by.items():
        rs.sort(key=lambda r: int(r["steps"]))
        steps = [int(r["steps"]) for r in rs]
        style = "o" if len(rs) == 1 else "o-"
        label = f"{sampler} (n={rs[0]['n']})"
        (line,) = ax_fd.plot(steps, [float(r["fd"]) for r in rs], style, label=label)
        color = line.get_color()
        ax_pr.plot(steps, [float(r["precision"]) for r in rs], style, color=color, label=f"{sampler} precision")
        ax_pr.plot(steps, [float(r["recall"]) for r in rs], "x" + style[1:].replace("-", "--"), color=color,
                   label=f"{sampler} recall")
    for ax in (ax_fd, ax_pr):
        ax.set_xscale("log")
        ax.set_xlabel("sampling steps")
        ax.grid(True, which="both", alpha=0.3)
    ax_fd.set_yscale("log")
    ax_fd.set_ylabel("FD (classifier features, lower is better)")
    ax_pr.set_ylabel("precision / recall (k = 3)")
    ax_fd.legend(fontsize=8)
    ax_pr.legend(fontsize=7)
    if len(sys.argv) > 3:
        fig.suptitle(sys.argv[3])
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)
    print(f"wrote {sys.argv[2]}")


if __name__ == "__main__":
    main()
