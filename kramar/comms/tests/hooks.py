"""Helpers of the webhook tests: signed posts through Django's test client or over real HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from kramar.comms.signatures import signature_headers


def body_of(payload) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()


def signed_post(client, path: str, payload, *, secret: str, timestamp: int | None = None, headers=None):
    """POST `payload` as JSON signed with `secret` (test client)."""
    body = body_of(payload)
    signed = signature_headers(secret=secret, body=body, timestamp=timestamp)
    return client.post(path, data=body, content_type="application/json", headers={**signed, **(headers or {})})


def http_signed_post(url: str, payload, *, secret: str) -> tuple[int, dict, float]:
    """POST over real HTTP (urllib); returns (status, JSON body, seconds the request took)."""
    body = body_of(payload)
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", **signature_headers(secret=secret, body=body)})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, data = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, data = exc.code, exc.read()
    return status, json.loads(data or b"{}"), time.monotonic() - started
