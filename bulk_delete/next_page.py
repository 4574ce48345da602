"""Where the next listing page is asked for: the link or cursor June gave, else ``?page=N``.

A pager in the manner of dlt's: :func:`first` is the request for page 1 of one
listing (unfiltered, or ``?state=S``), :func:`following` turns the page just
read into the request for the next one:

    the page names a link    -> that URL, resolved against the page's own URL
    the page names a cursor  -> the listing URL with ``?cursor=TOKEN`` (and ``state``)
    the page names a number  -> the listing URL with ``?page=N`` (and ``state``)
    the page names nothing   -> ``?page=`` one more than the last numbered page

A link is followed only to the configured scheme, host and port, and never one
holding credentials: the API key goes with every request, so a link anywhere else
stops the read with :class:`~bulk_delete.errors.ApiUnavailable` before anything
is sent there. Only numbered requests can be read ahead (a link or cursor is
known only once its page has arrived); a link that is exactly the next numbered
page is taken as one, so a server that also links its numbered pages keeps the
read-ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from bulk_delete.errors import ApiUnavailable
from bulk_delete.listing_page import Next

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Ask:
    """One listing request: the URL to GET, and its page number when asked as ``?page=N``."""

    url: str
    number: int | None = None


def numbered(listing_url: str, state: str | None, number: int) -> Ask:
    """``?page=N`` of the unfiltered listing, or of the one of ``state``."""
    return Ask(_with_query(listing_url, state, page=str(number)), number)


def first(listing_url: str, state: str | None) -> Ask:
    """The request for page 1."""
    return numbered(listing_url, state, 1)


def following(ask: Ask, after: Next | None, *, listing_url: str, state: str | None) -> Ask:
    """The request for the page after the one ``ask`` fetched, which named ``after``."""
    if after is None:
        return numbered(listing_url, state, (ask.number or 0) + 1)
    if after.form == "page":
        return numbered(listing_url, state, int(after.value))
    if after.form == "cursor":
        return Ask(_with_query(listing_url, state, cursor=after.value))
    url = urlunsplit(urlsplit(urljoin(ask.url, after.value))._replace(fragment=""))
    _check_origin(url, listing_url)
    if ask.number is not None:
        expected = numbered(listing_url, state, ask.number + 1)
        if _same_request(url, expected.url):
            return expected
    return Ask(url)


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of ``url``, the default port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)


def _check_origin(url: str, listing_url: str) -> None:
    parts = urlsplit(url)
    allowed = origin(listing_url)
    try:
        goes_to = origin(url)
    except ValueError:  # a port out of range
        goes_to = ("", parts.netloc, None)
    if goes_to != allowed or parts.username is not None or parts.password is not None:
        where = f"{goes_to[0]}://{goes_to[1]}" + (f":{goes_to[2]}" if goes_to[2] else "")
        if parts.username is not None or parts.password is not None:
            where += " (with credentials)"
        home = f"{allowed[0]}://{allowed[1]}:{allowed[2]}"
        raise ApiUnavailable(
            f"June's listing links its next page to {where}, not to {home}; the API key goes "
            "only to the configured host, so the listing read stopped there and nothing was "
            "sent to that address. Check --api-url (it must be the host June's links name)"
        )


def _with_query(listing_url: str, state: str | None, **params: str) -> str:
    query = ({} if state is None else {"state": state}) | params
    return f"{listing_url}?{urlencode(query)}"


def _same_request(url: str, other: str) -> bool:
    """Same path and the same query parameters, in any order."""
    a, b = urlsplit(url), urlsplit(other)
    return (a.path == b.path
            and sorted(parse_qsl(a.query, keep_blank_values=True))
            == sorted(parse_qsl(b.query, keep_blank_values=True)))
