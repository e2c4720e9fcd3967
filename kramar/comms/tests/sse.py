"""A minimal server-sent-events client for the tests (stdlib http.client): it connects to a live server as a
signed-in user and reads events as they arrive, so a test sees what a browser's EventSource would."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class SseEvent:
    id: str
    kind: str
    data: dict


class SseClient:
    def __init__(
        self, base_url: str, session_id: str, path: str = "/comms/events/", last_id: str | None = None
    ):
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {"Accept": "text/event-stream", "Cookie": f"sessionid={session_id}"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        self.conn.request("GET", path, headers=headers)
        self.sock = self.conn.sock  # the response takes it over when the server closes after the stream
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.content_type = self.response.getheader("Content-Type", "")

    def next_event(self, timeout: float = 5.0) -> SseEvent | None:
        """The next event (not comments or `retry:`), or None when none came within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        fields: dict[str, str] = {}
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                line = self.response.fp.readline()
            except TimeoutError:
                return None
            if not line:
                return None
            text = line.decode().rstrip("\r\n")
            if text == "":
                if "event" in fields or "data" in fields:
                    return SseEvent(
                        fields.get("id", ""),
                        fields.get("event", "message"),
                        json.loads(fields.get("data") or "{}"),
                    )
                fields = {}
                continue
            if text.startswith(":"):
                continue
            name, _, value = text.partition(":")
            fields[name] = value.removeprefix(" ")
        return None

    def close(self) -> None:
        self.response.close()
        self.sock.close()
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def session_id_for(client, user) -> str:
    """Sign `user` in with the test client and return the session cookie a live-server request can carry."""
    client.force_login(user)
    return client.cookies["sessionid"].value
