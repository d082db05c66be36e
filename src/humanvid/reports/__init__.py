"""Paper-style tables rendered from metrics JSON, with provenance."""

from humanvid.reports.table import RowResult, lock_hashes, render_markdown

__all__ = ["RowResult", "lock_hashes", "render_markdown"]
