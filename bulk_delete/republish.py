"""The report, summary and page written again from the report's own rows, without June.

``retain`` and ``acknowledge`` change rows (an ID becomes its pseudonym, a row is erased, a
decision is added) offline. Each reads every report the digest record names and still finds,
changes its rows and stages it again in its own format (CSV read as text, so what it does not
change keeps its bytes; a row keeps its place); the summary and page beside the latest report
of each folder are summed up again from it and the erased rows' remainder (erasures.py), so
they keep their counts and figures. Everything goes into one rewrite (rewrite.py).
"""

from __future__ import annotations

import functools
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
from bulk_delete.report_html import render
from bulk_delete.report_html_data import PageData
from bulk_delete.report_rows import MEANING, SCHEMA, summarize
from bulk_delete.rewrite import Rewrite

#: Changes the rows of one report (as read: CSV as text) into what it holds next.
Change = Callable[[pl.LazyFrame], pl.LazyFrame]


def reports(directory: Path) -> list[Path]:
    """Every report the digest record names and that is still there, latest recorded last."""
    links, _, _ = read_chain(directory / DIGESTS)
    held = file_records([link.record for link in links if link.record is not None])
    named = [(records[-1].get("seq") or 0, name) for name, records in held.items()
             if records[-1].get("role") == "report"]
    paths = [directory / name for _, name in sorted(named)]  # an absolute name stays one
    return [path for path in paths if path.is_file()]


def typed(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Report rows as read, in the report's types (a CSV's text), every column there."""
    schema = rows.collect_schema()

    def column(name: str, dtype: type[pl.DataType]) -> pl.Expr:
        if name not in schema:
            return pl.lit(None, dtype).alias(name)
        if dtype is pl.Boolean and schema[name] == pl.String:
            return (pl.col(name) == "true").alias(name)
        return pl.col(name).cast(dtype, strict=False)
    return rows.select(column(name, dtype) for name, dtype in SCHEMA.items())


def stage(rewrite: Rewrite, directory: Path, manifest: Manifest, change: Change, at: str, *,
          erasing: pl.DataFrame | None = None) -> None:
    """Stage each report with ``change`` applied, then the summary and page of the latest
    report of each folder, summed up again from that report as staged and the remainder of
    the rows erased, those ``erasing`` now (erasures.remainder) included. Each is read and
    written in a stream when the rewrite stages it, so no report is held whole."""
    found = reports(directory)
    latest = {path.parent: path for path in found}
    for path in found:
        rewrite.add(path, "report", functools.partial(_report, path, change))
        if latest[path.parent] == path:
            _summary_and_page(rewrite, directory, manifest, report=path, at=at,
                              erasing=erasing)


def _report(path: Path, change: Change, to: Path) -> None:
    report_files.writer(change(report_files.scan(path)), path.suffix)(to)


def _summary_and_page(rewrite: Rewrite, directory: Path, manifest: Manifest, *, report: Path,
                      at: str, erasing: pl.DataFrame | None) -> None:
    """Stage summary.json and report.html beside ``report``, from it as staged."""
    summary_path, page = report.with_name("summary.json"), report.with_name("report.html")
    old: dict[str, Any] = {}
    if summary_path.is_file():
        old = json.loads(summary_path.read_text(encoding="utf-8"))
    summary: dict[str, Any] = {}

    def write_summary(to: Path) -> None:
        written = report_files.scan(rewrite.staged(report), report.suffix)
        rows = typed(written)
        about = {**old.get("about", {}), "columns": {
            name: MEANING[name] for name in written.collect_schema() if name in MEANING}}
        summary.update({**old, **summarize(erasures.with_erased(rows, [directory], erasing)),
                        "retention": erasures.retention(rows, [directory], erasing),
                        "about": about})
        to.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")

    def write_page(to: Path) -> None:  # after the summary: the page shows it
        rows = typed(report_files.scan(rewrite.staged(report), report.suffix))
        html = render(PageData(rows=erasures.with_erased(rows, [directory], erasing),
                               summary=summary, runs=last_runs(directory), writer=os.getpid(),
                               inputs=inputs_read(directory), tool_version=__version__,
                               generated_at=at, kind=manifest.kind, api_host=manifest.api_host,
                               deadline_hours=float(old.get("deadline_hours", 72.0))))
        to.write_text(html, encoding="utf-8")

    rewrite.add(summary_path, "summary", write_summary)
    rewrite.add(page, "page", write_page)
