"""Inbound e-mail ingestion from a real IMAP server, end to end (messages/s), against the raw IMAP fetch rate of
the same mailbox measured in the same run.

    .venv/bin/python benchmarks/mail_ingest.py                        # SQLite file /tmp/kramar_bench_mail.sqlite3
    DATABASE_URL=postgres://root@127.0.0.1:5432/kramar_bench_mail .venv/bin/python benchmarks/mail_ingest.py
    .venv/bin/python benchmarks/mail_ingest.py --messages 2000 --profile 500

What it does:
1. Recreates its database (SQLite: deletes the file; PostgreSQL: drops and creates the database) and migrates it;
   attachments go to KRAMAR_DATA_DIR (default /tmp/kramar_bench_mail_data, emptied first).
2. Starts a private Dovecot (`kramar/comms/tests/dovecot.py`'s `dovecot_start` / `dovecot_stop`: a generated
   configuration in a temporary folder, plain IMAP on a free 127.0.0.1 port) and fills one mailbox with
   --messages (10,000) seeded, varied messages by IMAP APPEND (MULTIAPPEND in chunks of 200) — the server assigns
   UIDs and keeps its own index as for delivered mail, and no file ownership has to be faked (as root Dovecot's
   mail processes run as nobody). The fill is timed separately. Mix: plain UTF-8 (Ukrainian), windows-1251 8-bit,
   multipart/alternative with HTML, replies that thread (In-Reply-To/References, "Re:"), small PDF attachments,
   out-of-office auto-replies, and the sample messages of kramar/comms/tests/samples/email (DSN and non-standard bounces, a read
   receipt, raw 8-bit cp1251 headers, RFC 2047 subjects, a forwarded message) with fresh Message-IDs.
3. Creates the e-mail channel (queue "Bench mail", batch_size --batch-size) and --clients contacts whose
   addresses are a third of the senders (the other senders become leads on their first message).
4. Raw floor: imapclient SELECT (read-only), UID SEARCH, FETCH BODY.PEEK[] of the same UIDs in the same batch
   size, bytes only (no parsing).
5. Ingestion: `kramar.comms.imap.channel_poll` of the channel from an empty cursor, repeated until a poll fetches
   nothing (fetch, parse, match, thread, store, timeline, routing hook, cursor per message). Per message it splits
   the time into parse (`mail_parse.parse_email` as called by ingestion), store (the rest of `email_ingest`) and
   the rest (IMAP fetch and the cursor update), by wrapping those two functions.
6. Prints the fill time, both rates, the ratio ingestion / raw fetch, the breakdown, the outcome counts and the
   database sizes after (and the attachment folder), and the load average at start and end.
   --profile N: a cProfile of another poll of N fresh messages (appended after the run), top functions by
   cumulative and by own time.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sys
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import database_describe, postgres_database_ensure, table  # noqa: E402

SQLITE_DEFAULT = "sqlite:////tmp/kramar_bench_mail.sqlite3"
DATA_DIR_DEFAULT = "/tmp/kramar_bench_mail_data"
SAMPLES = Path(__file__).resolve().parents[1] / "kramar" / "comms" / "tests" / "samples" / "email"  # see SOURCES.md
CHANNEL_ADDRESS = "sales@kramar.test"

FIRST = ["Олена", "Ірина", "Тарас", "Богдан", "Оксана", "Андрій", "Марія", "Сергій", "Юлія", "Василь", "Дмитро",
         "Наталія", "Остап", "Софія", "Роман", "Галина"]
LAST = ["Коваль", "Шевченко", "Бондар", "Ткачук", "Мельник", "Кравчук", "Олійник", "Поліщук", "Мороз", "Гончар",
        "Литвин", "Савчук", "Руденко", "Лисенко", "Павлюк", "Дорош"]
LATIN = dict(zip("абвгґдеєжзиіїйклмнопрстуфхцчшщьюя", [
    "a", "b", "v", "h", "g", "d", "e", "ie", "zh", "z", "y", "i", "i", "i", "k", "l", "m", "n", "o", "p", "r",
    "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "iu", "ia"], strict=True))
DOMAINS = ["ukr.net", "gmail.com", "i.ua", "agro-trade.com.ua", "budmarket.ua", "meta.ua", "zerno.kiev.ua"]
SUBJECTS = ["Рахунок на оплату", "Замовлення №{n}", "Питання щодо доставки", "Комерційна пропозиція",
            "Акт звірки за {m} місяць", "Договір поставки {n}", "Рекламація по партії {n}", "Прайс-лист",
            "Запит ціни на {n} од.", "Зустріч у четвер", "Оплата пройшла", "Графік відвантаження"]
SENTENCES = ["Доброго дня!", "Прошу виставити рахунок на {n} ящиків.", "Надсилаю реквізити нашої компанії.",
             "Коли можна очікувати відвантаження?", "Оплату здійснимо до кінця тижня.",
             "Чи є можливість знижки при замовленні від {n} одиниць?", "Документи підписані, скан у вкладенні.",
             "Потрібна консультація щодо гарантії.", "Дякую за оперативну відповідь.",
             "Просимо уточнити терміни поставки по договору №{n}.", "Склад працює з 9:00 до 18:00.",
             "Наш бухгалтер зв'яжеться з вами.", "Будь ласка, підтвердіть отримання."]
MIX = [("utf8", 34), ("cp1251", 14), ("html", 18), ("reply", 16), ("attachment", 5), ("auto", 4),
       ("sample", 9)]  # percent
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n" + bytes(range(256)) * 60 + b"\n%%EOF\n"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=10_000, help="messages in the mailbox (10000)")
    p.add_argument("--clients", type=int, default=300, help="contacts matching a sender (300)")
    p.add_argument("--senders", type=int, default=900, help="distinct sender addresses (900)")
    p.add_argument("--batch-size", type=int, default=50, help="UIDs per FETCH, as the channel's batch_size (50)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--profile", type=int, default=0, help="cProfile a poll of N more messages afterwards")
    p.add_argument("--top", type=int, default=25, help="functions shown per profile listing (25)")
    p.add_argument("--queries", type=int, default=0,
                   help="capture the SQL of a poll of N more messages afterwards: statements a message, by shape")
    return p.parse_args(argv)


# --- set-up ----------------------------------------------------------------------------------------


def django_setup() -> None:
    os.environ.setdefault("DATABASE_URL", SQLITE_DEFAULT)
    os.environ["DJANGO_SETTINGS_MODULE"] = "kramar.config.settings.base"
    os.environ.setdefault("KRAMAR_DEBUG", "0")
    os.environ.setdefault("KRAMAR_DATA_DIR", DATA_DIR_DEFAULT)
    shutil.rmtree(os.environ["KRAMAR_DATA_DIR"], ignore_errors=True)
    url = os.environ["DATABASE_URL"]
    if url.startswith(("postgres://", "postgresql://")):
        _postgres_drop(url)
        postgres_database_ensure(url)
    elif url.startswith("sqlite:///"):
        path = url[len("sqlite://"):]
        if path not in ("/:memory:", "/"):
            for suffix in ("", "-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)
    import django

    django.setup()


def _postgres_drop(url: str) -> None:
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    admin = psycopg.connect(host=cfg.get("HOST") or "127.0.0.1", port=cfg.get("PORT") or 5432,
                            user=cfg.get("USER") or None, password=cfg.get("PASSWORD") or None, dbname="postgres",
                            autocommit=True)
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{cfg["NAME"]}"')


def database_sizes() -> tuple[str, list[tuple[str, str]]]:
    """(total, [(table, size)] of the biggest tables)."""
    from django.db import connection

    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT pg_database_size(current_database())")
            total = cur.fetchone()[0]
            cur.execute("SELECT relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' "
                        "ORDER BY 2 DESC LIMIT 8")
            rows = cur.fetchall()
        else:
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            path = Path(connection.settings_dict["NAME"])
            total = path.stat().st_size
            try:  # dbstat is compiled into most builds; sizes per table with its indexes
                cur.execute("SELECT m.tbl_name, SUM(s.pgsize) FROM dbstat s JOIN sqlite_master m ON m.name = s.name "
                            "GROUP BY m.tbl_name ORDER BY 2 DESC LIMIT 8")
                rows = cur.fetchall()
            except Exception:  # noqa: BLE001
                rows = []
    return _mb(total), [(name, _mb(size)) for name, size in rows]


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def folder_size(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) if Path(path).exists() else 0


# --- messages --------------------------------------------------------------------------------------


def latin(word: str) -> str:
    return "".join(LATIN.get(ch, ch) for ch in word.lower())


def senders_make(rng: random.Random, n: int) -> list[tuple[str, str]]:
    out, seen = [], set()
    while len(out) < n:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        address = f"{latin(first)}.{latin(last)}{rng.randrange(1000)}@{rng.choice(DOMAINS)}"
        if address not in seen:
            seen.add(address)
            out.append((f"{first} {last}", address))
    return out


def _text(rng: random.Random) -> str:
    lines = [rng.choice(SENTENCES).format(n=rng.randrange(2, 500)) for _ in range(rng.randint(2, 7))]
    return "\n".join(lines) + "\n\nЗ повагою,\n"


def _subject(rng: random.Random) -> str:
    return rng.choice(SUBJECTS).format(n=rng.randrange(100, 9999), m=rng.randrange(1, 13))


def _base(rng, sender, subject, when, msg_id) -> EmailMessage:
    msg = EmailMessage()
    msg["Message-ID"] = msg_id
    msg["From"] = f"{sender[0]} <{sender[1]}>"
    msg["To"] = CHANNEL_ADDRESS
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    return msg


def _cp1251(sender, subject, when, msg_id, text) -> bytes:
    from email.header import Header

    lines = [f"Message-ID: {msg_id}", f"From: {Header(sender[0], 'windows-1251').encode()} <{sender[1]}>",
             f"To: {CHANNEL_ADDRESS}", f"Subject: {Header(subject, 'windows-1251').encode()}",
             f"Date: {format_datetime(when)}", "MIME-Version: 1.0", "Content-Type: text/plain; charset=windows-1251",
             "Content-Transfer-Encoding: 8bit"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + text.replace("\n", "\r\n").encode("windows-1251")


def samples_load() -> list[bytes]:
    return [p.read_bytes() for p in sorted(SAMPLES.glob("*.eml"))]


MSGID_RE = re.compile(rb"^Message-I[Dd]:[ \t]*<[^>\r\n]*>", re.M | re.I)


def _from_sample(template: bytes, msg_id: str) -> bytes:
    if MSGID_RE.search(template):
        return MSGID_RE.sub(f"Message-ID: {msg_id}".encode(), template, count=1)
    return f"Message-ID: {msg_id}\r\n".encode() + template


def messages_make(rng: random.Random, n: int, senders, *, start=None) -> tuple[list[bytes], dict[str, int]]:
    """n seeded messages in arrival order, and the count per kind."""
    import datetime as dt

    samples = samples_load()
    kinds, weights = zip(*MIX, strict=True)
    when = start or dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)
    sent: list[tuple[str, str, tuple[str, str]]] = []  # (msg_id, subject, sender) of client messages so far
    out, counts = [], dict.fromkeys(kinds, 0)
    for i in range(n):
        when += dt.timedelta(seconds=rng.randint(5, 120))
        kind = rng.choices(kinds, weights)[0]
        if kind == "reply" and not sent:
            kind = "utf8"
        counts[kind] += 1
        msg_id = make_msgid(idstring=f"b{i}", domain="bench.kramar.test")
        sender = rng.choice(senders)
        subject = _subject(rng)
        if kind == "utf8":
            msg = _base(rng, sender, subject, when, msg_id)
            msg.set_content(_text(rng) + sender[0])
            raw = msg.as_bytes()
        elif kind == "cp1251":
            raw = _cp1251(sender, subject, when, msg_id, _text(rng) + sender[0])
        elif kind == "html":
            msg = _base(rng, sender, subject, when, msg_id)
            text = _text(rng) + sender[0]
            msg.set_content(text)
            paragraphs = "".join(f"<p>{line}</p>" for line in text.splitlines() if line)
            msg.add_alternative(f"<html><body style=\"font-family:Arial\">{paragraphs}"
                                f"<div><img src=\"cid:logo\"><a href=\"https://example.com\">сайт</a></div>"
                                f"</body></html>", subtype="html")
            raw = msg.as_bytes()
        elif kind == "reply":
            parent_id, parent_subject, parent_sender = rng.choice(sent[-300:])
            msg = _base(rng, parent_sender, f"Re: {parent_subject}", when, msg_id)
            msg["In-Reply-To"] = parent_id
            msg["References"] = parent_id
            quoted = "\n".join("> " + line for line in _text(rng).splitlines())
            msg.set_content(_text(rng) + parent_sender[0] + "\n\n" + quoted)
            raw = msg.as_bytes()
            sender, subject = parent_sender, parent_subject
        elif kind == "attachment":
            msg = _base(rng, sender, subject, when, msg_id)
            msg.set_content(_text(rng) + sender[0])
            msg.add_attachment(PDF[: rng.randint(4000, len(PDF))], maintype="application", subtype="pdf",
                               filename=f"rakhunok-{rng.randrange(1000, 9999)}.pdf")
            raw = msg.as_bytes()
        elif kind == "auto":
            msg = _base(rng, sender, f"Автовідповідь: {subject}", when, msg_id)
            msg["Auto-Submitted"] = "auto-replied"
            msg["X-Autoreply"] = "yes"
            msg.set_content(f"Я у відпустці до {rng.randint(1, 28)}.12. З питань замовлень пишіть на office@"
                            f"{sender[1].split('@')[1]}.\n")
            raw = msg.as_bytes()
        else:  # a real sample (bounces, read receipt, raw 8-bit headers, …) with a fresh Message-ID
            raw = _from_sample(rng.choice(samples), msg_id)
        if kind != "sample":  # the trace a delivered message carries
            raw = (f"Return-Path: <{sender[1]}>\r\nReceived: from mx{i % 7}.{sender[1].split('@')[1]} "
                   f"(mx{i % 7}.{sender[1].split('@')[1]} [198.51.100.{i % 250}])\r\n\tby mx.kramar.test (Postfix) "
                   f"with ESMTPS id {i:08X}\r\n\tfor <{CHANNEL_ADDRESS}>; {format_datetime(when)}\r\n"
                   f"X-Mailer: {rng.choice(['Microsoft Outlook 16.0', 'Mozilla Thunderbird 115', 'Gmail'])}\r\n"
                   ).encode() + raw
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if kind in ("utf8", "cp1251", "html", "attachment"):
            sent.append((msg_id, subject, sender))
        out.append(raw)
    return out, counts


# --- the runs --------------------------------------------------------------------------------------


def mailbox_fill(server, user: str, messages: list[bytes]) -> float:
    client = server.client(user)
    try:
        t0 = time.perf_counter()
        for start in range(0, len(messages), 200):
            client.multiappend("INBOX", messages[start:start + 200])
        return time.perf_counter() - t0
    finally:
        client.logout()


def raw_fetch(server, user: str, batch_size: int) -> tuple[float, int, int]:
    """(seconds, messages, bytes) of SELECT + UID SEARCH + FETCH BODY.PEEK[] in batches, bytes only."""
    t0 = time.perf_counter()
    client = server.client(user)
    count = size = 0
    try:
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["UID", "1:*"]))
        for start in range(0, len(uids), batch_size):
            batch = uids[start:start + batch_size]
            fetched = client.fetch(batch, ["BODY.PEEK[]"])
            for uid in batch:
                raw = (fetched.get(uid) or {}).get(b"BODY[]")
                if raw is not None:
                    count += 1
                    size += len(raw)
    finally:
        client.logout()
    return time.perf_counter() - t0, count, size


class Timer:
    """Wraps a function and sums its wall time."""

    def __init__(self, fn):
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1


def ingest_all(channel) -> tuple[float, dict, Timer, Timer]:
    from kramar.comms import imap, ingest

    parse, store = Timer(ingest.parse_email), Timer(imap.email_ingest)
    ingest.parse_email, imap.email_ingest = parse, store
    totals = {"polls": 0, "fetched": 0, "stored": 0, "duplicates": 0, "failed": 0}
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        while True:
            channel.refresh_from_db()
            result = imap.channel_poll(channel=channel)
            if result.error:
                raise RuntimeError(result.error)
            totals["polls"] += 1
            for key in ("fetched", "stored", "duplicates", "failed"):
                totals[key] += getattr(result, key)
            if not result.fetched:
                break
        seconds = time.perf_counter() - t0
        totals["cpu"] = time.process_time() - cpu0
    finally:
        ingest.parse_email, imap.email_ingest = parse.fn, store.fn
    return seconds, totals, parse, store


def profile_poll(server, user, channel, rng, senders, n: int, top: int) -> None:
    import cProfile
    import datetime as dt
    import pstats

    from kramar.comms import imap

    messages, _ = messages_make(rng, n, senders, start=dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC))
    server.append(user, *messages)
    channel.refresh_from_db()
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    result = imap.channel_poll(channel=channel)
    profiler.disable()
    seconds = time.perf_counter() - t0
    print(f"\ncProfile of one poll of {result.fetched} more messages: {seconds:.1f} s under the profiler "
          f"({result.fetched / seconds:.0f} msg/s)")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def _shape(sql: str) -> str:
    """A statement with its literals and parameter lists folded, so equal statements group together."""
    sql = re.sub(r"'(?:[^']|'')*'", "?", sql)
    sql = re.sub(r"\b\d+(?:\.\d+)?\b", "?", sql)
    sql = re.sub(r"\((?:\s*(?:\?|%s|NULL)\s*,?)+\)", "(…)", sql)
    return sql


def queries_poll(server, user, channel, rng, senders, n: int, top: int) -> None:
    import collections
    import datetime as dt

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kramar.comms import imap

    messages, _ = messages_make(rng, n, senders, start=dt.datetime(2026, 12, 5, 8, 0, tzinfo=dt.UTC))
    server.append(user, *messages)
    channel.refresh_from_db()
    with CaptureQueriesContext(connection) as captured:
        result = imap.channel_poll(channel=channel)
    count = max(result.fetched, 1)
    shapes = collections.Counter(_shape(q["sql"]) for q in captured.captured_queries)
    seconds = collections.Counter()
    for q in captured.captured_queries:
        seconds[_shape(q["sql"])] += float(q["time"])
    print(f"\nSQL of one poll of {result.fetched} more messages: {len(captured)} statements, "
          f"{len(captured) / count:.1f} a message; by shape (a message, ms a message):")
    for shape, k in shapes.most_common(top):
        print(f"  {k / count:6.2f}  {seconds[shape] / count * 1000:6.3f}  {shape[:220]}")


def main(argv=None) -> int:
    args = parse_args(argv)
    from kramar.comms.tests.dovecot import DOVECOT, dovecot_start, dovecot_stop

    if DOVECOT is None:
        print("Dovecot is not installed (apt-get install -y dovecot-imapd)", file=sys.stderr)
        return 2
    django_setup()
    from django.core.management import call_command

    load_start = os.getloadavg()
    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"database: {database_describe()}; migrated in {time.perf_counter() - t0:.1f} s")
    print(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")

    from kramar.clients.models import Contact, ContactPoint
    from kramar.comms.choices import ChannelKind
    from kramar.comms.models import Channel, Conversation, InboundFailure, Message, Queue
    from kramar.history.models import Interaction

    rng = random.Random(args.seed)
    senders = senders_make(rng, args.senders)
    t0 = time.perf_counter()
    messages, counts = messages_make(rng, args.messages, senders)
    total_bytes = sum(map(len, messages))
    print(f"generated {len(messages):,} messages ({total_bytes / 1e6:.1f} MB, "
          f"mean {total_bytes / len(messages) / 1e3:.1f} kB) in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))

    server, proc = dovecot_start()
    try:
        user = server.add_user("bench")
        fill = mailbox_fill(server, user, messages)
        print(f"fill: APPEND (MULTIAPPEND × 200) of {len(messages):,} messages in {fill:.1f} s "
              f"({len(messages) / fill:.0f} msg/s)")

        queue = Queue.objects.create(name="Bench mail")
        channel = Channel.objects.create(
            kind=ChannelKind.EMAIL, name="Bench sales", address=CHANNEL_ADDRESS, queue=queue, secret=server.password,
            settings=server.channel_settings(user, batch_size=args.batch_size, timeout=120))
        for name, address in rng.sample(senders, min(args.clients, len(senders))):
            first, last = name.split(" ", 1)
            contact = Contact.objects.create(first_name=first, last_name=last)
            ContactPoint.objects.create(contact=contact, kind="email", value=address, normalized=address.lower(),
                                        is_primary=True)
        print(f"channel {channel.pk}, {args.clients} known clients among {args.senders} senders")

        raw_s, raw_n, raw_bytes = raw_fetch(server, user, args.batch_size)
        ingest_s, totals, parse, store = ingest_all(channel)
        raw_rate, ingest_rate = raw_n / raw_s, totals["fetched"] / ingest_s
        n = max(totals["fetched"], 1)
        print()
        print(table([
            ["raw IMAP FETCH (bytes only)", raw_n, round(raw_s, 2), round(raw_rate), round(raw_bytes / raw_s / 1e6, 1)],
            ["ingestion (channel_poll)", totals["fetched"], round(ingest_s, 2), round(ingest_rate), "-"],
        ], header=["pass", "messages", "seconds", "msg/s", "MB/s"]))
        print(f"ratio ingestion / raw fetch: {ingest_rate / raw_rate:.3f} "
              f"(raw fetch is {raw_rate / ingest_rate:.0f}× faster)")
        rest = ingest_s - store.seconds
        print(f"per message: {ingest_s / n * 1000:.2f} ms = parse {parse.seconds / n * 1000:.2f} ms + store "
              f"{(store.seconds - parse.seconds) / n * 1000:.2f} ms (rest of email_ingest) + IMAP, cursor, the batch's "
              f"commit and the routing after it {rest / n * 1000:.2f} ms")
        print(f"CPU time of this process during ingestion: {totals['cpu']:.2f} s ({totals['cpu'] / n * 1000:.2f} ms a "
              f"message; wall time above this is the IMAP server, the disk and other load)")
        print(f"polls {totals['polls']}: stored {totals['stored']}, duplicates {totals['duplicates']}, "
              f"failed {totals['failed']}")
        print(f"rows: messages {Message.objects.count():,}, conversations {Conversation.objects.count():,}, "
              f"interactions {Interaction.objects.count():,}, contacts {Contact.objects.count():,} "
              f"(leads made {Contact.objects.count() - args.clients:,}), failures {InboundFailure.objects.count()}, "
              f"auto-replies {Message.objects.filter(is_auto_reply=True).count()}, "
              f"bounces {Message.objects.filter(is_bounce=True).count()}")
        total, biggest = database_sizes()
        print(f"database size after: {total}; attachments folder {_mb(folder_size(os.environ['KRAMAR_DATA_DIR']))}")
        if biggest:
            print("  biggest tables (with indexes): " + ", ".join(f"{t} {s}" for t, s in biggest))
        load_end = os.getloadavg()
        print(f"load average at end: {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
        if args.profile:
            profile_poll(server, user, channel, rng, senders, args.profile, args.top)
        if args.queries:
            queries_poll(server, user, channel, rng, senders, args.queries, args.top)
    finally:
        dovecot_stop(proc, server.root)
    return 0 if totals["fetched"] == raw_n == args.messages else 1


if __name__ == "__main__":
    sys.exit(main())
