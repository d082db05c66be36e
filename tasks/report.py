"""report@{table}: reports/{table}.md from the rows' metrics, with conditions, samples, failures, provenance."""

from __future__ import annotations

import json
import os

import yaml

from humanvid.atomic import write_text
from humanvid.reports import RowResult, lock_hashes, render_markdown
from tasks.common import progress, stage_context


def main(argv: list[str] | None = None) -> None:
    ctx = stage_context("report", "tables", argv)
    table = ctx.cfg.tables[ctx.name]
    lock_path = ctx.layout.root / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text()) if lock_path.is_file() else {}
    report_path = ctx.layout.report(ctx.name)
    rows = []
    for label, sampler in table.rows.items():
        metrics_path = ctx.layout.metrics(sampler)
        if not metrics_path.is_file():
            raise SystemExit(f"tables.{ctx.name}.rows.{label}: metrics {metrics_path} missing (evaluate@{sampler} has not run)")
        s = ctx.cfg.samplers[sampler]
        provenance = {
            "data (shard)": lock_hashes(lock, f"shard@{s.data}"),
            "model (finetune)": lock_hashes(lock, f"finetune@{s.model}"),
            "samples": lock_hashes(lock, f"sample@{sampler}"),
        }
        preview = ctx.layout.preview(sampler)
        rel = os.path.relpath(preview, report_path.parent) if preview.is_file() else None
        rows.append(RowResult(label, sampler, json.loads(metrics_path.read_text()), provenance, rel))
    write_text(report_path, render_markdown(ctx.name, table, rows))
    progress(f"wrote {report_path}")


if __name__ == "__main__":
    main()
