"""Render a table: one row per sampler, the table's metric columns, the paper's numbers where given,
which estimator produced each condition (ground truth named as such), failures, and provenance."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from humanvid.config import TableConfig
from humanvid.metrics import METRICS


@dataclass(frozen=True)
class RowResult:
    label: str
    sampler: str
    metrics: dict  # the evaluate stage's JSON document
    provenance: dict[str, str] = field(default_factory=dict)  # what -> DVC md5
    preview: str | None = None  # path of the preview image, relative to the report


def lock_hashes(lock: dict, stage: str) -> str | None:
    """The md5 DVC recorded for a stage's first output in dvc.lock (None if it has not run)."""
    outs = (lock.get("stages", {}).get(stage) or {}).get("outs") or []
    return outs[0].get("md5") if outs else None


def _fmt(metric: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return METRICS[metric].fmt.format(value)


def _cell(metric: str, ours: float | None, paper: float | None) -> str:
    if paper is None:
        return _fmt(metric, ours)
    if ours is None:
        return f"— (paper {_fmt(metric, paper)})"
    return f"{_fmt(metric, ours)} (paper {_fmt(metric, paper)}, Δ {ours - paper:+.3g})"


def _condition_lines(conditions: dict[str, dict]) -> list[str]:
    lines = []
    for cond, src in sorted(conditions.items()):
        kind = "**ground truth** (synthetic annotations, not an estimate)" if src["ground_truth"] else "estimated"
        lines.append(f"`{cond}` from `{src['estimator']}`: {kind}")
    return lines


def render_markdown(name: str, table: TableConfig, rows: list[RowResult]) -> str:
    protocols = sorted({r.metrics.get("protocol", "?") for r in rows})
    out = [f"# {table.title or name}", ""]
    out.append(f"Table `{name}`. Metrics are per-frame means pooled over all test frames; protocol: "
               f"{', '.join(protocols)} (standard definitions, see docs/metrics.md).")  # fmt: skip
    if table.paper:
        out.append(f"Paper numbers: {table.source or 'source not given'}. Cells read: ours (paper, Δ = ours − paper).")
    out.append("")
    header = ["Row"] + [METRICS[c].label for c in table.columns] + ["clips", "frames", "failed clips"]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for r in rows:
        paper = (table.paper or {}).get(r.label, {})
        cells = [_cell(c, r.metrics["overall"].get(c), paper.get(c)) for c in table.columns]
        failed = len({f["clip_id"] for f in r.metrics.get("failed", [])})
        out.append("| " + " | ".join([r.label] + cells + [str(len(r.metrics["clips"])), str(r.metrics["frames"]), str(failed)]) + " |")
    out.append("")

    out += ["## Conditions", ""]
    for r in rows:
        out.append(f"- {r.label} (data `{r.metrics.get('data', '?')}`): " + "; ".join(_condition_lines(r.metrics.get("conditions", {}))))
    out.append("")

    previews = [r for r in rows if r.preview]
    if previews:
        out += ["## Samples", "", "Rows of each image: generated | ground truth | condition (first test clip).", ""]
        for r in previews:
            out += [f"**{r.label}**", "", f"![{r.label}: generated, ground truth, condition]({r.preview})", ""]

    out += ["## Failures", ""]
    failures = [(r.label, f) for r in rows for f in r.metrics.get("failed", [])]
    if failures:
        out += ["| Row | clip | stage | error |", "|---|---|---|---|"]
        out += [f"| {label} | {f['clip_id']} | {f['stage']} | {f['error'].replace('|', '/')} |" for label, f in failures]
    else:
        out.append("None: every clip went through every stage.")
    out.append("")

    out += ["## Provenance", "", "DVC md5 of the outputs each row came from (`dvc.lock`).", ""]
    keys = sorted({k for r in rows for k in r.provenance})
    out.append("| Row | sampler | " + " | ".join(keys) + " |")
    out.append("|---|---|" + "---|" * len(keys))
    for r in rows:
        out.append(f"| {r.label} | `{r.sampler}` | " + " | ".join(f"`{r.provenance.get(k) or 'not run'}`" for k in keys) + " |")
    out.append("")
    return "\n".join(out)
