"""report@{table}: reports/{table}.md and reports/{table}.html from the rows' metrics and the paper's
transcription, with rows that cannot run here, samples, stage times, failures and provenance."""

from __future__ import annotations

import json
import os

from humanvid.atomic import write_text
from humanvid.config import safe_load_yaml
from humanvid.pipeline import final_stage, pipeline_stages, stage_key, stage_lineage
from humanvid.reports import RowResult, TableSpec, lock_hashes, render_html, render_markdown
from humanvid.reports.papers import resolve_rows, table_columns
from humanvid.reports.provenance import row_weights, untrained, weight_provenance
from humanvid.seeds import seed_runs
from tasks.common import progress, stage_context


def main(argv: list[str] | None = None) -> None:
    ctx = stage_context("report", "tables", argv)
    table, root = ctx.cfg.tables[ctx.name], ctx.layout.root
    columns, paper = table_columns(ctx.cfg, ctx.name, root)
    lock_path = root / "dvc.lock"
    lock = safe_load_yaml(lock_path.read_text()) if lock_path.is_file() else {}
    report_path = ctx.layout.report(ctx.name)

    def rel(path) -> str | None:
        return os.path.relpath(path, report_path.parent) if path.is_file() else None

    protocol = table.protocol or (paper.protocol if paper is not None and paper.protocol != "unreleased" else "corrected")
    rows = []
    for row in resolve_rows(ctx.cfg, ctx.name, root):
        if row.needs is not None:
            rows.append(RowResult(row.label, row.sampler, needs=row.needs, paper=row.paper, caveat=row.caveat))
            continue
        seed_metrics, runs = [], seed_runs(ctx.cfg, row.sampler, table.seeds)
        for sampler in runs:  # the row's seeds (one unless the table sets `seeds`)
            metrics_path = ctx.layout.metrics(sampler)
            if not metrics_path.is_file():
                raise SystemExit(f"tables.{ctx.name}: row {row.label!r}: metrics {metrics_path} missing (evaluate@{sampler} has not run)")
            seed_metrics.append(json.loads(metrics_path.read_text()))
        s = ctx.cfg.samplers[row.sampler]
        last = final_stage(ctx.cfg, s.model)
        provenance = {
            "data (shard)": lock_hashes(lock, f"shard@{s.data}"),
            "model (last stage)": lock_hashes(lock, f"train@{stage_key(s.model, last)}") if last else untrained(ctx.cfg, s.model),
            "samples": lock_hashes(lock, f"sample@{row.sampler}"),
            "evaluated at": f"{seed_metrics[0].get('protocols', {}).get(protocol, {}).get('size', '?')}² ({protocol})",
        } | weight_provenance(row_weights(ctx.cfg, s.model, seed_metrics[0]))
        curves = [(f"{m} · {st}", rel(ctx.layout.training_log(m, st) / "loss.svg")) for m, st in stage_lineage(ctx.cfg, s.model)]
        previews = ctx.layout.previews(row.sampler)
        rows.append(RowResult(row.label, row.sampler, seed_metrics[0], provenance, rel(previews / "grid.png"), rel(previews / "clip.webm"),
                              paper=row.paper, curves=[(n, p) for n, p in curves if p], seed_metrics=seed_metrics, caveat=row.caveat,
                              ran_once=len(runs) > 1 and len(set(runs)) == 1))  # fmt: skip
    timings = []
    for stage in pipeline_stages(ctx.cfg, [r.sampler for r in rows if r.metrics is not None]):
        path = ctx.layout.timing(stage)
        if path.is_file():
            timings.append(json.loads(path.read_text()))
    spec = TableSpec(
        name=ctx.name,
        title=table.title or (paper.title if paper else ctx.name),
        columns=columns,
        protocol=protocol,
        paper_source=paper.source if paper else None,
        paper_protocol=paper.protocol if paper else None,
        scales={m: c.scale for m, c in paper.columns.items()} if paper else {},
        column_labels={m: c.label for m, c in paper.columns.items() if c.label} if paper else {},
        notes=paper.notes if paper else [],
        seed_scope=table.seed_scope,
    )
    write_text(report_path, render_markdown(spec, rows, timings))
    write_text(ctx.layout.report_html(ctx.name), render_html(spec, rows, timings))
    progress(f"wrote {report_path} and {ctx.layout.report_html(ctx.name)}")


if __name__ == "__main__":
    main()
