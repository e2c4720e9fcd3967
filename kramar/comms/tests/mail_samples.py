"""The real sample messages (copies in samples/, provenance in samples/SOURCES.md) and small builders of messages the tests
write."""

from __future__ import annotations

from email.header import Header
from pathlib import Path

import pytest

# copies of the real public samples (provenance and licences in samples/SOURCES.md), kept in the repository so
# the tests run wherever it is cloned
SAMPLES = Path(__file__).resolve().parent / "samples"


def sample(name: str, folder: str = "email") -> bytes:
    path = SAMPLES / folder / name
    if not path.exists():
        pytest.fail(f"sample {path} is missing")
    return path.read_bytes()


def encoded(text: str, charset: str = "utf-8") -> str:
    return Header(text, charset).encode()


def mail(*, msg_id: str | None, sender: str, to: str = "sales@kramar.test", subject: str = "Hello",
         body: str = "Hello", charset: str = "utf-8", headers: dict | None = None, sender_name: str = "",
         date: str = "Wed, 04 Mar 2026 10:00:00 +0200") -> bytes:
    """A single-part text message with the body in `charset`, 8bit, and an RFC 2047 subject."""
    lines = [
        f"From: {encoded(sender_name) + ' ' if sender_name else ''}<{sender}>",
        f"To: {to}",
        f"Subject: {encoded(subject, charset)}",
        f"Date: {date}",
        "MIME-Version: 1.0",
        f"Content-Type: text/plain; charset={charset}",
        "Content-Transfer-Encoding: 8bit",
    ]
    if msg_id:
        lines.insert(0, f"Message-ID: <{msg_id}>")
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body.replace("\n", "\r\n").encode(charset)


def mail_with_file(*, msg_id: str, sender: str, subject: str, filename: str, content_type: str, data: bytes,
                   to: str = "fax@kramar.test", text: str = "See the attachment.") -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["Message-ID"] = f"<{msg_id}>"
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Wed, 04 Mar 2026 11:00:00 +0200"
    msg.set_content(text)
    maintype, subtype = content_type.split("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

BROKEN_MIME = (
    b"Message-ID: <broken-1@client.test>\r\nFrom: someone@client.test\r\nTo: sales@kramar.test\r\n"
    b"Subject: broken\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"never-there\"\r\n\r\n"
    b"This body has no parts at all, the boundary never comes.\r\n"
)
