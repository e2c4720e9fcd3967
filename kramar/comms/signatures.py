"""HMAC signatures of inbound webhooks (telephony, chat gateways).

The sender signs the text ``"<timestamp>.<raw body>"`` with the channel's secret (`Channel.secret`) using
HMAC-SHA256 and sends two headers:

    X-Kramar-Timestamp: 1767225600            (Unix time, whole seconds)
    X-Kramar-Signature: sha256=<64 hex digits>

`signature_verify` refuses a missing or malformed header, a timestamp more than `MAX_SKEW_SECONDS` away from
now (a replay of an old request, or a sender's clock far off) and a signature that does not match (compared with
`hmac.compare_digest`). A channel without a secret refuses everything. See docs/telephony.md for a recipe."""

from __future__ import annotations

import hashlib
import hmac
import time

from django.utils.translation import gettext as _

SIGNATURE_HEADER = "X-Kramar-Signature"
TIMESTAMP_HEADER = "X-Kramar-Timestamp"
MAX_SKEW_SECONDS = 300
PREFIX = "sha256="


class SignatureInvalid(Exception):
    """Why a request's signature was refused (the message is safe to show to the sender)."""


def signature_compute(*, secret: str, timestamp: str | int, body: bytes) -> str:
    """The header value for `body` sent at `timestamp`: ``sha256=<hex>``."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return PREFIX + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_headers(*, secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Both headers for a request (for senders written in Python and for the tests)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: signature_compute(secret=secret, timestamp=ts, body=body)}


def signature_verify(*, secret: str, headers, body: bytes, now: float | None = None) -> None:
    """Raise SignatureInvalid unless `headers` carry a fresh, valid signature of `body` by `secret`."""
    if not secret:
        raise SignatureInvalid(_("The channel has no secret; set one to accept signed requests."))
    timestamp = (headers.get(TIMESTAMP_HEADER) or "").strip()
    signature = (headers.get(SIGNATURE_HEADER) or "").strip()
    if not timestamp or not signature:
        raise SignatureInvalid(
            _("Send the %(sig)s and %(ts)s headers.") % {"sig": SIGNATURE_HEADER, "ts": TIMESTAMP_HEADER}
        )
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureInvalid(_("%(ts)s must be a Unix time in seconds.") % {"ts": TIMESTAMP_HEADER})
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        raise SignatureInvalid(
            _("The timestamp is more than %(n)d seconds away from the server's time.") % {"n": MAX_SKEW_SECONDS}
        )
    expected = signature_compute(secret=secret, timestamp=timestamp, body=body)
    if not signature.lower().startswith(PREFIX) or not hmac.compare_digest(
        expected.encode("ascii"), signature.lower().encode("ascii", "replace")
    ):
        raise SignatureInvalid(_("The signature does not match the body."))
