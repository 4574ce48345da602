"""The report, summary and page written again from the report's own rows, without June.

``retain`` and ``acknowledge`` change rows (an ID becomes its pseudonym, a row is erased, a
decision is added) offline. Each reads every report the digest record names and still finds,
changes its rows and stages it again in its own format (CSV read as text, so what it does not
change keeps its bytes); the summary and page beside the latest report of each folder are
summed up again from its rows and the erased rows' remainder (erasures.py), so they keep
their counts and figures. Everything goes into one rewrite (rewrite.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from bulk_delete import __version__, erasures, report_files
from bulk_delete.checkpoint import Manifest, last_runs
from bulk_delete.digests import NAME as DIGESTS
from bulk_delete.digests import file_records, inputs_read, read_chain
from bulk_delete.journal import INVALID
from bulk_delete.report_html import render
from bulk_delete.report_html_data import PageData
from bulk_delete.report_rows import MEANING, SCHEMA, summarize
from bulk_delete.rewrite import Rewrite

#: Changes the rows of one report (as read: CSV as text) into what it holds next.
Change = Callable[[pl.DataFrame], pl.DataFrame]


def reports(directory: Path) -> list[Path]:
    """Every report the digest record names and that is still there, latest recorded last."""
    links, _, _ = read_chain(directory / DIGESTS)
    held = file_records([link.record for link in links if link.record is not None])
    named = [(records[-1].get("seq") or 0, name) for name, records in held.items()
             if records[-1].get("role") == "report"]
    paths = [directory / name for _, name in sorted(named)]  # an absolute name stays one
    return [path for path in paths if path.is_file()]


def typed(rows: pl.DataFrame) -> pl.DataFrame:
    """Report rows as read, in the report's types (a CSV's text), every column there."""
    def column(name: str, dtype: type[pl.DataType]) -> pl.Expr:
        if name not in rows.columns:
            return pl.lit(None, dtype).alias(name)
        if dtype is pl.Boolean and rows.schema[name] == pl.String:
            return (pl.col(name) == "true").alias(name)
        return pl.col(name).cast(dtype, strict=False)
    return rows.select(column(name, dtype) for name, dtype in SCHEMA.items())


def in_order(rows: pl.DataFrame) -> pl.DataFrame:
    """Rows sorted by ID, invalid rows last in the order they had: as reconcile writes them."""
    invalid = pl.col("outcome") == INVALID
    return rows.sort(invalid, pl.when(~invalid).then(pl.col("id")), maintain_order=True)


def stage(rewrite: Rewrite, directory: Path, manifest: Manifest, change: Change, at: str, *,
          erasing: pl.DataFrame | None = None) -> None:
    """Stage each report with ``change`` applied, then the summary and page of the latest
    report of each folder, summed up again from its changed rows and the remainder of the
    rows erased, those ``erasing`` now (erasures.remainder) included."""
    latest = {path.parent: path for path in reports(directory)}
    for path in reports(directory):
        rows = change(report_files.read(path))
        rewrite.add(path, "report", report_files.writer(rows, path.suffix))
        if latest[path.parent] == path:
            _summary_and_page(rewrite, directory, manifest, report=path, written=rows, at=at,
                              erasing=erasing)
        del rows


def _summary_and_page(rewrite: Rewrite, directory: Path, manifest: Manifest, *, report: Path,
                      written: pl.DataFrame, at: str, erasing: pl.DataFrame | None) -> None:
    """Stage summary.json and report.html beside ``report``, from the rows ``written``."""
    summary_path, page = report.with_name("summary.json"), report.with_name("report.html")
    old: dict[str, Any] = {}
    if summary_path.is_file():
        old = json.loads(summary_path.read_text(encoding="utf-8"))
    rows = typed(written)
    counted = erasures.with_erased(rows.lazy(), [directory], erasing)
    about = {**old.get("about", {}), "columns": {
        name: MEANING[name] for name in written.columns if name in MEANING}}
    summary = {**old, **summarize(counted),
               "retention": erasures.retention(rows.lazy(), [directory], erasing),
               "about": about}
    text = json.dumps(summary, indent=2) + "\n"
    rewrite.add(summary_path, "summary", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    html = render(PageData(rows=counted.collect(), summary=summary, runs=last_runs(directory),
                           writer=os.getpid(), inputs=inputs_read(directory),
                           tool_version=__version__, generated_at=at, kind=manifest.kind,
                           api_host=manifest.api_host,
                           deadline_hours=float(old.get("deadline_hours", 72.0))))
    rewrite.add(page, "page", lambda tmp: tmp.write_text(html, encoding="utf-8"))
