"""Parsing one inbound e-mail (RFC 5322 bytes) into what ingestion stores: decoded headers, text and sanitized
HTML, attachments, and whether it is an automatic reply, a delivery report (bounce) or another report.

Built on the stdlib `email` package with `policy.default` (shared/FORMATS.md §4.1): RFC 2047 headers decode
there; bodies are decoded from their bytes with the declared charset (through an alias map), and when that is
missing, unknown or wrong (8-bit bytes under us-ascii, invalid UTF-8) the charset is guessed with
charset-normalizer. Raw 8-bit header bytes (no RFC 2047), which `policy.default` turns into U+FFFD, are
recovered from a `compat32` parse. Outlook's winmail.dat (application/ms-tnef) is opened with tnefparse and
replaced by the files it carries. `parse_email` raises `MailParseError` (with a reason in words) only for a
message whose structure is lost (no headers, a multipart without its boundary); everything else parses, with
what was odd recorded in `flags`.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import email
import email.policy
import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from email import errors as email_errors
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from django.utils.translation import gettext as _

from kramar.comms.quoting import html_to_text
from kramar.history.services import html_sanitize

# Charset names seen in the wild that Python does not know, or knows under another name.
CHARSET_ALIASES = {
    "x-mac-cyrillic": "mac-cyrillic",
    "win-1251": "cp1251",
    "x-cp1251": "cp1251",
    "windows-1251": "cp1251",
    "cp-1251": "cp1251",
    "x-user-defined": "cp1251",
    "koi8u": "koi8-u",
    "koi8r": "koi8-r",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",  # a superset: real "gb2312" mail often carries GBK characters
    "ansi_x3.4-1968": "ascii",
}
UNKNOWN_CHARSETS = {"unknown-8bit", "unknown", "x-unknown", "8bit", "default"}

# Subject prefixes of replies and forwards in the languages our clients write in, and [list tags].
SUBJECT_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|aw|wg|sv|vs|antw|отв|ответ|відп|вiдп|пересл|переслано|fw)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*|\[[^\]]*\]\s*)+",
    re.IGNORECASE,
)
OOF_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(?:matic)?[- ]?response|autoreply|out of (?:the )?office|"
    r"автоматична відповідь|автоматический ответ|автовідповідь|автоответ|не в офісі|нет на месте)\b",
    re.IGNORECASE,
)
DAEMON_LOCALPARTS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}
MSGID = re.compile(r"<([^<>\s]+)>")
# Defects after which the parts of a message can no longer be trusted: its MIME is broken.
FATAL_DEFECTS = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
)
# Report parts that are read for the bounce, not kept as files.
REPORT_TYPES = {"message/delivery-status", "message/disposition-notification", "text/rfc822-headers",
                "message/feedback-report", "message/global-delivery-status"}


class MailParseError(Exception):
    """The message cannot be parsed; `str(exc)` is the reason shown in the "could not process" list."""


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Bounce:
    """A delivery report: who could not be reached, permanently or not, and the bounced Message-ID."""

    permanent: list[str] = field(default_factory=list)
    temporary: list[str] = field(default_factory=list)
    action: str = ""  # failed, delayed … (RFC 3464)
    status: str = ""  # 5.2.2
    diagnostic: str = ""
    original_message_id: str = ""
    standard: bool = True  # RFC 3464, or a non-standard one (X-Failed-Recipients, plain text)

    def as_flags(self) -> dict:
        return {
            "permanent": self.permanent, "temporary": self.temporary, "action": self.action,
            "status": self.status, "diagnostic": self.diagnostic[:500],
            "original_message_id": self.original_message_id, "standard": self.standard,
        }


@dataclass
class ParsedEmail:
    message_id: str = ""  # without angle brackets; a digest id when the message had none
    has_message_id: bool = True
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    from_address: str = ""
    from_name: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    delivered_to: list[str] = field(default_factory=list)
    subject: str = ""
    date: dt.datetime | None = None
    text: str = ""
    html: str = ""  # sanitized
    attachments: list[ParsedAttachment] = field(default_factory=list)
    forwarded: list[ParsedEmail] = field(default_factory=list)  # message/rfc822 parts, parsed
    auto_reply: str = ""  # why it is automatic ("Auto-Submitted: auto-replied"), or ""
    bounce: Bounce | None = None
    report_type: str = ""  # delivery-status, disposition-notification, feedback-report …
    flags: dict = field(default_factory=dict)

    @property
    def is_automatic(self) -> bool:
        return bool(self.auto_reply or self.bounce or self.report_type)

    @property
    def thread_ids(self) -> list[str]:
        """The ids this message answers, the nearest first (In-Reply-To, then References from the end)."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        ids += [r for r in reversed(self.references) if r not in ids]
        return ids

    @property
    def root_id(self) -> str:
        return self.references[0] if self.references else (self.in_reply_to or self.message_id)


# ----------------------------------------------------------------------------------------- helpers
def digest_id(raw: bytes) -> str:
    """The stable id of a message without a Message-ID: the same bytes give the same id."""
    return f"sha256-{hashlib.sha256(raw).hexdigest()[:40]}@kramar.invalid"


def subject_normalize(subject: str) -> str:
    """The subject without Re:/Fwd:/Відп:/… prefixes and [tags], folded: what threads by subject compare."""
    return " ".join(SUBJECT_PREFIX.sub("", subject or "").split()).casefold()


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().strip('"').lower()
    if name in UNKNOWN_CHARSETS:
        return None
    name = CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def guess_decode(data: bytes, hint: str | None = None) -> tuple[str, str]:
    """Decode bytes of unknown or doubtful charset: UTF-8 when valid, else charset-normalizer's best guess
    (Cyrillic single-byte mail is the usual case), else the hint, else cp1251 with replacement."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data, cp_isolation=None).best()
        if best is not None and best.encoding:
            return str(best), best.encoding
    except Exception:  # noqa: BLE001, S110  (a guesser failing must not lose the text)
        pass
    codec = _codec(hint) or "cp1251"
    return data.decode(codec, errors="replace"), codec


def _part_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    if payload is None:
        raw = part.get_payload()
        payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    return payload


def part_text(part: Message, flags: dict) -> str:
    """A text part's content as str: declared charset (with aliases) when it decodes cleanly, else a guess."""
    data = _part_bytes(part)
    declared = part.get_param("charset")
    declared = str(declared) if declared else None
    codec = _codec(declared)
    if codec:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    elif not data or data.isascii():
        return data.decode("ascii")
    text, guessed = guess_decode(data, declared)
    flags["charset_guessed"] = guessed
    if declared:
        flags["charset_declared"] = declared
    return text


def _has_bad_chars(value: str) -> bool:
    return "\ufffd" in value or any("\udc80" <= ch <= "\udcff" for ch in value)


def _header_str(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # noqa: BLE001  (a header the policy cannot parse: read it raw below)
        value = None
    return str(value) if value is not None else ""


def _recover_header(raw_msg: Message, name: str, hint: str | None, flags: dict) -> str | None:
    """Decode a header holding raw 8-bit bytes (no RFC 2047) from the compat32 parse."""
    value = raw_msg.get(name)
    if value is None:
        return None
    try:
        chunks = decode_header(value)
    except Exception:  # noqa: BLE001
        return None
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        codec = _codec(charset)
        if codec:
            out.append(chunk.decode(codec, errors="replace"))
            continue
        hinted = _codec(hint)
        if hinted and hinted != "utf-8":
            try:
                out.append(chunk.decode(hinted))
                continue
            except UnicodeDecodeError:
                pass
        text, guessed = guess_decode(chunk, hint)
        flags.setdefault("header_charset_guessed", guessed)
        out.append(text)
    return "".join(out)


def _decode_words(value: str) -> str:
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # noqa: BLE001
        return value


def _filename(part: Message, index: int, flags: dict) -> str:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001
        name = None
    if name:
        name = _decode_words(str(name))
        if _has_bad_chars(name):  # raw 8-bit bytes in the parameter (Outlook Express)
            data = name.encode("utf-8", "surrogateescape")
            name, _guessed = guess_decode(data, part.get_param("charset"))
        name = name.replace("/", "_").replace("\\", "_").replace("\x00", "").strip()
    if not name:
        ctype = part.get_content_type()
        ext = ".eml" if ctype == "message/rfc822" else (mimetypes.guess_extension(ctype) or ".bin")
        name = f"attachment-{index}{ext}"
    return name[:200]


def _addresses(values: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for name, addr in getaddresses(values):
        addr = (addr or "").strip().strip("<>")
        if "@" in addr:
            pairs.append((name, addr))
    return pairs


def _ids(value: str) -> list[str]:
    ids = MSGID.findall(value or "")
    if not ids and value and value.strip() and " " not in value.strip():
        ids = [value.strip().strip("<>")]  # an id without its brackets
    return ids


# ----------------------------------------------------------------------------------------- classification
def auto_reply_reason(msg: Message, from_address: str, subject: str) -> str:
    """Why the message is automatic (RFC 3834 and the usual X- headers), or "" for a person's message."""
    auto = _header_str(msg, "Auto-Submitted").strip()
    if auto and auto.split("(")[0].split(";")[0].strip().lower() != "no":
        return f"Auto-Submitted: {auto}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Response-Suppress"):
        if msg.get(name) is not None:
            return name
    precedence = _header_str(msg, "Precedence").strip().lower()
    if precedence in {"bulk", "junk", "list", "auto_reply", "auto-reply"}:
        return f"Precedence: {precedence}"
    for name in ("List-Id", "List-Unsubscribe"):
        if msg.get(name) is not None:
            return name
    if _header_str(msg, "Return-Path").strip() == "<>":
        return "Return-Path: <>"
    if from_address.split("@")[0].lower() in DAEMON_LOCALPARTS:
        return "From: " + from_address
    if OOF_SUBJECT.match(subject or ""):
        return "Subject: " + subject[:80]
    return ""


def _address_of(value: str) -> str:
    """`rfc822; user@example.com` → user@example.com."""
    value = str(value or "")
    if ";" in value:
        value = value.split(";", 1)[1]
    return parseaddr(value.strip())[1] or value.strip().strip("<>")


def _original_message_id(msg: Message) -> str:
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message):
                ids = _ids(_header_str(inner, "Message-ID"))
                if ids:
                    return ids[0]
        elif ctype == "text/rfc822-headers":
            headers = HeaderParser(policy=email.policy.compat32).parsestr(part_text(part, {}))
            ids = _ids(str(headers.get("Message-ID") or ""))
            if ids:
                return ids[0]
    return ""


def bounce_detect(msg: Message, text: str) -> tuple[Bounce | None, str]:
    """(the bounce, the report type) of a delivery report: RFC 3464 `multipart/report; report-type=
    delivery-status`, or a non-standard one (X-Failed-Recipients, Exim/Gmail/Exchange plain text)."""
    report_type = ""
    if msg.get_content_type() == "multipart/report":
        report_type = str(msg.get_param("report-type") or "").lower()
    for part in msg.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            report_type = report_type or "delivery-status"
            bounce = Bounce(original_message_id=_original_message_id(msg))
            blocks = part.get_payload()
            if isinstance(blocks, str):  # unparsed: read the header blocks ourselves
                blocks = [HeaderParser().parsestr(b) for b in re.split(r"\r?\n\r?\n", blocks) if b.strip()]
            for block in blocks or []:
                if not isinstance(block, Message):
                    continue
                recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
                if not recipient:
                    continue
                address = _address_of(str(recipient))
                action = str(block.get("Action") or "").strip().lower()
                status = str(block.get("Status") or "").strip().split(" ")[0]
                bounce.action = bounce.action or action
                bounce.status = bounce.status or status
                bounce.diagnostic = bounce.diagnostic or " ".join(str(block.get("Diagnostic-Code") or "").split())
                if action == "failed" or (status.startswith("5") and action not in ("delivered", "relayed", "expanded")):
                    bounce.permanent.append(address)
                elif action == "delayed" or status.startswith("4"):
                    bounce.temporary.append(address)
            if bounce.permanent or bounce.temporary:
                return bounce, report_type
    failed = _header_str(msg, "X-Failed-Recipients")
    if failed:
        bounce = Bounce(standard=False, action="failed", original_message_id=_original_message_id(msg))
        bounce.permanent = [a for _n, a in _addresses([failed])]
        match = re.search(r"\b([45]\.\d{1,3}\.\d{1,3})\b", text or "")
        bounce.status = match.group(1) if match else ""
        return bounce, report_type or "delivery-status"
    return None, report_type


# ----------------------------------------------------------------------------------------- parsing
def _leaves(part: Message):
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        for sub in part.get_payload():
            yield from _leaves(sub)
    else:
        yield part


def _tnef_open(data: bytes, flags: dict) -> tuple[list[ParsedAttachment], str]:
    """The files and the HTML body inside a winmail.dat; ([], "") when tnefparse is missing or fails."""
    try:
        from tnefparse import TNEF
    except ImportError:
        flags["tnef"] = "not opened: tnefparse is not installed"
        return [], ""
    try:
        tnef = TNEF(data)
        files = [
            ParsedAttachment(filename=(a.long_filename() or a.name or "file").replace("/", "_")[:200],
                             content_type=mimetypes.guess_type(a.long_filename() or "")[0]
                             or "application/octet-stream", data=a.data)
            for a in tnef.attachments
        ]
        html = tnef.htmlbody or ""
        if isinstance(html, bytes):
            html = guess_decode(html)[0]
        flags["tnef"] = "opened"
        return files, html
    except Exception as exc:  # noqa: BLE001  (kept as winmail.dat)
        flags["tnef"] = f"not opened: {exc}"[:200]
        return [], ""


def parse_email(raw: bytes, *, depth: int = 0) -> ParsedEmail:
    """Parse RFC 5322 bytes. Raises MailParseError when the message's structure is lost."""
    if not raw or not raw.strip():
        raise MailParseError(_("The message is empty."))
    try:
        msg: EmailMessage = email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[assignment]
    except Exception as exc:  # noqa: BLE001
        raise MailParseError(_("The message cannot be read: %(error)s") % {"error": exc}) from exc
    if not list(msg.keys()):
        raise MailParseError(_("No header lines: this is not an e-mail message."))
    for part in msg.walk():
        fatal = [d for d in part.defects if isinstance(d, FATAL_DEFECTS)]
        if fatal:
            raise MailParseError(_("Broken MIME structure in %(part)s: %(defect)s") % {
                "part": part.get_content_type(), "defect": type(fatal[0]).__name__})
    p = ParsedEmail()
    flags = p.flags
    defects = sorted({type(d).__name__ for part in msg.walk() for d in part.defects})
    if defects:
        flags["defects"] = defects

    raw_msg = None  # the compat32 parse, made only when a header needs recovering

    def header(name: str, hint: str | None = None) -> str:
        nonlocal raw_msg
        value = _header_str(msg, name)
        if _has_bad_chars(value):
            raw_msg = raw_msg or email.message_from_bytes(raw)
            recovered = _recover_header(raw_msg, name, hint, flags)
            if recovered is not None:
                value = recovered
        return " ".join(value.split())

    body_charset = None
    for part in msg.walk():
        if part.get_content_maintype() == "text" and part.get_param("charset"):
            body_charset = str(part.get_param("charset"))
            break

    ids = _ids(_header_str(msg, "Message-ID"))
    p.has_message_id = bool(ids)
    p.message_id = ids[0] if ids else digest_id(raw)
    in_reply = _ids(_header_str(msg, "In-Reply-To"))
    p.in_reply_to = in_reply[0] if in_reply else ""
    p.references = list(dict.fromkeys(_ids(_header_str(msg, "References"))))
    p.subject = header("Subject", body_charset)[:255]
    from_pairs = _addresses([header("From", body_charset)]) or _addresses([header("Sender", body_charset)])
    if from_pairs:
        p.from_name, p.from_address = from_pairs[0][0][:255], from_pairs[0][1][:320]
    p.to = [a for _n, a in _addresses([header("To", body_charset)])]
    p.cc = [a for _n, a in _addresses([header("Cc", body_charset)])]
    p.delivered_to = [a for _n, a in _addresses([_header_str(msg, "Delivered-To"), _header_str(msg, "X-Original-To")])]
    date = _header_str(msg, "Date")
    if date:
        try:
            p.date = parsedate_to_datetime(date)
            if p.date.tzinfo is None:
                p.date = p.date.replace(tzinfo=dt.UTC)
        except (TypeError, ValueError, IndexError):
            flags["bad_date"] = date[:100]
    thread_index = _header_str(msg, "Thread-Index")
    if thread_index:
        flags["thread_index"] = thread_index[:200]

    # body parts: plain for search and the snippet, HTML for display
    plain_part = html_part = None
    try:
        plain_part = msg.get_body(preferencelist=("plain",))
        html_part = msg.get_body(preferencelist=("html",))
    except Exception:  # noqa: BLE001
        flags["body"] = "no body found"
    if msg.get_content_maintype() == "text" and plain_part is None and html_part is None:
        plain_part = msg if msg.get_content_subtype() != "html" else None
        html_part = msg if msg.get_content_subtype() == "html" else None
    p.text = part_text(plain_part, flags) if plain_part is not None else ""
    html = part_text(html_part, flags) if html_part is not None else ""

    extra_text: list[str] = []
    index = 0
    for part in _leaves(msg):
        if part is plain_part or part is html_part:
            continue
        ctype = part.get_content_type()
        if ctype in REPORT_TYPES:
            continue
        disposition = part.get_content_disposition()
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not part.get_filename():
            if ctype == "text/plain":
                extra_text.append(part_text(part, flags))
            elif not html:
                html = part_text(part, flags)
            continue
        index += 1
        if ctype == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            data = inner.as_bytes(policy=email.policy.compat32) if isinstance(inner, Message) else _part_bytes(part)
            if depth < 3:
                with contextlib.suppress(MailParseError):
                    p.forwarded.append(parse_email(data, depth=depth + 1))
            p.attachments.append(ParsedAttachment(_filename(part, index, flags), ctype, data))
            continue
        data = _part_bytes(part)
        if ctype == "application/ms-tnef" or (part.get_filename() or "").lower() == "winmail.dat":
            files, tnef_html = _tnef_open(data, flags)
            if files or tnef_html:
                p.attachments += files
                html = html or tnef_html
                continue
        p.attachments.append(ParsedAttachment(
            filename=_filename(part, index, flags), content_type=ctype, data=data,
            inline=disposition == "inline" or bool(part.get("Content-ID")) and disposition != "attachment",
        ))
    if extra_text:
        p.text = "\n\n".join(t for t in [p.text, *extra_text] if t.strip())
    if html:
        p.html = html_sanitize(html)
        if not p.text.strip():
            p.text = html_to_text(html)  # an HTML-only message: its readable text (paragraphs, entities decoded)
    for fwd in p.forwarded:
        head = f"From: {fwd.from_name} <{fwd.from_address}>\nSubject: {fwd.subject}"
        p.text = f"{p.text.rstrip()}\n\n---------- Forwarded message ----------\n{head}\n\n{fwd.text}".lstrip()

    p.bounce, p.report_type = bounce_detect(msg, p.text)
    if p.report_type and p.report_type != "delivery-status" and not p.bounce:
        p.auto_reply = f"report: {p.report_type}"
    elif not p.bounce:
        p.auto_reply = auto_reply_reason(msg, p.from_address, p.subject)
    return p
