"""Paper-style tables rendered from metrics JSON (Markdown and static HTML), with provenance; paper
tables transcribed as data (`papers`)."""

from humanvid.reports.table import RowResult, TableSpec, lock_hashes, render_html, render_markdown

__all__ = ["RowResult", "TableSpec", "lock_hashes", "render_html", "render_markdown"]
