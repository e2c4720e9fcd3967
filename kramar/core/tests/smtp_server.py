"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, on a port the operating system picks (so parallel
workers never collide), keeping every message it receives and able to refuse the next ones. The `smtp_server`
fixture (kramar/conftest.py) points Django's SMTP backend at it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)


@dataclass
class _Collector:
    messages: list[Received] = field(default_factory=list)
    fail_next: int = 0  # answer the next N messages with `fail_reply` instead of accepting them
    fail_reply: str = "451 Requested action aborted: local error in processing"
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        with self.lock:
            if self.fail_next:
                self.fail_next -= 1
                return self.fail_reply
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"


class _EphemeralPortController(Controller):
    """aiosmtpd's Controller bound to port 0: the port actually bound is read back before the start-up check."""

    def _create_server(self):
        async def create():
            server = await self.loop.create_server(self._factory_invoker, host=self.hostname, port=0)
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()


class SmtpServer:
    def __init__(self) -> None:
        self.collector = _Collector()
        self.controller = _EphemeralPortController(self.collector, hostname="127.0.0.1", port=0)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self.controller.port

    @property
    def messages(self) -> list[Received]:
        return self.collector.messages

    def fail_next(self, count: int = 1, reply: str = "451 Requested action aborted: local error in processing") -> None:
        """Refuse the next `count` messages with `reply` (a temporary 451 by default; e.g. "554 …" for a permanent
        refusal)."""
        self.collector.fail_reply = reply
        self.collector.fail_next = count

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """The messages once at least `count` have arrived (the server runs in its own thread)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.messages)

    def clear(self) -> None:
        self.collector.messages.clear()

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
