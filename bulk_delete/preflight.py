"""The read before the first deletion: a wrong key or URL stops the job there, and under
``--auth-style auto`` it finds the form of the key June accepts.

A wrong ``--api-url`` path would otherwise answer 404 to every deletion, and 404 is
final for an ID: the whole list would be journalled as rejected. A wrong key would
be found by the first deletions instead of before them.

Under ``auto`` listing page 1 is read with the key in each form of
:data:`~bulk_delete.auth.AUTH_FORMS` (the form the manifest recorded first), until June
accepts one; the client keeps that form for the whole command, and the manifest
keeps it for later ones (reconcile reads the listing in it). Only a refusal
(401/403) rules a form out: a read that fails otherwise (June down, a page it
cannot parse) cannot tell, so the next form is tried, and when no read could
tell, the first form is kept and the deletions speak for themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bulk_delete.api import Client
from bulk_delete.auth import AUTH_FORM_NAMES, AUTH_FORMS, other_form
from bulk_delete.checkpoint import Checkpoint
from bulk_delete.connection import Connection
from bulk_delete.errors import ApiUnavailable, AuthError
from bulk_delete.listing import Listing
from bulk_delete.logs import get_logger
from bulk_delete.pacing import Pacer
from bulk_delete.types import AuthForm, AuthStyle, Kind

T = TypeVar("T")


async def preflight(client: Client, pacer: Pacer, *, kind: Kind, auth_style: AuthStyle,
                    recorded: AuthForm | None = None) -> AuthForm | None:
    """Read listing page 1; returns the form June accepted, or None when no read could tell.

    Raises AuthError when June refuses the key in every form tried (one under a forced
    ``auth_style``), and UsageError when the listing is not there (404).
    """
    forms = _forms(auth_style, recorded)
    refused: list[AuthForm] = []
    for form in forms:
        client.use_auth(form)
        listing = Listing(client, pacer, kind=kind, auth_style=auth_style, max_attempts=1,
                          window=1)
        try:
            await listing.top()
        except AuthError:
            if auth_style != "auto":
                raise
            refused.append(form)
            continue
        except ApiUnavailable:
            continue
        _chosen(form, auth_style, refused, confirmed=True)
        return form
    if len(refused) == len(forms):
        raise AuthError(_refused_message(refused))
    kept = next(form for form in forms if form not in refused)
    client.use_auth(kept)
    _chosen(kept, auth_style, refused, confirmed=False)
    return None


def _forms(auth_style: AuthStyle, recorded: AuthForm | None) -> tuple[AuthForm, ...]:
    """The forms to try, in order: the forced one; else the recorded one first."""
    if auth_style != "auto":
        return (auth_style,)
    if recorded is None:
        return AUTH_FORMS
    return (recorded, *(form for form in AUTH_FORMS if form != recorded))


def _chosen(form: AuthForm, auth_style: AuthStyle, refused: list[AuthForm], *,
            confirmed: bool) -> None:
    get_logger().info("bulk_delete.auth_style_chosen", auth_style=form, setting=auth_style,
                      confirmed=confirmed, refused=refused)


def _refused_message(refused: list[AuthForm]) -> str:
    tried = ", then ".join(AUTH_FORM_NAMES[form] for form in refused)
    return (f"June refused the API key in both forms it may take ({tried}); stopped before "
            "any deletion, nothing marked as failed. Check the key, and that it is a secret "
            "key of the project behind --api-url")


async def probe(conn: Connection, checkpoint: Checkpoint, *,
                               first: AuthForm | None = None) -> None:
    """:func:`preflight` for a job's connection; the form June accepted goes into the manifest.

    Under auto, ``first`` (else the form the manifest recorded) is tried first.
    """
    accepted = await preflight(conn.client, conn.pacer, kind=conn.settings.kind,
                               auth_style=conn.settings.auth_style,
                               recorded=first or checkpoint.manifest.auth_style)
    if accepted is not None:
        checkpoint.record_auth_style(accepted)


async def read_with_auth(conn: Connection, checkpoint: Checkpoint,
                         read: Callable[[], Awaitable[T]]) -> T:
    """``read()`` June's listing with the key in the job's form; under auto, found now if the
    manifest names none.

    The read itself shows whether the first form works, so that costs no extra request;
    refused, the preflight tries the other form and the read starts again.
    """
    auto, recorded = conn.settings.auth_style == "auto", checkpoint.manifest.auth_style
    if auto and recorded is not None:
        conn.client.use_auth(recorded)  # found by an earlier command of this job
    try:
        result = await read()
    except AuthError:
        if not auto or recorded is not None:
            raise
        await probe(conn, checkpoint, first=other_form(conn.client.auth_form))
        return await read()
    checkpoint.record_auth_style(conn.client.auth_form)
    return result
