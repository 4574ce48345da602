"""report.html: the report as one self-contained page a person reads.

Top to bottom the page shows: what the job was (kind, June API host, when the page was
made, tool version); the counts by outcome and by June's state; the figures a regulator
asks for (requests sent, completed, still open, median and 90th-percentile hours from
submission to finished); a histogram of hours to finish with the deadline marked; what
needs attention that nobody acknowledged (rejected, pending, missing, unverified with the
reason, overdue), each with its count and its first rows, then what a person acknowledged,
with the decision; how long the evidence keeps personal data (rows pseudonymized, rows erased
and when); the run history; the input files with their SHA-256; how to check the files.

The page loads nothing: no script, font, image or stylesheet, and its Content-Security-
Policy forbids every load, so it reads the same from a USB stick years later, on screen or
printed, without colour. Every value from the data is HTML-escaped: IDs and June's messages
are untrusted. Only the first rows of each list become HTML; the rest is counted by polars,
so the page for 5 million IDs is as small as the page for fifty.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

import polars as pl

from bulk_delete.digests import InputFile
from bulk_delete.files import write_private
from bulk_delete.report_html_data import (
    ACKNOWLEDGED,
    BINS_TO_DEADLINE,
    Bin,
    PageData,
    attention_lists,
    first_rows,
    histogram,
    run_history,
)
from bulk_delete.report_rows import MEANING

#: Latest runs shown; runs.jsonl holds them all.
LAST_RUNS = 50
#: Forbids every network load; inline styles are the only thing the page uses.
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
NONE = "\u2014"
#: Column headings for report columns; values in the WRAP columns may break anywhere.
LABELS = {"id": "ID", "outcome": "Outcome", "http_status": "HTTP status", "error": "Error",
          "attempts": "Attempts", "submitted_at": "Submitted at", "server_state": "June state",
          "server_updated_at": "June updated at", "june_request_id": "June request ID",
          "started_seen_at": "Started (seen at)", "unverified_reason": "Why unverified",
          "acknowledged": "Acknowledged", "acknowledged_by": "By", "acknowledged_at": "At",
          "acknowledged_reason": "Reason"}
WRAP = frozenset({"ID", "Error", "File", "SHA-256", "Reason"})


def render(data: PageData) -> str:
    """The whole page as one HTML string."""
    return "\n".join([
        _HEAD.format(csp=CSP, title=_e(f"bulk-delete report: {data.kind} IDs at "
                                         f"{data.api_host}")),
        _header(data), _counts(data.summary), _figures(data.summary["figures"]),
        _distribution(data), _attention(data), _acknowledged(data),
        _retention(data.summary.get("retention")), _runs(data.runs, data.writer),
        _inputs(data.inputs), _columns(),
        _CHECK, "</body></html>\n",
    ])


def write_page(path: Path, data: PageData) -> None:
    """Write report.html atomically, readable by the owner only (it holds IDs)."""
    text = render(data)
    write_private(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _header(data: PageData) -> str:
    facts = (("Kind", data.kind), ("June API host", data.api_host),
             ("Generated at", data.generated_at), ("Tool version", data.tool_version),
             ("Deadline", f"{data.deadline_hours:g} h from submission to finished"))
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    return f"<h1>bulk-delete report: {_e(data.kind)} IDs</h1>\n<dl>{items}</dl>"


def _counts(summary: dict[str, Any]) -> str:
    outcome, state = summary["outcome"], summary["server_state"]
    rows = [(name, f"{n:,}") for name, n in [*outcome.items(), ("total", sum(outcome.values()))]]
    states = [(name, f"{n:,}") for name, n in state.items()]
    return (f"<h2>Counts</h2>\n<div class=pair>{_table(('Outcome', 'IDs'), rows, 'outcome')}"
            f"{_table(('June says', 'requests'), states, 'server-state')}</div>")


def _figures(figures: dict[str, Any]) -> str:
    rows = (("Requests sent", f"{figures['requests_sent']:,}"),
            ("Completed (finished at June)", f"{figures['completed']:,}"),
            ("Still open", f"{figures['still_open']:,}"),
            ("Median hours from submission to finished", _hours(figures["median_hours_to_finish"])),
            ("90th percentile of those hours", _hours(figures["p90_hours_to_finish"])))
    return f"<h2>Figures for the regulator</h2>\n{_table(('Figure', 'Value'), rows, 'figures')}"


def _distribution(data: PageData) -> str:
    hours = data.rows.lazy().select("hours_to_finish").collect().to_series()
    bins = histogram(hours, data.deadline_hours)
    done = sum(b.count for b in bins)
    if not done:
        return "<h2>Hours from submission to finished</h2>\n<p>No request has finished yet.</p>"
    late = sum(b.count for b in bins if b.low >= data.deadline_hours)
    width = data.deadline_hours / BINS_TO_DEADLINE
    return (f"<h2>Hours from submission to finished</h2>\n<p>{done - late:,} of "
            f"{done:,} finished requests finished within the deadline of "
            f"{data.deadline_hours:g} h; {late:,} after it. Each bar is {width:g} h wide; the "
            f"last holds everything after {bins[-1].low:g} h; hatched bars are late.</p>\n"
            + _svg(bins, data.deadline_hours))


def _svg(bins: list[Bin], deadline_hours: float) -> str:
    left, top, plot_w, plot_h = 40, 20, 650, 160
    bar = plot_w / len(bins)
    tallest = max(b.count for b in bins) or 1
    width, height = left + plot_w + 20, top + plot_h + 40
    parts = [f'<svg id=histogram xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img">'
             '<title>Hours to finish</title>'
             '<defs><pattern id=late width="6" height="6" patternUnits="userSpaceOnUse">'
             '<path d="M0,6 L6,0" stroke="#000"/></pattern></defs>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"'
             ' stroke="#000"/>']
    for i, b in enumerate(bins):
        x, h = left + i * bar, plot_h * b.count / tallest
        fill = "url(#late)" if b.low >= deadline_hours else "#999"
        parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar - 2:.1f}" '
                     f'height="{h:.1f}" fill="{fill}" stroke="#000"><title>{_bin_label(b)}: '
                     f'{b.count:,}</title></rect>')
        if b.count:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{top + plot_h - h - 3:.1f}" '
                         f'font-size="9" text-anchor="middle">{b.count:,}</text>')
        if i % 3 == 0 or b.high is None:
            parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" font-size="10" '
                         f'text-anchor="middle">{"&gt;" if b.high is None else ""}{b.low:g}</text>')
    x = left + BINS_TO_DEADLINE * bar
    parts.append(f'<line x1="{x:.1f}" y1="{top - 10}" x2="{x:.1f}" y2="{top + plot_h}" '
                 f'stroke="#000" stroke-width="2" stroke-dasharray="5,3"/><text x="{x + 4:.1f}"'
                 f' y="{top - 2}" font-size="11">deadline {deadline_hours:g} h</text>'
                 f'<text x="{left + plot_w / 2}" y="{top + plot_h + 32}" font-size="11" '
                 'text-anchor="middle">hours from submission to finished</text></svg>')
    return "".join(parts)


def _attention(data: PageData) -> str:
    counts, parts = data.summary["attention"], ["<h2>What needs attention</h2>"]
    for each in attention_lists(data.deadline_hours, data.summary.get("unverified_reason")):
        n = int(counts[each.name])
        parts.append(f"<h3>{each.name.capitalize()}: {n:,}</h3>\n<p>{_e(each.says)}</p>")
        if n:
            shown = first_rows(data.rows, each)
            scope = (f"All {n:,} below." if shown.height >= n else
                     f"The first {shown.height:,} of {n:,} below; the report holds every row.")
            headers = [LABELS[column] for column in each.columns]
            parts.append(f"<p>{scope}</p>"
                         + _table(headers, shown.iter_rows(), f"attention-{each.name}"))
    return "\n".join(parts)


def _acknowledged(data: PageData) -> str:
    """The rows a person acknowledged, with who, when and why."""
    n = data.rows.lazy().filter(ACKNOWLEDGED.where).select(pl.len()).collect().item()
    part = f"<h3>Acknowledged: {n:,}</h3>\n<p>{_e(ACKNOWLEDGED.says)}</p>"
    if not n:
        return part
    shown = first_rows(data.rows, ACKNOWLEDGED)
    headers = [LABELS[column] for column in ACKNOWLEDGED.columns]
    scope = (f"All {n:,} below." if shown.height >= n else
             f"The first {shown.height:,} of {n:,} below; the report holds every row.")
    return f"{part}<p>{scope}</p>" + _table(headers, shown.iter_rows(), "acknowledged")


def _retention(kept: dict[str, Any] | None) -> str:
    """How long the evidence names people: rows pseudonymized, rows erased and when."""
    title = "<h2>How long this evidence keeps personal data</h2>\n"
    if not kept or not (kept["pseudonymized_rows"] or kept["erased_rows"]):
        return title + "<p>No ID has been pseudonymized and no row erased.</p>"
    rows = [("Rows that name a keyed pseudonym, not an ID", f"{kept['pseudonymized_rows']:,}"),
            ("Rows erased (still counted above)", f"{kept['erased_rows']:,}"),
            *((f"Erased at {e['at']}", f"{e['rows']:,}") for e in kept["erasures"])]
    return (title + "<p>bulk-delete retain replaces the ID of a request finished long enough "
            "ago by its keyed pseudonym, and later erases its row; the counts and figures "
            "keep what erased rows counted for.</p>"
            + _table(("What", "Rows"), rows, "retention"))


def _runs(runs: list[dict[str, Any]], writer: int | None) -> str:
    table = run_history(runs, writer)
    shown = table[-LAST_RUNS:]
    scope = (f"<p>The latest {len(shown)} of {len(table)} runs; runs.jsonl holds them all.</p>"
             if len(shown) < len(table) else "")
    headers = ("Command", "Started", "Ended", "Exit code", "Process")
    return f"<h2>Run history</h2>\n{scope}{_table(headers, shown, 'runs')}"


def _inputs(inputs: list[InputFile]) -> str:
    rows = ((f.path, f"{f.size:,}", f.sha256, f.read_at) for f in inputs)
    headers = ("File", "Bytes", "SHA-256", "Read at")
    return f"<h2>Input files</h2>\n{_table(headers, rows, 'inputs')}"


def _columns() -> str:
    table = _table(("Column", "Holds"), MEANING.items(), "columns")
    return f"<h2>What the report's columns hold</h2>\n{table}"


def _table(headers: Sequence[str], rows: Iterable[Iterable[Any]], name: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    cells = ["<td class=wrap>" if h in WRAP else "<td>" for h in headers]
    body = "".join("<tr>" + "".join(f"{td}{_e(v)}</td>" for td, v in zip(cells, row, strict=True))
                   + "</tr>" for row in rows)
    return f"<table id={name}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _e(value: Any) -> str:
    """A value as escaped text: None is a dash, a bool is yes or no."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    return escape(str(value), quote=True)


def _hours(value: float | None) -> str:
    return NONE if value is None else f"{value:,.1f} h"


def _bin_label(b: Bin) -> str:
    return f"more than {b.low:g} h" if b.high is None else f"{b.low:g} to {b.high:g} h"


_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; color: #000; background: #fff;
       max-width: 62rem; margin: 2rem auto; padding: 0 1rem; }}
h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.2rem; border-bottom: 1px solid #000;
margin-top: 2rem; }} h3 {{ font-size: 1rem; margin-bottom: 0; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: .1rem 1rem; }}
dt {{ font-weight: bold; }} dd {{ margin: 0; }}
table {{ border-collapse: collapse; margin: .5rem 2rem .5rem 0; }}
th, td {{ border: 1px solid #666; padding: .15rem .5rem; text-align: left;
         vertical-align: top; white-space: nowrap; }}
td.wrap {{ white-space: normal; overflow-wrap: anywhere; min-width: 8em; }}
#outcome td + td, #server-state td + td, #figures td + td {{ text-align: right; }}
svg {{ max-width: 100%; height: auto; }}
th {{ background: #eee; }} .pair {{ display: flex; flex-wrap: wrap; align-items: start; }}
code {{ font-family: ui-monospace, monospace; }}
#inputs td:nth-child(3) {{ font-family: ui-monospace, monospace; font-size: .85em; }}
@media print {{ body {{ margin: 0; max-width: none; }} h2, h3 {{ break-after: avoid; }}
               tr {{ break-inside: avoid; }} }}
</style></head><body>"""

_CHECK = """<h2>How to check these files</h2>
<p>The checkpoint directory keeps, in <code>digests.jsonl</code>, the SHA-256 of every input
file when it was read, of every plan and state-history file when it was written, of the
report, the summary and this page, and at the end of every run the SHA-256 of the journal
and of <code>runs.jsonl</code> as they stood. Each record holds the SHA-256 of the one before,
and every run prints the last one (the head): kept elsewhere, it shows that the record itself
was not rewritten. <code>bulk-delete verify</code> checks them all and names any file that
changed, was truncated or was edited (exit code 4; 0 when everything matches; an input file
deleted after processing is named but is not a failure). When <code>bulk-delete retain</code>
replaced IDs by pseudonyms or erased rows, or a person acknowledged rows, the files it rewrote
are recorded as one event with their old and new SHA-256, and verify checks them against it.
<code>bulk-delete lookup ID</code>
shows one ID's whole story: the file and line it came from, every answer from June, and
each state June listed and when. An input file can also be checked by hand:
<code>sha256sum FILE</code> prints the hash shown above.</p>"""
