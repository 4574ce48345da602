"""The key on the wire: the two Authorization forms, and the Idempotency-Key derived from it.

June's page shows ``Authorization: Basic <key>`` with the raw key; its SDKs send
standard Basic auth, ``Basic base64(key:)``. Which one the deletion endpoints take
is not published: ``--auth-style auto`` tries them in :data:`AUTH_FORMS` order
(preflight.py).
"""

from __future__ import annotations

import base64
import hashlib

from bulk_delete.types import AuthForm, Kind, Secret

#: The forms of the Authorization header, in the order ``--auth-style auto`` tries them.
AUTH_FORMS: tuple[AuthForm, ...] = ("raw", "basic")
#: How each form is named in messages.
AUTH_FORM_NAMES: dict[AuthForm, str] = {"raw": "'Basic <key>' as June documents it",
                                        "basic": "standard Basic 'Basic base64(key:)'"}


def auth_header(key: Secret, form: AuthForm) -> str:
    """``Basic <key>`` as June documents it, or standard ``Basic base64(key:)``."""
    if form == "raw":
        return f"Basic {key.reveal()}"
    return "Basic " + base64.b64encode(f"{key.reveal()}:".encode()).decode()


def other_form(form: AuthForm) -> AuthForm:
    """The form that is not ``form``."""
    return "basic" if form == "raw" else "raw"


def idempotency_secret(key: Secret) -> bytes:
    """The key :func:`idempotency_key` signs with, derived from the API key (of any length)."""
    return hashlib.blake2b(b"bulk-delete idempotency:" + key.reveal().encode(),
                           digest_size=32).digest()


def idempotency_key(secret: bytes, kind: Kind, subject: str) -> str:
    """The ``Idempotency-Key`` of the deletion request for one subject: the same in every run.

    A keyed BLAKE2b (a MAC; 2 us where HMAC-SHA256 takes 6) of kind and ID under a secret
    derived from the API key: stable across runs and machines that use the same key, and of
    no use to whoever reads it in a proxy's log (IDs are personal data, and a plain hash of
    an e-mail address or a number is reversed by hashing candidates).
    """
    return hashlib.blake2b(f"{kind}:{subject}".encode(), key=secret,
                           digest_size=16).hexdigest()
