"""``curate report RUN_DIR``: one self-contained HTML page about a run (figures embedded, no network).

Sections: the funnel (documents and characters kept by each stage, beside DCLM's published funnel), time
per stage, histograms (language score, quality score, document length, duplicate cluster sizes), top domains
kept and dropped, random samples of kept documents and of dropped documents per reason, the dedup audit,
and — when given — the training run (loss curves, samples) and the ablation table.
"""

from __future__ import annotations

import base64
import html
import io
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from curate.rundir import RunDir
from curate.stats import funnel

# DCLM-Baseline's published funnel (arXiv 2406.11794, Fig. 4): share of the raw pool removed by each step.
DCLM_FUNNEL = [
    ("URL filter", 0.8),
    ("non-English (lid.176 en > 0.65)", 50.8),
    ("other heuristics", 9.0),
    ("page length", 7.9),
    ("repetition", 9.6),
    ("word-removal ratio", 2.0),
    ("→ left after heuristics", 19.9),
    ("→ left after dedup", 13.7),
    ("→ left after quality top 10%", 1.4),
]

MAX_ROWS = 200_000  # rows read per table for the histograms (a sample on big runs)


def _img(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img class="fig" alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _table(run: RunDir, folder: str, columns: list[str]) -> pa.Table | None:
    files = run.glob(f"{folder}/*.parquet")
    if not files:
        return None
    dataset = ds.dataset([run.full(f) for f in files], format="parquet", filesystem=run.fs)
    cols = [c for c in columns if c in dataset.schema.names]
    return dataset.head(MAX_ROWS, columns=cols) if cols else None


def _domain(url: str | None) -> str:
    if not url:
        return "(no url)"
    host = urlsplit(url).hostname or "(no host)"
    return host[4:] if host.startswith("www.") else host


def _esc(s: Any) -> str:
    return html.escape(str(s))


def funnel_section(f: dict[str, Any]) -> str:
    rows = f["stages"]
    if not rows:
        return "<p>No stats.</p>"
    first = rows[0]["docs_in"] or 1
    plt = _plt()
    out = ["<table><tr><th>stage</th><th>docs in</th><th>docs out</th><th>removed here</th>"
           "<th>% of input removed here</th><th>% of input left</th><th>chars out</th><th>drop reasons</th></tr>"]
    for r in rows:
        dropped = r["docs_in"] - r["docs_out"]
        reasons = ", ".join(f"{_esc(k)}: {v:,}" for k, v in sorted(r["reasons"].items(), key=lambda kv: -kv[1]))
        out.append(
            f"<tr><td>{_esc(r['name'])}</td><td>{r['docs_in']:,}</td><td>{r['docs_out']:,}</td><td>{dropped:,}</td>"
            f"<td>{100 * dropped / first:.1f}%</td><td>{100 * r['docs_out'] / first:.1f}%</td>"
            f"<td>{r['chars_out']:,}</td><td class=small>{reasons}</td></tr>"
        )
    out.append("</table>")
    dclm = "".join(f"<tr><td>{_esc(n)}</td><td>{v:.1f}%</td></tr>" for n, v in DCLM_FUNNEL)
    out.append(f"<h3>DCLM-Baseline's published funnel (share of the pool)</h3><table><tr><th>step</th><th>%</th></tr>{dclm}</table>")
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1))
    names = [r["name"] for r in rows][::-1]
    ax.barh(names, [100 * r["docs_out"] / first for r in rows][::-1], color="#4c72b0")
    ax.set_xlabel("% of input documents left after the stage")
    out.append(_img(fig))
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1))
    ax.barh(names, [r["seconds"] for r in rows][::-1], color="#dd8452")
    ax.set_xlabel("task-seconds (all shards)")
    out.append("<h3>Time per stage</h3>" + _img(fig))
    total = sum(r["seconds"] for r in rows) or 1
    out.append("<table><tr><th>stage</th><th>seconds</th><th>share</th><th>docs/s</th></tr>" + "".join(
        f"<tr><td>{_esc(r['name'])}</td><td>{r['seconds']:.2f}</td><td>{100 * r['seconds'] / total:.1f}%</td>"
        f"<td>{(r['docs_in'] / r['seconds']) if r['seconds'] else 0:,.0f}</td></tr>" for r in rows) + "</table>")
    return "\n".join(out)


def histograms_section(kept: pa.Table | None, rejected: pa.Table | None) -> str:
    plt = _plt()
    parts = []
    if kept is None or kept.num_rows == 0:
        return "<p>No kept documents.</p>"
    specs = [("language_score", "language score (fastText)"), ("quality_score", "quality score (P(high quality))")]
    for col, label in specs:
        if col in kept.column_names:
            vals = [v for v in kept[col].to_pylist() if v is not None]
            if vals:
                fig, ax = plt.subplots(figsize=(6, 2.6))
                ax.hist(vals, bins=40, color="#55a868")
                ax.set_xlabel(label)
                ax.set_ylabel("kept docs")
                parts.append(_img(fig))
    lengths = pc.utf8_length(kept["text"]).to_pylist() if "text" in kept.column_names else []
    if lengths:
        import math

        fig, ax = plt.subplots(figsize=(6, 2.6))
        ax.hist([math.log10(max(1, n)) for n in lengths], bins=40, color="#8172b3")
        ax.set_xlabel("document length, log10(characters)")
        ax.set_ylabel("kept docs")
        parts.append(_img(fig))
    if "dup_cluster_size" in kept.column_names:
        sizes = Counter(v for v in kept["dup_cluster_size"].to_pylist() if v)
        if sizes:
            fig, ax = plt.subplots(figsize=(6, 2.6))
            xs = sorted(sizes)
            ax.bar([str(x) for x in xs], [sizes[x] for x in xs], color="#c44e52")
            ax.set_yscale("log")
            ax.set_xlabel("duplicate cluster size (kept representative)")
            ax.set_ylabel("clusters")
            parts.append(_img(fig))
    return "\n".join(parts)


def domains_section(kept: pa.Table | None, rejected: pa.Table | None, top: int = 15) -> str:
    def table(t: pa.Table | None, title: str) -> str:
        if t is None or "url" not in t.column_names:
            return ""
        c = Counter(_domain(u) for u in t["url"].to_pylist())
        rows = "".join(f"<tr><td>{_esc(d)}</td><td>{n:,}</td></tr>" for d, n in c.most_common(top))
        return f"<div class=col><h3>{title}</h3><table><tr><th>domain</th><th>docs</th></tr>{rows}</table></div>"

    return f"<div class=row>{table(kept, 'Top domains kept')}{table(rejected, 'Top domains dropped')}</div>"


def samples_section(kept: pa.Table | None, rejected: pa.Table | None, n: int = 5, seed: int = 0) -> str:
    rng = random.Random(seed)
    out = []
    if kept is not None and kept.num_rows:
        idx = sorted(rng.sample(range(kept.num_rows), min(n, kept.num_rows)))
        out.append("<h3>Random kept documents</h3>")
        for i in idx:
            row = {c: kept[c][i].as_py() for c in ("url", "text", "quality_score") if c in kept.column_names}
            extra = f" · quality {row['quality_score']:.3f}" if row.get("quality_score") is not None else ""
            out.append(f"<details><summary>{_esc(row.get('url'))}{extra}</summary><pre>{_esc((row.get('text') or '')[:2000])}</pre></details>")
    if rejected is not None and rejected.num_rows:
        out.append("<h3>Random dropped documents, per reason</h3>")
        reasons = rejected["reason"].to_pylist()
        by: dict[str, list[int]] = {}
        for i, r in enumerate(reasons):
            by.setdefault(r, []).append(i)
        for reason in sorted(by, key=lambda r: -len(by[r])):
            idx = rng.sample(by[reason], min(3, len(by[reason])))
            out.append(f"<h4>{_esc(reason)} ({len(by[reason]):,})</h4>")
            for i in idx:
                url = rejected["url"][i].as_py()
                text = rejected["text"][i].as_py() if "text" in rejected.column_names else None
                out.append(f"<details><summary>{_esc(url)}</summary><pre>{_esc(text or '(no text)')}</pre></details>")
    return "\n".join(out)


def dedup_section(run: RunDir) -> str:
    if not run.glob("global/*"):
        return ""
    try:
        from curate.dedup.audit import render_dedup_report

        text = render_dedup_report(run.url, storage_options=run.storage_options)
    except Exception as e:  # the audit is a section, not a reason to lose the whole report
        text = f"(dedup audit unavailable: {e})"
    return f"<h2>Deduplication audit</h2><pre>{_esc(text)}</pre>"


def training_section(train_dir: Path) -> str:
    metrics = train_dir / "metrics.jsonl"
    if not metrics.exists():
        return ""
    plt = _plt()
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    tr = [(r["step"], r["loss"]) for r in rows if r.get("loss") is not None]
    va = [(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None]
    fig, ax = plt.subplots(figsize=(7, 3))
    if tr:
        ax.plot(*zip(*tr), label="train loss")
    if va:
        ax.plot(*zip(*va), marker="o", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.legend()
    out = ["<h2>Training</h2>", _img(fig)]
    last = rows[-1] if rows else {}
    out.append(f"<p>{_esc(json.dumps({k: last[k] for k in last if k in ('step', 'tokens', 'loss', 'val_loss', 'tokens_per_s')}))}</p>")
    samples = train_dir / "samples.txt"
    if samples.exists():
        out.append(f"<h3>Samples</h3><pre>{_esc(samples.read_text())}</pre>")
    return "\n".join(out)


def ablation_section(path: Path) -> str:
    """The ablation table: per-set losses (± seed std) and bits per byte, unique tokens, epochs, the note
    (budget rule, any fitted classifier fraction) and the paired significance lines with the verdict."""
    if not path.exists():
        return ""
    res = json.loads(path.read_text())
    sets = res.get("sets") or ["held-out"]
    head = "".join(f"<th>{_esc(s)} loss</th><th>{_esc(s)} bits/byte</th>" for s in sets)
    rows = []
    for r in res["results"]:
        per = r.get("sets") or {sets[0]: r}
        cells = "".join(
            f"<td title='per seed: {_esc(', '.join(f'{x:.4f}' for x in per[s]['losses']))}'>"
            f"{per[s]['loss_mean']:.4f} ± {per[s]['loss_std']:.4f}</td>"
            f"<td>{per[s]['bits_per_byte_mean']:.4f}</td>"
            for s in sets
        )
        mark = " *" if r.get("repeated") else ""
        rows.append(f"<tr><td>{_esc(r['recipe'])}{mark}</td><td>{r['docs']:,}</td>"
                    f"<td>{r.get('unique_tokens', r['train_tokens']):,}</td><td>{r.get('epochs', 0):.2f}</td>"
                    f"{cells}</tr>")
    lines = res.get("significance", [])
    repeated = "<p>* trains over its data more than once (--allow-repeat).</p>" if any(
        r.get("repeated") for r in res["results"]) else ""
    verdict = f"<p><b>{_esc(lines[-1])}</b></p>" if lines else ""
    pairs = "".join(f"<li>{_esc(line)}</li>" for line in lines[:-1])
    return (f"<h2>Ablation: held-out loss by recipe</h2><p>{_esc(res.get('note', ''))}</p>"
            "<table><tr><th>recipe</th><th>docs</th><th>unique training tokens</th><th>epochs</th>"
            f"{head}</tr>{''.join(rows)}</table>{repeated}{verdict}"
            + (f"<h3>Paired comparisons (same seeds, 95% t interval)</h3><ul class='small'>{pairs}</ul>"
               if pairs else ""))


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
td:first-child,th:first-child{text-align:left}.small{font-size:80%;text-align:left}pre{white-space:pre-wrap;
background:#f6f6f6;padding:6px;max-height:300px;overflow:auto}.row{display:flex;gap:2em}.fig{display:block;margin:6px 0}"""

# Marks the page once every embedded figure has decoded: a test reads it from headless Chromium's DOM.
SCRIPT = """<script>window.addEventListener('load',function(){var im=[].slice.call(document.images);
var ok=im.filter(function(i){return i.complete&&i.naturalWidth>0}).length;
document.body.setAttribute('data-figures-rendered',ok+'/'+im.length);});</script>"""


def render_report(run_dir: str | Path, train_dir: str | Path | None = None, ablation: str | Path | None = None) -> str:
    """The report of a run directory (local or any fsspec URL) as one HTML string."""
    run = RunDir(str(run_dir))
    f = funnel(run.url)
    kept = _table(run, "data", ["id", "url", "text", "language_score", "quality_score", "dup_cluster_size"])
    rejected = _table(run, "rejected", ["id", "url", "stage", "reason", "text"])
    meta = run.read_bytes("run.yaml").decode() if run.exists("run.yaml") else ""
    body = [
        f"<h1>curate report — {_esc(run.url.rstrip('/').rsplit('/', 1)[-1])}</h1>",
        f"<p>{f['shards']} input shards, {f['input_bytes'] / 1e6:.1f} MB of input, {f['seconds']:.1f} task-seconds.</p>",
        "<h2>Funnel</h2>", funnel_section(f),
        "<h2>Distributions of kept documents</h2>", histograms_section(kept, rejected),
        "<h2>Domains</h2>", domains_section(kept, rejected),
        "<h2>Samples</h2>", samples_section(kept, rejected),
        dedup_section(run),
    ]
    if train_dir:
        body.append(training_section(Path(train_dir)))
    if ablation:
        body.append(ablation_section(Path(ablation)))
    body.append(f"<h2>Run</h2><details><summary>run.yaml</summary><pre>{_esc(meta)}</pre></details>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>curate report</title><style>{CSS}</style>"
            f"</head><body>{''.join(body)}{SCRIPT}</body></html>")


def write_report(run_dir: str | Path, output: str | Path | None = None, **kw: Any) -> Any:
    """Write the report (default ``RUN_DIR/report.html``; any fsspec URL); returns where it went."""
    html_text = render_report(run_dir, **kw).encode("utf-8")
    if output is None:
        run = RunDir(str(run_dir))
        run.write_bytes("report.html", html_text)
        return Path(run.full("report.html")) if run.local else run.uri("report.html")
    out = RunDir(str(output))
    parent = out.url.rsplit("/", 1)
    folder = RunDir(parent[0] if len(parent) == 2 and parent[0] else ".", out.storage_options)
    folder.write_bytes(parent[-1], html_text)
    return Path(folder.full(parent[-1])) if folder.local else folder.uri(parent[-1])
