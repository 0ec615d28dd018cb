#!/usr/bin/env python3
"""dashboard_png.py — the Grafana dashboard's queries, run against a Prometheus, as a PNG.

Grafana is not packaged in Debian, so the README's dashboard picture is not a Grafana screenshot:
this script reads deploy/grafana/crmstream.json, runs every panel's PromQL query over a time range
on a real Prometheus (the one scripts/demo.sh starts to scrape the demo's crmstream), and plots
the series with matplotlib, one subplot per panel, in the dashboard's order.

  dashboard_png.py --prometheus URL --start EPOCH --end EPOCH --out FILE.png
  dashboard_png.py --prometheus URL --check     every query evaluates now and returns series
                                                (tests/integration/56_dashboards_alerts.sh)
Dashboard variables: $source and $table become ".*", $__rate_interval becomes --rate-interval.
"""
import argparse
import json
import re
import sys
import urllib.parse
import urllib.request

ROOT = __file__.rsplit("/scripts/", 1)[0]


def queries(dashboard, rate_interval):
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", rate_interval)
            expr = re.sub(r"\$(source|table)\b", ".*", expr)
            yield panel, target, expr


def prom(url, path, params):
    q = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}/api/v1/{path}?{q}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{params.get('query')}: {body}")
    return body["data"]["result"]


def legend(fmt, labels):
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt) or str(labels)


def check(args, dashboard):
    bad = 0
    n = 0
    for panel, target, expr in queries(dashboard, args.rate_interval):
        n += 1
        try:
            result = prom(args.prometheus, "query", {"query": expr})
        except Exception as e:  # an invalid query or a Prometheus error
            print(f"ERROR {panel['title']}: {e}")
            bad += 1
            continue
        if not result:
            print(f"EMPTY {panel['title']}: {expr}")
            bad += 1
    print(f"dashboard queries: {n} evaluated, {bad} failed or empty")
    return 1 if bad else 0


def render(args, dashboard):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.dates as mdates
    from datetime import datetime, timezone

    panels = [p for p in dashboard["panels"] if p["type"] == "timeseries"]
    version = ""
    cols = 2
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(15, 3.1 * rows), squeeze=False)
    step = max(1, int((args.end - args.start) / 300))
    for ax, panel in zip(axes.flat, panels):
        lines = []
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", args.rate_interval)
            expr = re.sub(r"\$(source|table)\b", ".*", expr)
            for s in prom(args.prometheus, "query_range",
                          {"query": expr, "start": args.start, "end": args.end, "step": step}):
                xs = [datetime.fromtimestamp(float(t), timezone.utc) for t, _ in s["values"]]
                ys = [float(v) for _, v in s["values"]]
                lines.append((max(ys) if ys else 0, legend(target["legendFormat"], s["metric"]), xs, ys))
        lines.sort(key=lambda l: -l[0])
        shown = lines[: args.max_series]
        for _, name, xs, ys in shown:
            ax.plot(xs, ys, label=name, linewidth=1.2)
        more = len(lines) - len(shown)
        unit = panel["fieldConfig"]["defaults"].get("unit", "")
        ax.set_title(panel["title"] + (f"  ({unit})" if unit not in ("", "short", "none") else ""),
                     fontsize=10, loc="left")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if shown:
            ax.legend(fontsize=6, loc="upper left", ncol=2,
                      title=f"top {len(shown)} of {len(lines)}" if more else None, title_fontsize=6)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    # over the range: a --once run has exited before the end
    for r in prom(args.prometheus, "query_range", {"query": "crmstream_build_info",
                                                    "start": args.start, "end": args.end, "step": step}):
        version = r["metric"].get("version", "")
    fig.suptitle(f"crmstream {version} — deploy/grafana/crmstream.json queries on Prometheus, "
                 f"fed by {args.fed_by} (plotted by scripts/dashboard_png.py, not Grafana)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out} ({len(panels)} panels)")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--dashboard", default=f"{ROOT}/deploy/grafana/crmstream.json")
    ap.add_argument("--rate-interval", default="30s")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--start", type=float)
    ap.add_argument("--end", type=float)
    ap.add_argument("--out")
    ap.add_argument("--max-series", type=int, default=8)
    ap.add_argument("--fed-by", default="`make demo`", help="what produced the data, for the title")
    args = ap.parse_args()
    with open(args.dashboard) as f:
        dashboard = json.load(f)
    if args.check:
        return check(args, dashboard)
    if args.start is None or args.end is None or not args.out:
        ap.error("--start, --end and --out are needed to render")
    return render(args, dashboard)


if __name__ == "__main__":
    sys.exit(main())
