"""``doctor``: what bulk-delete can learn about an API before it deletes anything.

Every request is a GET of the listing, through the job's pacer; nothing is deleted.
The probe, in order:

1. the key's form (preflight.py): which one June accepts, or exit 5;
2. listing page 1: is it JSON, where are the records, which fields name the subject,
   the state and the times, how many a page holds, how the next page is named and how
   the end is signalled (shape.py);
3. page 2, asked the way page 1 says (the Link header, a next link or cursor in the
   body, else ``?page=2``), judged by the rules a listing read follows: does paging move on;
4. page 1 of each state's listing: does the unfiltered listing hold every state;
5. the rate-limit headers on all those answers, and the round-trip time of each.

A :class:`Diagnosis` holds the findings as rows for a person, the same as a mapping
for the manifest, and the problems: any problem makes ``doctor`` exit 4, because a job
against an API bulk-delete cannot read to its end cannot prove what June did with the
IDs it does not find (they would be unverified). reconcile warns of the problems the
manifest keeps before it reads the listing.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from bulk_delete.answers import Answer, Verdict
from bulk_delete.auth import AUTH_FORM_NAMES
from bulk_delete.collected import STATES
from bulk_delete.connection import Connection
from bulk_delete.errors import ExitCode
from bulk_delete.listing_page import Page, UnreadablePage, decode_page
from bulk_delete.network import route_for
from bulk_delete.next_page import Ask, Pager, Unproven, first
from bulk_delete.preflight import preflight
from bulk_delete.ratelimit import Limit, Quota
from bulk_delete.shape import Shape, describe


@dataclass
class Diagnosis:
    """What the probe found: rows for people, problems that make it exit 4."""

    rows: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: The findings as the manifest keeps them.
    record: dict[str, Any] = field(default_factory=dict)

    def add(self, topic: str, text: str, **record: Any) -> None:
        self.rows.append((topic, text))
        self.record.update(record)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.ATTENTION if self.problems else ExitCode.OK


class _Probe:
    """The GETs of one diagnosis, timed, with the quotas their answers state."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.seconds: list[float] = []
        self.quotas: list[Quota] = []

    async def get(self, ask: Ask) -> Answer:
        await self.conn.pacer.acquire()
        started = time.monotonic()
        answer = await self.conn.client.fetch(ask.url)
        self.seconds.append(time.monotonic() - started)
        if answer.quota is not None:
            self.quotas.append(answer.quota)
        return answer

    async def page(self, ask: Ask, number: int, what: str,
                   diagnosis: Diagnosis) -> tuple[Any, Page] | None:
        """The decoded page, or None with a problem saying why it cannot be read."""
        answer = await self.get(ask)
        if answer.verdict is not Verdict.ACCEPTED:
            diagnosis.problems.append(f"{what}: HTTP {answer.status or 'no answer'} "
                                      f"{answer.message}".rstrip())
            return None
        try:
            return decode_page(answer.body, what, kind=self.conn.settings.kind, number=number,
                               link=answer.next_link)
        except UnreadablePage as exc:
            diagnosis.problems.append(str(exc))
            return None


async def examine(conn: Connection, *, ids: int, listed: int | None = None) -> Diagnosis:
    """Probe June through ``conn``; ``ids`` is the job size the time estimate is for, and
    ``listed`` (when known) the job's IDs June will list, those sent before included.

    Raises AuthError (exit 5) when June refuses the key in every form tried.
    """
    diagnosis = Diagnosis()
    settings, client = conn.settings, conn.client
    route = route_for(settings.api_url, settings.ca_bundle).describe()
    diagnosis.add("network", f"proxy {route['proxy']}; CA {route['ca']}", network=route)
    accepted = await preflight(client, conn.pacer, kind=settings.kind,
                               auth_style=settings.auth_style)
    form = accepted or client.auth_form
    diagnosis.add("key", f"June accepts {AUTH_FORM_NAMES[form]} ({form})" if accepted
                  else f"not confirmed: June's listing did not answer; {form} kept",
                  auth_style=accepted)
    probe = _Probe(conn)
    start = first(client.listing_url, None)
    one = await probe.page(start, 1, "listing page 1", diagnosis)
    if one is not None:
        payload, page = one
        shape = describe(payload, kind=settings.kind, page=page)
        diagnosis.problems += shape.problems
        _shape_rows(diagnosis, shape)
        await _paging(probe, diagnosis, page)
        await _states(probe, diagnosis, page)
    stated = _stated(probe.quotas)
    diagnosis.add("rate limit", _limit_text(stated, probe.quotas),
                  rate_limit=None if stated is None else [stated.count, stated.window])
    _timing(diagnosis, probe, ids=ids, listed=ids if listed is None else listed,
            stated=stated, page_size=diagnosis.record.get("page_size") or 0)
    verdict = ("attention: " + "; ".join(diagnosis.problems) if diagnosis.problems
               else "understood: bulk-delete reads this API as it is")
    diagnosis.add("verdict", verdict, problems=diagnosis.problems)
    return diagnosis


def _shape_rows(diagnosis: Diagnosis, shape: Shape) -> None:
    if not shape.size:
        diagnosis.add("records", "the listing is empty: record fields can be checked once June "
                      "lists a request", records_at=shape.records_at, page_size=None)
        return
    fields = [f"subject {shape.subject or '?'}", f"state {shape.state or '?'}",
              "times " + (", ".join(shape.times) or "none"),
              "request id " + ("id" if shape.request_id else "none")]
    diagnosis.add("records", f"at {shape.records_at}: " + "; ".join(fields),
                  records_at=shape.records_at, subject_field=shape.subject,
                  state_field=shape.state, time_fields=list(shape.times),
                  request_id=shape.request_id)
    diagnosis.add("page size", f"{shape.size:,} records on page 1", page_size=shape.size)
    diagnosis.add("paging", shape.paging, paging=shape.paging)
    diagnosis.add("end", f"signalled by {shape.end}", end=shape.end)


async def _paging(probe: _Probe, diagnosis: Diagnosis, page: Page) -> None:
    """Ask for page 2 the way page 1 says, and tell whether the listing moved on, by the
    rules a listing read follows (next_page.Pager)."""
    if page.last:
        diagnosis.add("page 2", "none: page 1 is the whole listing", page_2="none")
        return
    pager = Pager(probe.conn.client.listing_url, None)
    pager.repeats(page, 1)
    try:
        ask = pager.advance(page, 1) or pager.ask  # page 1 is never an end by itself
        two = await probe.page(ask, 2, "listing page 2", diagnosis)
        if two is not None and pager.repeats(two[1], 2):
            diagnosis.add("page 2", "repeats page 1, which is short: page 1 is the whole "
                          "listing", page_2="none")
            return
    except Unproven as exc:
        diagnosis.problems.append(str(exc))
        if exc.cause == "repeat":
            diagnosis.add("page 2", "repeats page 1", page_2="repeats")
        return
    if two is not None:
        diagnosis.add("page 2", f"{len(two[1].records):,} other records", page_2="moves on")


async def _states(probe: _Probe, diagnosis: Diagnosis, page: Page) -> None:
    """Whether the unfiltered listing holds every state, as far as the first pages tell."""
    client = probe.conn.client
    seen = {record.state for record in page.records}
    hidden, ignored, listed = [], False, bool(seen)
    for state in STATES:
        one = await probe.page(first(client.listing_url, state), 1, f"?state={state} page 1",
                               Diagnosis())
        if one is None:
            continue
        states = {record.state for record in one[1].records}
        listed = listed or bool(states)
        if states - {state}:
            ignored = True
        elif states and state not in seen and page.last:
            hidden.append(state)
    if not listed:
        text = "cannot tell yet: June lists no request in any state"
    elif ignored:
        text = "the listing ignores ?state=: the unfiltered listing is the only one"
    elif hidden:
        text = (f"the unfiltered listing hides {', '.join(hidden)}: bulk-delete reads each "
                "state's listing before it calls an ID missing")
    elif page.last:
        text = "the unfiltered listing holds every state it has"
    else:
        text = ("not known from page 1; bulk-delete reads each state's listing before it calls "
                "an ID missing")
    diagnosis.add("states", text, hidden_states=hidden, state_filter_ignored=ignored)


def _stated(quotas: list[Quota]) -> Limit | None:
    """The tightest limit the answers stated (a window of one second when none is said)."""
    limits = [Limit(q.limit, q.window or 1.0) for q in quotas if q.limit]
    return min(limits, key=lambda limit: limit.per_second, default=None)


def _limit_text(stated: Limit | None, quotas: list[Quota]) -> str:
    if stated is None:
        return "none stated: found by 429s, which cost time, not IDs"
    last = quotas[-1]
    window = "s" if stated.window == 1 else f"{stated.window:g} s"
    left = "" if last.remaining is None else f" ({last.remaining:,} left"
    left += "" if not left or last.reset is None else f", reset in {last.reset:g} s"
    return f"{stated.count:,} per {window}{left + ')' if left else ''}"


def _timing(diagnosis: Diagnosis, probe: _Probe, *, ids: int, listed: int,
            stated: Limit | None, page_size: int) -> None:
    seconds = probe.seconds
    if seconds:
        median, worst = statistics.median(seconds) * 1000, max(seconds) * 1000
        diagnosis.add("latency", f"median {median:,.0f} ms, slowest {worst:,.0f} ms, over "
                      f"{len(seconds)} requests", latency_ms=round(median))
    rate = probe.conn.settings.rate
    if stated is not None and stated.per_second < rate:
        rate, why = stated.per_second, "June's stated limit"
    else:
        why = "--rate"
    pages = -(-listed // page_size) if page_size else None
    submit = ids / rate
    text = f"{ids:,} IDs at {rate:g}/s ({why}): {_duration(submit)} to submit"
    if pages is not None:
        job = "" if listed == ids else f" for the job's {listed:,} IDs"
        text += f"; each whole reconcile reads {pages:,} pages{job}, {_duration(pages / rate)}"
    diagnosis.add("estimate", text, estimate_ids=ids, estimate_seconds=round(submit))


def _duration(seconds: float) -> str:
    minutes, hours = seconds / 60, seconds / 3600
    if seconds < 90:
        return f"{seconds:.0f} s"
    if minutes < 90:
        return f"{minutes:.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"
