"""Parsing the real sample messages and the odd shapes of FORMATS.md §4: charsets, headers, reports."""

from email.message import EmailMessage

import pytest

from kramar.comms.mail_parse import MailParseError, digest_id, parse_email, subject_normalize
from kramar.comms.tests.mail_samples import BROKEN_MIME, encoded, mail, sample


def test_rfc2047_subject_split_across_encoded_words_and_qp_cyrillic_body():
    p = parse_email(sample("rfc2047_utf8_b_subject_qp_cyrillic_body.eml"))
    assert p.subject == "Simple text. How are you? Как ты поживаешь?"
    assert "А эта линия по-русски." in p.text
    assert p.message_id == "341090.85574.qm@web50704.mail.re2.yahoo.com"
    assert not p.is_automatic


def test_cp1251_8bit_multipart_with_forwarded_message():
    p = parse_email(sample("cp1251_8bit_multipart_fwd_attachment.eml"))
    assert p.from_name == "Каукин Владимир"
    assert p.from_address == "k1@yandex.ru"
    assert "отдел расписания" in p.text
    assert "<p>" in p.html and "<script" not in p.html
    assert p.in_reply_to == "1333139463.20190207083243@com.ru"
    assert [(a.filename, a.content_type) for a in p.attachments] == [("Message01.eml", "message/rfc822")]
    assert len(p.forwarded) == 1 and "Forwarded message" in p.text


def test_cp1251_alias_with_8bit_bytes_under_7bit_label_and_no_message_id():
    raw = sample("cp1251_alias_7bit_mislabelled.eml")
    p = parse_email(raw)
    assert p.text.strip() == "Это сообщение имеет неправильную кодировка."
    assert not p.has_message_id
    assert p.message_id == digest_id(raw) == parse_email(raw).message_id  # stable


def test_raw_8bit_subject_without_rfc2047_is_recovered():
    p = parse_email(sample("raw_8bit_cp1251_subject_no_rfc2047.eml"))
    assert p.subject == "Узнай как зарабатывать от 1000$ в неделю!"
    assert p.flags["header_charset_guessed"] == "cp1251"


def test_single_part_octet_stream_root_is_one_attachment():
    p = parse_email(sample("outlook_express_raw_8bit_filename.eml"))
    assert p.text == ""
    assert len(p.attachments) == 1
    assert p.attachments[0].filename.endswith(".txt")
    assert p.attachments[0].content_type == "application/octet-stream"


def test_rfc3464_bounce_is_a_bounce_first_even_with_auto_submitted():
    p = parse_email(sample("dsn_rfc3464_aol_mailbox_full.eml"))
    assert p.bounce is not None and p.bounce.permanent == ["user@aol.com"]
    assert p.bounce.status == "5.2.2" and "MAILBOX FULL" in p.bounce.diagnostic
    assert p.bounce.original_message_id == "4E326A95.3010907@example.com"
    assert p.auto_reply == "" and p.is_automatic


def test_delayed_dsn_is_temporary():
    p = parse_email(sample("dsn_delayed_auto_generated_warning.eml"))
    assert p.bounce.temporary == ["fraser@oooooooo.com.au"] and p.bounce.permanent == []
    assert p.bounce.action == "delayed" and p.bounce.status == "4.2.2"


def test_nonstandard_bounce_with_x_failed_recipients():
    p = parse_email(sample("bounce_nonstandard_gmail_x_failed_recipients.eml"))
    assert p.bounce.permanent == ["awfawfawfawfawfaw@someserverhere.com"]
    assert p.bounce.standard is False


def test_read_receipt_is_a_report_not_a_reply():
    p = parse_email(sample("mdn_rfc8098_read_receipt.eml"))
    assert p.bounce is None
    assert p.report_type == "disposition-notification" and p.is_automatic


@pytest.mark.parametrize(("headers", "subject"), [
    ({"Auto-Submitted": "auto-replied (vacation)"}, "Re: order"),
    ({"X-Autoreply": "yes"}, "Re: order"),
    ({"Precedence": "bulk"}, "News"),
    ({"X-Auto-Response-Suppress": "All"}, "Re: order"),
    ({}, "Automatic reply: order"),
    ({}, "Автоматична відповідь: замовлення"),
])
def test_auto_replies(headers, subject):
    p = parse_email(mail(msg_id="a@x", sender="olena@client.test", subject=subject, headers=headers))
    assert p.auto_reply and p.is_automatic


def test_auto_submitted_no_is_a_person():
    p = parse_email(mail(msg_id="a@x", sender="olena@client.test", headers={"Auto-Submitted": "no"}))
    assert not p.is_automatic


@pytest.mark.parametrize("charset", ["windows-1251", "koi8-u", "utf-8"])
def test_cyrillic_bodies_in_declared_charsets(charset):
    text = "Доброго дня! Прошу виставити рахунок на ґудзики та їжачків."
    p = parse_email(mail(msg_id="c@x", sender="a@b.test", subject="Рахунок", body=text, charset=charset))
    assert p.text.strip() == text
    assert p.subject == "Рахунок"


def test_mislabelled_charset_is_guessed():
    # cp1251 bytes declared as us-ascii, and an unknown charset name
    text = "Доброго дня! Прошу виставити рахунок на поставку обладнання для нашого офісу у Києві."
    raw = mail(msg_id="g@x", sender="a@b.test", body=text, charset="cp1251").replace(
        b"charset=cp1251", b"charset=us-ascii")
    p = parse_email(raw)
    assert p.text.strip() == text
    assert p.flags["charset_guessed"]
    raw = mail(msg_id="g2@x", sender="a@b.test", body=text, charset="cp1251").replace(
        b"charset=cp1251", b"charset=x-no-such-charset")
    assert parse_email(raw).text.strip() == text


def test_alternative_html_is_sanitized_and_text_preferred():
    msg = EmailMessage()
    msg["Message-ID"] = "<alt@x>"
    msg["From"] = "a@b.test"
    msg["Subject"] = encoded("Пропозиція")
    msg.set_content("plain version")
    msg.add_alternative('<p onclick="x()">html <b>version</b></p><script>alert(1)</script>', subtype="html")
    p = parse_email(msg.as_bytes())
    assert p.text.strip() == "plain version"
    assert "<b>version</b>" in p.html and "script" not in p.html and "onclick" not in p.html


def test_html_only_message_gets_readable_text():
    msg = EmailMessage()
    msg["Message-ID"] = "<html-only@x>"
    msg["From"] = "a@b.test"
    msg["Subject"] = "Рахунок"
    msg.set_content("<div>Доброго дня!</div><p>Ціна: 5 &amp; 7 &lt;грн&gt;<br>Склад: Київ</p>"
                    "<style>p {color: red}</style><ul><li>ящики</li></ul>", subtype="html")
    p = parse_email(msg.as_bytes())
    assert p.text.splitlines() == ["Доброго дня!", "Ціна: 5 & 7 <грн>", "Склад: Київ", "", "- ящики"]


def test_winmail_dat_is_opened():
    pytest.importorskip("tnefparse")
    msg = EmailMessage()
    msg["Message-ID"] = "<tnef@x>"
    msg["From"] = "outlook@b.test"
    msg["Subject"] = "files"
    msg.set_content("see attached")
    msg.add_attachment(sample("winmail_two_files.dat", "tnef"), maintype="application", subtype="ms-tnef",
                       filename="winmail.dat")
    p = parse_email(msg.as_bytes())
    assert sorted(a.filename for a in p.attachments) == ["AUTHORS", "README"]
    assert p.flags["tnef"] == "opened"


def test_broken_mime_and_garbage_raise_with_a_reason():
    with pytest.raises(MailParseError, match="Broken MIME"):
        parse_email(BROKEN_MIME)
    with pytest.raises(MailParseError):
        parse_email(b"")
    with pytest.raises(MailParseError, match="No header"):
        parse_email(b"\x00\x01\x02 just bytes\r\n")


def test_subject_normalize():
    assert subject_normalize("RE: Fwd: [Kramar] Відп: Рахунок  №5") == "рахунок №5"
    assert subject_normalize("Re[2]: order") == "order"
