"""Paper tables as data: `reports/papers/*.yaml` transcribes a published table — numbers as printed,
with their source — and maps each row to the sampler config that would reproduce it.

    title: "MagicAnimate (supplement) Table 1: more ablation studies"
    source: "MagicAnimate supplementary material, Sec. 7, Table 1"
    dataset: tiktok
    protocol: disco@2024-04    # the evaluation protocol behind the numbers (humanvid.metrics.protocols), or unreleased
    columns:                   # metric -> how the paper prints it
      l1: {scale: 1.0e-4}      # printed value × scale = the metric's value
      psnr: {}
    rows:
      Ours:
        values: {l1: 3.13, psnr: 18.22}   # null where the paper prints "-"
        sampler: magicanimate_tiktok      # a key of params.yaml `samplers`, or null
        needs: "MagicAnimate (issue 7)"   # what running the row takes beyond its sampler

`resolve_rows` decides per row whether it can run here and, if not, what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from humanvid.config import Config


class PaperError(ValueError):
    """A paper table file that is missing or malformed (the message names the file and key)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PaperColumn(_Strict):
    scale: float = 1.0
    """The paper prints value / scale (e.g. 1e-4 for "L1 ×10⁻⁴")."""
    label: str | None = None
    """The paper's column heading, where it differs from ours."""


class PaperRow(_Strict):
    values: dict[str, float | None]
    sampler: str | None = None
    needs: str | None = None
    caveat: str | None = None
    """What makes this row's comparison with the paper's number weaker than it looks (e.g. released weights that
    are not the paper's checkpoint): the report prints it beside the row's Δ."""


class PaperTable(_Strict):
    title: str
    source: str = Field(min_length=1)
    dataset: str
    protocol: str
    """A protocol of `humanvid.metrics.protocols`, or `unreleased` (no evaluation code was published)."""
    notes: list[str] = Field(default_factory=list)
    columns: dict[str, PaperColumn]
    rows: dict[str, PaperRow]


def load_paper(path: str | Path) -> PaperTable:
    from humanvid.config import safe_load_yaml, yaml_problem

    path = Path(path)
    if not path.is_file():
        raise PaperError(f"{path}: paper table not found")
    try:
        data = safe_load_yaml(path.read_text())
        table = PaperTable.model_validate(data)
    except yaml.YAMLError as exc:
        raise PaperError(f"{path}: {yaml_problem(exc)}") from None
    except ValidationError as exc:
        lines = [f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise PaperError("\n".join(lines)) from None
    from humanvid.metrics import PROTOCOLS

    if table.protocol not in (*PROTOCOLS, "unreleased"):
        raise PaperError(f"{path}: protocol: unknown evaluation protocol {table.protocol!r}; known: {', '.join(PROTOCOLS)}, unreleased")
    for label, row in table.rows.items():
        extra = set(row.values) - set(table.columns)
        if extra:
            raise PaperError(f"{path}: rows.{label}.values: {sorted(extra)} are not columns ({', '.join(table.columns)})")
    return table


@dataclass(frozen=True)
class TableRow:
    label: str
    sampler: str | None
    """The sampler that produces the row's numbers (None: nothing here can)."""
    needs: str | None
    """Why the row cannot run here; None when it can."""
    paper: dict[str, float | None]
    """The paper's values in metric units (printed value × scale)."""
    caveat: str | None = None
    """The transcription's caveat on comparing this row (`PaperRow.caveat`)."""


def table_columns(cfg: "Config", name: str, root: Path) -> tuple[list[str], PaperTable | None]:
    table = cfg.tables[name]
    paper = load_paper(root / table.paper) if table.paper else None
    columns = table.columns or (list(paper.columns) if paper else [])
    return columns, paper


def table_samplers(cfg: "Config", name: str, root: Path) -> list[str]:
    """The samplers a table's rows name that params.yaml defines (whether or not their weights are here)."""
    table = cfg.tables[name]
    paper = load_paper(Path(root) / table.paper) if table.paper else None
    named = [r.sampler for r in paper.rows.values()] if paper else []
    named += list(table.rows.values())
    return [s for s in dict.fromkeys(named) if s in cfg.samplers]


def resolve_rows(cfg: "Config", name: str, root: Path) -> list[TableRow]:
    """Every row of a table with its sampler and, for rows that cannot run here, what they need:
    no sampler for the method, a sampler missing from params.yaml, or released weights not on this
    machine (the model's, or the ones its evaluation needs come out per metric in the metrics JSON)."""
    from humanvid import weights
    from humanvid.reports.provenance import model_weights

    table = cfg.tables[name]
    paper = load_paper(root / table.paper) if table.paper else None
    labels = list(paper.rows) if paper else []
    labels += [label for label in table.rows if label not in labels]
    out = []
    for label in labels:
        prow = paper.rows.get(label) if paper else None
        sampler = table.rows.get(label) or (prow.sampler if prow else None)
        values = {}
        if prow is not None:
            values = {m: (v * paper.columns[m].scale if v is not None else None) for m, v in prow.values.items()}
        hint = f" — {prow.needs}" if prow is not None and prow.needs else ""
        needs = None
        if sampler is None:
            needs = f"a method humanvid does not implement{hint}"
        elif sampler not in cfg.samplers:
            needs = f"sampler `{sampler}` in params.yaml{hint}"
        else:
            missing = weights.missing(model_weights(cfg, cfg.samplers[sampler].model), cfg.weights.overrides)
            if missing:
                needs = weights.fetch_hint(missing) + hint
        out.append(TableRow(label, sampler, needs, values, prow.caveat if prow is not None else None))
    return out
