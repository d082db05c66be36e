"""Render a table as Markdown and as a static HTML page from the same content: per cell ours beside the
paper's number and the difference, with the protocol named; every protocol side by side, row caveats and rank warnings; rows that
cannot run here with what they need; conditions and their sources (ground truth named as such);
sample grids and short videos (depth too, for a model that generates it); loss curves of each training
stage; per-stage wall time and GPU-hours; failures; DVC provenance."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

from humanvid.metrics import METRICS, PROTOCOLS, protocol, rank_warning
from humanvid.seeds import Spread, exceeds_spread


@dataclass(frozen=True)
class RowResult:
    label: str
    sampler: str | None
    metrics: dict | None = None  # the evaluate stage's JSON document (None: the row did not run)
    provenance: dict[str, str | None] = field(default_factory=dict)  # what -> DVC md5
    preview: str | None = None  # grid image, relative to the report
    video: str | None = None  # short video, relative to the report
    needs: str | None = None  # why the row cannot run here
    paper: dict[str, float | None] = field(default_factory=dict)  # the paper's values, metric units
    curves: list[tuple[str, str]] = field(default_factory=list)  # (training stage, loss-curve SVG relative to the report)
    seed_metrics: list[dict] = field(default_factory=list)  # the metrics documents of every seed (`metrics` is the first)
    caveat: str | None = None  # what weakens this row's comparison with the paper (shown beside its Δ)
    ran_once: bool = False  # its seeds are one run counted for each (it draws no random numbers: humanvid.seeds.seed_runs)


@dataclass(frozen=True)
class TableSpec:
    """What the renderers need to know about the table itself."""

    name: str
    title: str
    columns: list[str]
    protocol: str  # the protocol of the numbers set beside the paper's
    paper_source: str | None = None
    paper_protocol: str | None = None  # a protocol name, or unreleased
    scales: dict[str, float] = field(default_factory=dict)  # metric -> the paper's print scale
    column_labels: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seed_scope: str = "training"  # what its seeds vary (TableConfig.seed_scope)


SAMPLES_CAPTION = ("Each image: generated | ground truth | the model's control images (first test clip), and for a model that "
                   "generates depth its depth | the ground-truth depth (colour-encoded, aligned to the ground truth); the video "
                   "shows them side by side.")  # fmt: skip
SPREAD_CAPTION = ("Every row ran with {n} seeds ({what}): cells are mean ± standard "
                  "deviation over seeds. Row pairs whose means differ by more than the sum of their standard deviations, "
                  "better row first:")  # fmt: skip
CURVES_CAPTION = ("Per-step loss terms of each training stage behind the rows (raw and a moving average); the numbers are "
                  "DVCLive's, under `reports/training/` — `dvc plots show` draws them.")  # fmt: skip


def _unique_curves(rows: list[RowResult]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(c for r in rows for c in r.curves))


def lock_hashes(lock: dict, stage: str) -> str | None:
    """The md5 DVC recorded for a stage's first output in dvc.lock (None if it has not run)."""
    outs = (lock.get("stages", {}).get(stage) or {}).get("outs") or []
    return outs[0].get("md5") if outs else None


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(metric: str, value: float | None, scale: float = 1.0) -> str:
    if _is_missing(value):
        return "—"
    return METRICS[metric].fmt.format(value / scale)


def _value(doc: dict, metric: str, protocol: str) -> float | None:
    block = doc.get("protocols", {}).get(protocol, {}).get("overall")
    if block is None and protocol == doc.get("protocol"):
        block = doc.get("overall", {})
    return (block or {}).get(metric)


def spread(row: RowResult, metric: str, protocol: str) -> Spread | None:
    """The metric over the row's seeds (None: the row did not run or the metric has no value)."""
    docs = row.seed_metrics or ([row.metrics] if row.metrics is not None else [])
    return Spread.of([_value(d, metric, protocol) for d in docs])


def ours(row: RowResult, metric: str, protocol: str) -> float | None:
    """The row's value: its mean over seeds when it ran with several."""
    if row.metrics is None:
        return None
    if len(row.seed_metrics) > 1:
        s = spread(row, metric, protocol)
        return s.mean if s is not None else None
    return _value(row.metrics, metric, protocol)


def seeded(rows: list[RowResult]) -> bool:
    return any(len(r.seed_metrics) > 1 for r in rows)


def beyond_spread(spec: TableSpec, rows: list[RowResult], metric: str) -> list[tuple[str, str, float]]:
    """(better row, worse row, difference) for each pair whose means differ by more than their spreads
    (humanvid.seeds.exceeds_spread), better first by the metric's direction."""
    stats = [(r.label, s) for r in rows if (s := spread(r, metric, spec.protocol)) is not None]
    sign = 1 if METRICS[metric].higher_is_better else -1
    out = []
    for i, (la, a) in enumerate(stats):
        for lb, b in stats[i + 1 :]:
            if exceeds_spread(a, b):
                (hi, lo) = ((la, a), (lb, b)) if sign * (a.mean - b.mean) > 0 else ((lb, b), (la, a))
                out.append((hi[0], lo[0], hi[1].mean - lo[1].mean))
    return out


def need_of(row: RowResult, metric: str, protocol: str) -> str | None:
    if row.metrics is None:
        return None
    return (row.metrics.get("needs", {}).get(metric) or {}).get(protocol)


def cell(spec: TableSpec, row: RowResult, metric: str) -> str:
    """'ours (paper P, Δ d)' in the paper's print scale; 'needs …' where a value could not be computed."""
    scale = spec.scales.get(metric, 1.0)
    mine, theirs = ours(row, metric, spec.protocol), row.paper.get(metric)
    need = need_of(row, metric, spec.protocol)
    if row.metrics is None:
        text = "not run"
    elif need and _is_missing(mine) and need.startswith("failed: "):
        text = "failed (see below)"
    elif need and _is_missing(mine):
        text = f"needs {need.split(' (')[0]}"
    else:
        text = fmt(metric, mine, scale)
        if len(row.seed_metrics) > 1 and (sp := spread(row, metric, spec.protocol)) is not None:
            text += f" ± {fmt(metric, sp.sd, scale)}"
        if METRICS[metric].kind == "depth" and not _is_missing(mine) and depth_from_frames(row):
            text += " ‡"
    if _is_missing(theirs):
        return text
    if row.metrics is None or _is_missing(mine):
        return f"{text} (paper {fmt(metric, theirs, scale)})"
    return f"{text} (paper {fmt(metric, theirs, scale)}, Δ {(mine - theirs) / scale:+.3g})"


def _counts(row: RowResult) -> list[str]:
    """clips, frames, failed clips of a row ('—' for a row that did not run)."""
    if row.metrics is None:
        return ["—", "—", "—"]
    failed = len({f["clip_id"] for f in row.metrics.get("failed", [])})
    return [str(len(row.metrics["clips"])), str(row.metrics["frames"]), str(failed)]


def _header_label(spec: TableSpec, metric: str) -> str:
    label = METRICS[metric].label
    paper_label = spec.column_labels.get(metric)
    scale = spec.scales.get(metric, 1.0)
    extra = [f"paper: {paper_label}"] if paper_label else ([f"×{scale:g}"] if scale != 1.0 else [])
    return label + (f" ({', '.join(extra)})" if extra else "")


def _condition_lines(conditions: dict[str, dict]) -> list[str]:
    lines = []
    for cond, src in sorted(conditions.items()):
        kind = "**ground truth** (synthetic annotations, not an estimate)" if src["ground_truth"] else "estimated"
        lines.append(f"`{cond}` from `{src['estimator']}`: {kind}")
    return lines


def _protocol_sentence(spec: TableSpec) -> str:
    s = f"Our numbers: protocol `{spec.protocol}` ({protocol(spec.protocol).summary}; docs/metrics.md)."
    if spec.paper_protocol:
        s += " The paper's numbers: " + (f"protocol `{spec.paper_protocol}`." if spec.paper_protocol != "unreleased" else "evaluation code not released.")
    return s


def row_label(row: RowResult) -> str:
    return f"{row.label} †" if row.caveat else row.label


def depth_from_frames(row: RowResult) -> str | None:
    """What read the row's depth off its generated frames ("‡", `evaluation.synthesized_depth`), or None: the model's
    own depth (or none)."""
    source = (row.metrics or {}).get("depth_source")
    return source if source not in (None, "model") else None


def caveat_lines(rows: list[RowResult]) -> list[str]:
    readers = sorted({s for r in rows if (s := depth_from_frames(r))})
    return [f"† {r.label}: {r.caveat}" for r in rows if r.caveat] + [f"‡ depth: {s} (IDOL's ‡), not the model's" for s in readers]


def warning_lines(spec: TableSpec, rows: list[RowResult]) -> list[str]:
    """The evaluate documents' warnings on this table's columns in its protocol, per row."""
    return [f"{r.label}: {rank_warning(w)}" for r in rows if r.metrics is not None for w in r.metrics.get("warnings", [])
            if w["metric"] in spec.columns and w["protocol"] == spec.protocol]  # fmt: skip


def protocols_caption(rows: list[RowResult]) -> str:
    sizes = {p: next((r.metrics.get("protocols", {}).get(p, {}).get("size") for r in rows if r.metrics is not None), None) for p in PROTOCOLS}
    named = " / ".join(f"`{p}`" + (f" ({sizes[p]}²)" if sizes[p] else "") for p in PROTOCOLS)
    return f"{named} for every row that ran (metric units, not the paper's print scale; docs/metrics.md)."


SEED_SCOPES = {"training": "training seed and noise seed offset by 0…{last}", "noise": "noise seed offset by 0…{last}, one trained model per row"}


def _spread_caption(spec: TableSpec, rows: list[RowResult]) -> str:
    n = max(len(r.seed_metrics) for r in rows)
    caption = SPREAD_CAPTION.format(n=n, what=SEED_SCOPES[spec.seed_scope].format(last=n - 1))
    once = [r.label for r in rows if r.ran_once]
    if once:
        caption = (f"{caption.removesuffix(':')} (rows that draw no random numbers ran once, their output counting for every "
                   f"seed with spread 0: {', '.join(once)}):")  # fmt: skip
    return caption


def _spread_lines(spec: TableSpec, rows: list[RowResult]) -> list[str]:
    lines = []
    for c in spec.columns:
        pairs = beyond_spread(spec, rows, c)
        lines.append(f"{METRICS[c].label}: " + ("; ".join(f"{a} vs {b} ({d / spec.scales.get(c, 1.0):+.3g})" for a, b, d in pairs) or "none"))
    return lines


def render_markdown(spec: TableSpec, rows: list[RowResult], timings: list[dict] | None = None) -> str:
    out = [f"# {spec.title or spec.name}", ""]
    out.append(f"Table `{spec.name}`. " + _protocol_sentence(spec))
    if spec.paper_source:
        out.append(f"Paper numbers: {spec.paper_source}. Cells read: ours (paper, Δ = ours − paper), in the paper's print scale.")
    out += [f"- {n}" for n in spec.notes]
    out.append("")
    header = ["Row"] + [_header_label(spec, c) for c in spec.columns] + ["clips", "frames", "failed clips"]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for r in rows:
        out.append("| " + " | ".join([row_label(r)] + [cell(spec, r, c) for c in spec.columns] + _counts(r)) + " |")
    out.append("")
    out += [f"{line}  " for line in caveat_lines(rows)] + ([""] if caveat_lines(rows) else [])
    warned = warning_lines(spec, rows)
    if warned:
        out += ["**Warnings**", ""] + [f"- {w}" for w in warned] + [""]
    if seeded(rows):
        out += ["## Seed spread", "", _spread_caption(spec, rows), ""]
        out += [f"- {line}" for line in _spread_lines(spec, rows)] + [""]

    waiting = [r for r in rows if r.needs]
    if waiting:
        out += ["## Rows that cannot run here", ""]
        out += [f"- **{r.label}**" + (f" (sampler `{r.sampler}`)" if r.sampler else "") + f": needs {r.needs}" for r in waiting]
        out.append("")
    ran = [r for r in rows if r.metrics is not None]
    needs = sorted({(m, p, w) for r in ran for m, by in r.metrics.get("needs", {}).items() for p, w in by.items() if m in spec.columns})
    if needs:
        out += ["## Metrics that could not be computed", ""]
        out += [f"- `{m}` ({p}): " + (w if w.startswith("failed: ") else f"needs {w}") for m, p, w in needs]
        out.append("")

    if ran:
        out += ["## Every protocol", "", protocols_caption(ran), ""]
        out.append("| Row | " + " | ".join(METRICS[c].label for c in spec.columns) + " |")
        out.append("|---|" + "---:|" * len(spec.columns))
        for r in ran:
            cells = [" / ".join(fmt(c, ours(r, c, p)) for p in PROTOCOLS) for c in spec.columns]
            out.append(f"| {r.label} | " + " | ".join(cells) + " |")
        out.append("")

        out += ["## Conditions", ""]
        for r in ran:
            out.append(f"- {r.label} (data `{r.metrics.get('data', '?')}`): " + "; ".join(_condition_lines(r.metrics.get("conditions", {}))))
        out.append("")

    previews = [r for r in rows if r.preview]
    if previews:
        out += ["## Samples", "", SAMPLES_CAPTION, ""]
        for r in previews:
            out += [f"**{r.label}**", "", f"![{r.label}: generated, ground truth, condition]({r.preview})", ""]
            if r.video:
                out += [f"[video: {r.label}]({r.video})", ""]
    trained = _unique_curves(rows)
    if trained:
        out += ["## Training", "", CURVES_CAPTION, ""]
        out += [f"**{stage}**\n\n![loss curves of {stage}]({path})\n" for stage, path in trained]

    if timings:
        out += ["## Stage times", "", "| stage | wall time (s) | device | GPU-hours |", "|---|---:|---|---:|"]
        out += [f"| {t['stage']} | {t['seconds']:.1f} | {t['device']} | {t['gpu_hours']:.4f} |" for t in timings]
        total = sum(t["seconds"] for t in timings)
        out += [f"| **total** | {total:.1f} | | {sum(t['gpu_hours'] for t in timings):.4f} |", ""]

    out += ["## Failures", ""]
    failures = [(r.label, f) for r in ran for f in r.metrics.get("failed", [])]
    if failures:
        out += ["| Row | clip | stage | error |", "|---|---|---|---|"]
        out += [f"| {label} | {f['clip_id']} | {f['stage']} | {f['error'].replace('|', '/')} |" for label, f in failures]
    else:
        out.append("None: every clip of the rows that ran went through every stage." if ran else "No row ran.")
    out.append("")

    if ran:
        out += ["## Provenance", "", "DVC md5 of the outputs each row came from (`dvc.lock`).", ""]
        keys = sorted({k for r in ran for k in r.provenance})
        out.append("| Row | sampler | " + " | ".join(keys) + " |")
        out.append("|---|---|" + "---|" * len(keys))
        for r in ran:
            out.append(f"| {r.label} | `{r.sampler}` | " + " | ".join(f"`{r.provenance.get(k) or 'not run'}`" for k in keys) + " |")
        out.append("")
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#1b1b1b;line-height:1.45}
table{border-collapse:collapse;margin:1rem 0;font-size:.92rem}
th,td{border:1px solid #d0d0d0;padding:.3rem .55rem;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f3f3f3}
td.needs{color:#8a5a00;background:#fff7e6}
td.notrun{color:#777}
.delta-good{color:#146c2e}.delta-bad{color:#a11}
figure{margin:1rem 0}
img,video{image-rendering:pixelated;max-width:100%;border:1px solid #ccc}
code{background:#f5f5f5;padding:0 .2rem}
"""


def _delta_class(metric: str, mine, theirs) -> str:
    if _is_missing(mine) or _is_missing(theirs):
        return ""
    better = (mine > theirs) == METRICS[metric].higher_is_better
    return "delta-good" if better else "delta-bad"


def _code_spans(text: str) -> str:
    """`x` -> <code>x</code> in already-escaped text."""
    import re

    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def render_html(spec: TableSpec, rows: list[RowResult], timings: list[dict] | None = None) -> str:
    """A self-contained static page (inline CSS, relative image and video paths)."""
    e = html.escape
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{e(spec.title or spec.name)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{e(spec.title or spec.name)}</h1>", f"<p>Table <code>{e(spec.name)}</code>. {_code_spans(e(_protocol_sentence(spec)))}</p>"]  # fmt: skip
    if spec.paper_source:
        out.append(f"<p>Paper numbers: {e(spec.paper_source)}. Cells read: ours (paper, Δ = ours − paper), in the paper's print scale.</p>")
    if spec.notes:
        out.append("<ul>" + "".join(f"<li>{_code_spans(e(n))}</li>" for n in spec.notes) + "</ul>")
    out.append('<table id="results"><thead><tr><th>Row</th>' + "".join(f"<th>{e(_header_label(spec, c))}</th>" for c in spec.columns)
               + "<th>clips</th><th>frames</th><th>failed clips</th></tr></thead><tbody>")  # fmt: skip
    for r in rows:
        tds = []
        for c in spec.columns:
            text = cell(spec, r, c)
            cls = "notrun" if r.metrics is None else ("needs" if text.startswith("needs") else _delta_class(c, ours(r, c, spec.protocol), r.paper.get(c)))
            tds.append(f'<td class="{cls}" data-metric="{e(c)}">{e(text)}</td>')
        out.append(f'<tr data-row="{e(r.label)}"><td>{e(row_label(r))}</td>' + "".join(tds) + "".join(f"<td>{c}</td>" for c in _counts(r)) + "</tr>")
    out.append("</tbody></table>")
    if caveat_lines(rows):
        out.append('<p class="caveats">' + "<br>".join(e(line) for line in caveat_lines(rows)) + "</p>")
    if warning_lines(spec, rows):
        out.append('<p><b>Warnings</b></p><ul class="warnings">' + "".join(f"<li>{e(w)}</li>" for w in warning_lines(spec, rows)) + "</ul>")
    if seeded(rows):
        out.append(f"<h2>Seed spread</h2><p>{e(_spread_caption(spec, rows))}</p><ul>"
                   + "".join(f"<li>{e(line)}</li>" for line in _spread_lines(spec, rows)) + "</ul>")  # fmt: skip
    waiting = [r for r in rows if r.needs]
    if waiting:
        out.append("<h2>Rows that cannot run here</h2><ul>" + "".join(
            f"<li><b>{e(r.label)}</b>{(' (sampler <code>' + e(r.sampler) + '</code>)') if r.sampler else ''}: needs {_code_spans(e(r.needs))}</li>" for r in waiting) + "</ul>")  # fmt: skip
    ran = [r for r in rows if r.metrics is not None]
    if ran:
        out.append(f"<h2>Every protocol</h2><p>{_code_spans(e(protocols_caption(ran)))}</p><table><thead><tr><th>Row</th>"
                   + "".join(f"<th>{e(METRICS[c].label)}</th>" for c in spec.columns) + "</tr></thead><tbody>")  # fmt: skip
        for r in ran:
            out.append(f"<tr><td>{e(r.label)}</td>" + "".join(f"<td>{e(' / '.join(fmt(c, ours(r, c, p)) for p in PROTOCOLS))}</td>" for c in spec.columns) + "</tr>")
        out.append("</tbody></table><h2>Conditions</h2><ul>")
        for r in ran:
            lines = "; ".join(_condition_lines(r.metrics.get("conditions", {}))).replace("**", "").replace("`", "")
            out.append(f"<li>{e(r.label)} (data <code>{e(r.metrics.get('data', '?'))}</code>): {e(lines)}</li>")
        out.append("</ul>")
    previews = [r for r in rows if r.preview]
    if previews:
        out.append(f"<h2>Samples</h2><p>{e(SAMPLES_CAPTION)}</p>")
        for r in previews:
            out.append(f'<figure><figcaption><b>{e(r.label)}</b></figcaption><img src="{e(r.preview)}" alt="{e(r.label)}: generated, ground truth, condition">')
            if r.video:
                out.append(f'<br><video src="{e(r.video)}" controls loop muted autoplay playsinline></video>')
            out.append("</figure>")
    trained = _unique_curves(rows)
    if trained:
        out.append(f"<h2>Training</h2><p>{_code_spans(e(CURVES_CAPTION))}</p>")
        out += [f'<figure><figcaption><b>{e(stage)}</b></figcaption><img src="{e(path)}" alt="loss curves of {e(stage)}"></figure>' for stage, path in trained]
    if timings:
        out.append("<h2>Stage times</h2><table><thead><tr><th>stage</th><th>wall time (s)</th><th>device</th><th>GPU-hours</th></tr></thead><tbody>")
        out += [f"<tr><td>{e(t['stage'])}</td><td>{t['seconds']:.1f}</td><td>{e(t['device'])}</td><td>{t['gpu_hours']:.4f}</td></tr>" for t in timings]
        out.append(f"<tr><td><b>total</b></td><td>{sum(t['seconds'] for t in timings):.1f}</td><td></td><td>{sum(t['gpu_hours'] for t in timings):.4f}</td></tr></tbody></table>")
    failures = [(r.label, f) for r in ran for f in r.metrics.get("failed", [])]
    out.append("<h2>Failures</h2>")
    if failures:
        out.append("<table><thead><tr><th>Row</th><th>clip</th><th>stage</th><th>error</th></tr></thead><tbody>"
                   + "".join(f"<tr><td>{e(lb)}</td><td>{e(f['clip_id'])}</td><td>{e(f['stage'])}</td><td>{e(f['error'])}</td></tr>" for lb, f in failures)
                   + "</tbody></table>")  # fmt: skip
    else:
        out.append("<p>None: every clip of the rows that ran went through every stage.</p>" if ran else "<p>No row ran.</p>")
    if ran:
        keys = sorted({k for r in ran for k in r.provenance})
        out.append("<h2>Provenance</h2><p>DVC md5 of the outputs each row came from (<code>dvc.lock</code>).</p><table><thead><tr><th>Row</th><th>sampler</th>"
                   + "".join(f"<th>{e(k)}</th>" for k in keys) + "</tr></thead><tbody>")  # fmt: skip
        for r in ran:
            out.append(f"<tr><td>{e(r.label)}</td><td><code>{e(r.sampler or '')}</code></td>" + "".join(f"<td><code>{e(r.provenance.get(k) or 'not run')}</code></td>" for k in keys) + "</tr>")
        out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
