#!/usr/bin/env python3
"""Log-log SVG of certified step time and set-up time against problem size
from the large-size table that bench/compare.py prints (issue 11).

Usage: python3 bench/compare.py --large-only | tee out.txt
       python3 bench/plot_large.py out.txt docs/bench_large.svg "machine name"
Size on the x axis: the entries of the problem's arrays, N·n + N·m + n·h + h·m.
No plotting library needed: the SVG is written directly.
"""

import math
import sys

COLORS = {"overlin": "#d62728", "numpy-1": "#1f77b4", "numpy-default": "#17becf",
          "torch-1": "#2ca02c", "torch-default": "#98df8a"}


def parse(path):
    rows, header = [], None
    for line in open(path):
        cells = [c.strip() for c in line.split("|")]
        if cells[0].startswith("size (n,m,h,N)") and "overlin setup" in line:
            header = cells
            continue
        if header and cells[0].startswith("(") and len(cells) == len(header):
            n, m, h, s = map(int, cells[0].strip("()").split(","))
            rec = {"size": s * n + s * m + n * h + h * m, "label": cells[0]}
            for name, val in zip(header, cells):
                if val.endswith(" s"):
                    rec[name] = float(val[:-2])
            rows.append(rec)
    return rows


def main():
    rows = sorted(parse(sys.argv[1]), key=lambda r: r["size"])
    out, machine = sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""
    libs = [k[:-6] for k in rows[0] if k.endswith(" setup")]
    W, H, L, B = 900, 420, 70, 50
    panels = [("certified step", "step"), ("set-up", "setup")]
    xs = [r["size"] for r in rows]
    x0, x1 = math.log10(min(xs)) - 0.2, math.log10(max(xs)) + 0.2
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<text x="{W / 2}" y="18" text-anchor="middle">overlin vs NumPy vs PyTorch '
           f'(float64), {machine}</text>']
    pw = (W - 2 * L - 40) / 2
    for p, (title, key) in enumerate(panels):
        ox = L + p * (pw + 60)
        vals = []
        for r in rows:
            for lib in libs:
                k = f"{lib} {key}" if lib != "overlin" or key == "setup" else "overlin cert step"
                if k in r:
                    vals.append(r[k])
        y0, y1 = math.floor(math.log10(min(vals))), math.ceil(math.log10(max(vals)))
        px = lambda x: ox + (math.log10(x) - x0) / (x1 - x0) * pw  # noqa: E731
        py = lambda y: H - B - (math.log10(y) - y0) / (y1 - y0) * (H - B - 40)  # noqa: E731
        svg.append(f'<rect x="{ox}" y="40" width="{pw}" height="{H - B - 40}" '
                   f'fill="none" stroke="#999"/>')
        svg.append(f'<text x="{ox + pw / 2}" y="34" text-anchor="middle">{title} '
                   f'(seconds, log)</text>')
        for e in range(y0, y1 + 1):
            svg.append(f'<text x="{ox - 6}" y="{py(10 ** e) + 4}" text-anchor="end">'
                       f'1e{e}</text>')
            svg.append(f'<line x1="{ox}" x2="{ox + pw}" y1="{py(10 ** e)}" y2="{py(10 ** e)}" '
                       f'stroke="#eee"/>')
        for r in rows:
            svg.append(f'<text x="{px(r["size"])}" y="{H - B + 16}" text-anchor="middle" '
                       f'font-size="9">{r["label"]}</text>')
        svg.append(f'<text x="{ox + pw / 2}" y="{H - 8}" text-anchor="middle">'
                   f'problem size (entries of X, Y, W1, W2; log)</text>')
        for lib in libs:
            k = f"{lib} {key}" if lib != "overlin" or key == "setup" else "overlin cert step"
            pts = [(px(r["size"]), py(r[k])) for r in rows if k in r]
            c = COLORS.get(lib, "#555")
            if len(pts) > 1:
                svg.append('<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>'
                           .format(c, " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)))
            for x, y in pts:
                svg.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{c}"/>')
    for i, lib in enumerate(libs):
        c = COLORS.get(lib, "#555")
        svg.append(f'<rect x="{L + 10 + i * 150}" y="{H - 30}" width="10" height="10" '
                   f'fill="{c}"/><text x="{L + 24 + i * 150}" y="{H - 21}">{lib}</text>')
    svg.append("</svg>")
    open(out, "w").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
