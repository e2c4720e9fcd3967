"""Deterministic generation of demo rows, as plain tuples in database column order.

No ORM and no Faker here: word lists and `random.Random(seed)`, so a million contacts take seconds
to invent and the same seed always gives the same client base. Primary keys are assigned from the
start ids the loader reserved, so child rows reference their parents without a round trip.

Rows are yielded in batches, parents before children: all companies (with their points, addresses
and tags) first, then contacts in batches with their company links, tags, points and interactions.
Derived columns (search_text, name_key) are computed with the same functions the services use.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import random
import unicodedata
import uuid
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache

from stdnum.ua import edrpou, rntrc

from kramar.core.identifiers import name_key, phone_search_digits, text_fold
from kramar.demo import words as W

# Column order of every row the generator yields (field attnames of the models).
COLUMNS: dict[str, tuple[str, ...]] = {
    "company": (
        "id", "created_at", "updated_at", "owner_id", "team_id", "version", "custom", "name", "legal_name",
        "country", "code", "vat_number", "industry", "size", "website", "lifecycle_stage", "source", "notes",
        "search_text", "name_key", "merged_into_id", "client_class",
    ),
    "company_tags": ("id", "company_id", "tag_id"),
    "address": ("id", "contact_id", "company_id", "kind", "line", "city", "region", "postal_code", "country"),
    "point": (
        "id", "contact_id", "company_id", "kind", "label", "value", "normalized", "extension", "is_primary",
        "bounced_at",
    ),
    "contact": (
        "id", "created_at", "updated_at", "owner_id", "team_id", "version", "custom", "first_name", "middle_name",
        "last_name", "position", "primary_company_id", "birthday", "language", "preferred_channel", "messengers",
        "marketing_consent", "consent_changed_at", "consent_method", "lifecycle_stage", "source", "notes",
        "search_text", "name_key", "merged_into_id", "last_contacted_at",
    ),
    "contact_tags": ("id", "contact_id", "tag_id"),
    "contactcompany": ("id", "contact_id", "company_id", "position", "is_primary"),
    "interaction": (
        "id", "created_at", "updated_at", "channel", "direction", "occurred_at", "duration_seconds", "subject",
        "body", "body_html", "outcome", "user_id", "contact_id", "company_id", "external_id", "version", "custom",
    ),
}
# Tables in the order parents come before children.
TABLE_ORDER = ("company", "company_tags", "address", "point", "contact", "contact_tags", "contactcompany", "interaction")
# Sales rows (written after the clients, by `sales_batches()`).
COLUMNS.update({
    "deal": (
        "id", "created_at", "updated_at", "owner_id", "team_id", "version", "custom", "title", "company_id",
        "pipeline_id", "stage_id", "status", "amount", "currency_id", "expected_close_date", "source", "description",
        "stage_entered_at", "closed_at", "lost_reason_id", "lost_note",
    ),
    "dealcontact": ("id", "deal_id", "contact_id", "role", "is_primary"),
    "dealline": (
        "id", "deal_id", "product_id", "description", "quantity", "unit_price", "discount_percent", "vat_rate",
        "position",
    ),
    "stagehistory": ("id", "deal_id", "stage_id", "entered_at", "left_at", "actor_id"),
    "task": (
        "id", "created_at", "updated_at", "owner_id", "team_id", "version", "custom", "kind", "title", "description",
        "due_at", "all_day", "duration_minutes", "location", "priority", "status", "completed_at", "outcome",
        "contact_id", "company_id", "deal_id", "created_by_id", "remind_at", "reminded_at", "attendees", "ical_uid",
    ),
})
SALES_TABLE_ORDER = ("deal", "dealcontact", "dealline", "stagehistory", "task")

MOBILE_CODES = ("50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99")
YEAR = 365 * 86400
DAY = 86400
_EPOCH = dt.datetime(1970, 1, 1)
_RNTRC_BASE = dt.date(1899, 12, 31)


@dataclass(frozen=True)
class Owner:
    """A user who may own demo records; `group` is the part of the business they work in."""

    user_id: int
    team_id: int | None
    group: str  # kyiv | lviv | marketing | service


@lru_cache(maxsize=4096)
def translit(word: str) -> str:
    """Latin letters for an e-mail address or a domain (official Ukrainian transliteration)."""
    out = []
    for i, ch in enumerate(word.lower()):
        if i == 0 and ch in W.TRANSLIT_FIRST:
            out.append(W.TRANSLIT_FIRST[ch])
        elif ch in W.TRANSLIT:
            out.append(W.TRANSLIT[ch])
        elif ch.isascii() and (ch.isalnum() or ch in ".-"):
            out.append(ch)
        elif ch.isascii():
            continue
        else:  # é, ø … → e, o
            out.append(unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode())
    return "".join(out)


def search_digits(e164: str) -> str:
    """phone_search_digits() with a fast path for +380 numbers, whose national form (0XX…) is
    already contained in the international digits; tests check both agree."""
    if len(e164) == 13 and e164.startswith("+380"):
        return e164[1:]
    return phone_search_digits(e164)


def edrpou_make(rng: random.Random) -> str:
    body = f"{rng.randrange(45):02d}{rng.randrange(10**5):05d}"  # first digit 0–4, as real codes
    return body + edrpou.calc_check_digit(body)


def rntrc_make(rng: random.Random, birth: dt.date, male: bool) -> str:
    days = (birth - _RNTRC_BASE).days
    serial = rng.randrange(1000)
    sex = rng.randrange(0, 10, 2) + (1 if male else 0)  # 9th digit: odd for men
    body = f"{days:05d}{serial:03d}{sex:d}"
    return body + rntrc.calc_check_digit(body)


def _client_class(rng: random.Random) -> str:
    """A for a fifth of the companies, B for 30%, C for half."""
    x = rng.random()
    return "A" if x < 0.2 else "B" if x < 0.5 else "C"


class FastRandom(random.Random):
    """random.Random with choice() and randrange() drawn from one random() call each: several times
    faster than the stdlib's exact-integer methods, and just as deterministic for a seed."""

    def choice(self, seq):
        return seq[int(self.random() * len(seq))]

    def randrange(self, start, stop=None, step=1):
        if stop is None:
            start, stop = 0, start
        if step == 1:
            return start + int(self.random() * (stop - start))
        return start + step * int(self.random() * ((stop - start + step - 1) // step))


_HMS = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]


def _weighted(items, weight_index: int):
    cum, total = [], 0
    for item in items:
        total += item[weight_index]
        cum.append(total)
    return list(items), cum, total


class DemoGenerator:
    """Invents the client base. `batches()` yields (table key, list of row tuples)."""

    def __init__(
        self, *, seed: int, contacts: int, owners: list[Owner], tag_ids: dict[str, int],
        start_ids: dict[str, int], anchor: dt.date, aware_datetimes: bool, batch_size: int = 5000,
    ):
        self.seed = seed
        self.n_contacts = contacts
        self.n_companies = max(1, (contacts + 3) // 4) if contacts else 0
        self.owners_by_group: dict[str, list[Owner]] = {}
        for owner in owners:
            self.owners_by_group.setdefault(owner.group, []).append(owner)
        for group in ("kyiv", "lviv", "marketing", "service"):
            self.owners_by_group.setdefault(group, list(owners))
        self.tag_ids = tag_ids
        self.next_id = dict(start_ids)
        self.anchor_s = int((dt.datetime(anchor.year, anchor.month, anchor.day) - _EPOCH).total_seconds())
        self.tz = "+00:00" if aware_datetimes else ""
        self._days: dict[int, str] = {}
        self.batch_size = batch_size
        self.counts: Counter[str] = Counter()
        self._legal_forms = _weighted(W.UA_LEGAL_FORMS, 2)
        self._countries = _weighted(W.INTL_COUNTRIES, 3)
        self._channels = _weighted(W.CHANNELS, 1)
        # per company, what contacts need: id, name, domain, owner, stage, intl, created
        self.c_id: list[int] = []
        self.c_name: list[str] = []
        self.c_domain: list[str] = []
        self.c_owner: list[Owner] = []
        self.c_stage: list[str] = []
        self.c_intl: list[bool] = []
        self.c_created: list[int] = []
        self.c_contact: list[int] = []  # a contact of the company (the first generated), 0: none
        self.c_last: list[int] = []  # the company's latest interaction (seconds), 0: none
        # per contact, in id order from the first contact id: its company's index and its owner's index
        self.owners = list(dict.fromkeys(owners))
        self.owner_index = {owner: i for i, owner in enumerate(self.owners)}
        self.first_contact_id = start_ids.get("contact", 1)
        self.ct_company = array("i")
        self.ct_owner = array("h")

    # ----------------------------------------------------------------------------------- helpers

    def _ts(self, seconds: int) -> str:
        """UTC timestamp text: naive for SQLite (as Django stores it), with +00:00 for PostgreSQL."""
        days, rest = divmod(seconds, DAY)
        day = self._days.get(days)
        if day is None:
            day = self._days[days] = (_EPOCH + dt.timedelta(days=days)).strftime("%Y-%m-%d ")
        return day + _HMS[rest] + self.tz

    def _ids(self, key: str, n: int = 1) -> int:
        first = self.next_id[key]
        self.next_id[key] = first + n
        return first

    @staticmethod
    def _pick(rng: random.Random, weighted):
        items, cum, total = weighted
        return items[bisect.bisect_right(cum, rng.random() * total)]

    @staticmethod
    def _stage(rng: random.Random) -> str:
        x = rng.random()
        if x < 0.35:
            return "customer"
        if x < 0.55:
            return "prospect"
        if x < 0.85:
            return "lead"
        return "former" if x < 0.93 else "partner"

    @staticmethod
    def _mobile(rng: random.Random) -> tuple[str, str, str]:
        code, rest = rng.choice(MOBILE_CODES), f"{rng.randrange(10**7):07d}"
        e164 = f"+380{code}{rest}"
        style = rng.randrange(4)
        if style == 0:
            value = f"+380 {code} {rest[:3]} {rest[3:5]} {rest[5:]}"
        elif style == 1:
            value = f"0{code} {rest[:3]} {rest[3:5]} {rest[5:]}"
        elif style == 2:
            value = f"(0{code}) {rest[:3]}-{rest[3:5]}-{rest[5:]}"
        else:
            value = f"+38 0{code} {rest}"
        return value, e164, ""

    @staticmethod
    def _landline(rng: random.Random) -> tuple[str, str, str]:
        rest = f"{rng.randrange(2, 6)}{rng.randrange(10**6):06d}"
        e164 = f"+38044{rest}"
        value = f"+38 (044) {rest[:3]}-{rest[3:5]}-{rest[5:]}" if rng.random() < 0.5 else f"044 {rest[:3]} {rest[3:5]} {rest[5:]}"
        ext = ""
        if rng.random() < 0.15:
            ext = str(rng.randrange(10, 400))
            value += f" доб. {ext}"
        return value, e164, ext

    def _owner_near(self, rng: random.Random, owner: Owner, p_same: float) -> Owner:
        if rng.random() < p_same:
            return owner
        return rng.choice(self.owners_by_group[owner.group])

    # ----------------------------------------------------------------------------------- companies

    def _company_batch(self, rng: random.Random, n: int):
        companies, points, addresses, tags = [], [], [], []
        ts = self._ts
        for _ in range(n):
            cid = self._ids("company")
            intl = rng.random() < 0.12
            vat = ""
            fop = False
            if not intl:
                short, full, _w = self._pick(rng, self._legal_forms)
                city, region, postal, west = rng.choice(W.CITIES)
                country = "UA"
                if short == "ФОП":
                    fop = True
                    male = rng.random() < 0.55
                    first = rng.choice(W.UA_MALE_FIRST if male else W.UA_FEMALE_FIRST)
                    father = rng.choice(W.UA_FATHER_NAMES)
                    last = rng.choice(W.UA_LAST_NAMES)[0 if male else 1]
                    person = f"{last} {first} {father[1] if male else father[2]}"
                    name, legal = f"ФОП {person}", f"{full} {person}"
                    birth = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(40 * 365))
                    code = rntrc_make(rng, birth, male)
                    domain = ""
                    size = "micro"
                else:
                    word = rng.choice(W.UA_COMPANY_ROOTS) + rng.choice(W.UA_COMPANY_ENDINGS)
                    suffix = rng.choice(W.UA_COMPANY_SUFFIXES)
                    name, legal = f"{short} «{word}{suffix}»", f"{full} «{word}{suffix}»"
                    code = edrpou_make(rng)
                    if rng.random() < 0.4:
                        vat = f"{rng.randrange(10**11, 10**12):012d}"
                    domain = translit(word) + ("-" + translit(suffix.strip()) if suffix else "")
                    domain = f"{domain}.{rng.choice(W.UA_DOMAINS)}"
                    size = rng.choice(("micro", "small", "small", "medium", "medium", "large", ""))
                line = f"{rng.choice(W.STREETS)}, {rng.randrange(1, 180)}"
                if rng.random() < 0.4:
                    line += f", оф. {rng.randrange(1, 500)}"
                addr = (line, city, region, f"{postal}{rng.randrange(10 ** (5 - len(postal))):0{5 - len(postal)}d}", "UA")
                group = "lviv" if west else "kyiv"
            else:
                country, form, tld, _w = self._pick(rng, self._countries)
                word = rng.choice(W.INTL_COMPANY_WORDS)
                noun = rng.choice(W.INTL_COMPANY_NOUNS)
                name = legal = f"{word} {noun} {form}"
                code = f"{W.INTL_TAX_PREFIX[country]}{rng.randrange(10**8, 10**9)}" if country != "US" else f"{rng.randrange(10, 99)}-{rng.randrange(10**6, 10**7)}"
                vat = code if country != "US" else ""
                domain = f"{translit(word)}-{translit(noun)}.{tld}"
                size = rng.choice(("small", "medium", "medium", "large", "large"))
                city, street = W.INTL_CITIES[country]
                addr = (f"{street} {rng.randrange(1, 120)}", city, "", f"{rng.randrange(10000, 99999)}", country)
                group = "kyiv" if rng.random() < 0.6 else "lviv"
            stage = self._stage(rng)
            if stage == "lead" and rng.random() < 0.25:
                group = "marketing"
            elif stage == "customer" and rng.random() < 0.15:
                group = "service"
            owner = rng.choice(self.owners_by_group[group])
            created = self.anchor_s - rng.randrange(30 * DAY, 6 * YEAR)
            updated = created + rng.randrange(self.anchor_s - created)
            website = ("https://www." if rng.random() < 0.3 else "https://") + domain if domain else ""

            # contact points: primary e-mail, primary phone, sometimes a second phone
            cpoints = []
            if domain:
                email = f"{rng.choice(('info', 'office', 'sales', 'zakaz', 'hello'))}@{domain}"
            else:
                email = f"{translit(last)}.{translit(first)}{rng.randrange(1, 100)}@{rng.choice(W.FREE_MAIL)}"
            cpoints.append(("email", "work", email, email.lower(), "", True))
            if not intl or rng.random() < 0.3:
                value, e164, ext = self._landline(rng) if (group != "lviv" and rng.random() < 0.6) else self._mobile(rng)
                label = "work" if e164.startswith("+38044") else "mobile"
                cpoints.append(("phone", label, value, e164, ext, True))
                if rng.random() < 0.3:
                    value, e164, ext = self._mobile(rng)
                    if e164 != cpoints[-1][3]:
                        cpoints.append(("phone", "mobile", value, e164, ext, False))
            search_parts = [name, legal, code, vat]
            for kind, label, value, norm, ext, primary in cpoints:
                points.append((self._ids("point"), None, cid, kind, label, value, norm, ext, primary, None))
                search_parts.append(norm if kind == "email" else search_digits(norm))
            addresses.append((self._ids("address"), None, cid, "legal", *addr))
            if rng.random() < 0.3:
                names = rng.sample(W.COMPANY_TAGS, 2 if rng.random() < 0.2 else 1)
                for tag_name, _color in names:
                    tags.append((self._ids("company_tags"), cid, self.tag_ids[tag_name]))
            companies.append((
                cid, ts(created), ts(updated), owner.user_id, owner.team_id, 1, "{}", name, legal, country, code, vat,
                rng.choice(W.INDUSTRIES), size, website, stage, rng.choice(W.SOURCES), "",
                text_fold(" ".join(p for p in search_parts if p)), name_key(name, strip_legal_forms=True), None,
                _client_class(rng),
            ))
            self.c_id.append(cid)
            self.c_name.append(name)
            self.c_domain.append("" if fop else domain)
            self.c_owner.append(owner)
            self.c_stage.append(stage)
            self.c_intl.append(intl)
            self.c_created.append(created)
            self.c_contact.append(0)
            self.c_last.append(0)
        return companies, addresses, tags, points

    # ----------------------------------------------------------------------------------- contacts

    def _contact_batch(self, rng: random.Random, n: int):
        contacts, links, tags, points, interactions = [], [], [], [], []
        ts = self._ts
        anchor = self.anchor_s
        n_comp = self.n_companies
        for _ in range(n):
            pid = self._ids("contact")
            k = rng.randrange(n_comp)
            comp_id, comp_owner = self.c_id[k], self.c_owner[k]
            intl = rng.random() < (0.8 if self.c_intl[k] else 0.04)
            male = rng.random() < 0.5
            if intl:
                first = rng.choice(W.INTL_MALE_FIRST if male else W.INTL_FEMALE_FIRST)
                last = rng.choice(W.INTL_LAST_NAMES)[0 if male else 1]
                middle = ""
                position = rng.choice(W.INTL_POSITIONS)
                lang = "en"
                free = W.INTL_FREE_MAIL
            else:
                first = rng.choice(W.UA_MALE_FIRST if male else W.UA_FEMALE_FIRST)
                last = rng.choice(W.UA_LAST_NAMES)[0 if male else 1]
                father = rng.choice(W.UA_FATHER_NAMES)
                middle = (father[1] if male else father[2]) if rng.random() < 0.95 else ""
                position = rng.choice(W.UA_POSITIONS)
                lang = "uk"
                free = W.FREE_MAIL
            owner = self._owner_near(rng, comp_owner, 0.85)
            stage = self.c_stage[k] if rng.random() < 0.85 else self._stage(rng)
            since = rng.randrange(self.c_created[k], anchor - DAY)
            updated = since + rng.randrange(anchor - since)
            birthday = None
            if rng.random() < 0.35:
                birthday = f"{rng.randrange(1955, 2003)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
            preferred = "" if rng.random() < 0.5 else rng.choice(("call", "email", "meeting", "chat"))
            tf, tl = translit(first), translit(last)
            messengers = "{}"
            if rng.random() < 0.2:
                messengers = json.dumps({"telegram": f"@{tf}_{tl}{rng.randrange(100)}"})
            x = rng.random()
            consent, consent_at, consent_method = "unknown", None, ""
            if x < 0.45:
                consent = "given" if x < 0.4 else "withdrawn"
                consent_at = ts(since + rng.randrange(anchor - since))
                consent_method = rng.choice(W.CONSENT_METHODS)

            # e-mails (primary first), then phones (primary first): the order the services store them
            domain = self.c_domain[k]
            style = rng.randrange(4)
            if domain and style < 3:
                local = (f"{tf}.{tl}", f"{tf[0]}.{tl}", f"{tl}.{tf}")[style]
                email = f"{local}@{domain}"
                email_label = "work"
            else:
                email = f"{tf}.{tl}{rng.randrange(1, 1000)}@{rng.choice(free)}"
                email_label = "home"
            value = email if rng.random() < 0.85 else email.title()
            cps = [("email", email_label, value, email, "", True)]
            phone_value, phone, ext = self._mobile(rng)
            cps.append(("phone", "mobile", phone_value, phone, ext, True))
            if rng.random() < 0.3:
                email2 = f"{tl}{tf}{rng.randrange(1960, 2005)}@{rng.choice(free)}"
                if email2 != email:
                    cps.append(("email", "home", email2, email2, "", False))
            if rng.random() < 0.35:
                phone_value2, phone2, ext2 = self._landline(rng) if rng.random() < 0.5 else self._mobile(rng)
                if phone2 != phone:
                    label = "work" if phone2.startswith("+38044") else "mobile"
                    cps.append(("phone", label, phone_value2, phone2, ext2, False))

            # companies: the primary one, sometimes a second
            comp_names = [(self.c_name[k], comp_id)]
            links.append((self._ids("contactcompany"), pid, comp_id, position, True))
            if n_comp > 1 and rng.random() < 0.12:
                k2 = rng.randrange(n_comp)
                if k2 != k:
                    links.append((self._ids("contactcompany"), pid, self.c_id[k2], position, False))
                    comp_names.append((self.c_name[k2], self.c_id[k2]))
                    comp_names.sort()  # the services read names in Company's ordering: name, id

            parts = [first, middle, last, position]
            parts.extend(name for name, _id in comp_names)
            # points as the services read them back: primary ones first, then by id
            for kind, label, value, norm, ext, primary in sorted(cps, key=lambda p: not p[5]):
                points.append((self._ids("point"), pid, None, kind, label, value, norm, ext, primary, None))
                parts.append(norm if kind == "email" else search_digits(norm))

            x = rng.random()
            if x < 0.23:
                for tag_name, _color in rng.sample(W.CONTACT_TAGS, 2 if x < 0.03 else 1):
                    tags.append((self._ids("contact_tags"), pid, self.tag_ids[tag_name]))

            contacts.append((
                pid, ts(since), ts(updated), owner.user_id, owner.team_id, 1, "{}", first, middle, last, position,
                comp_id, birthday, lang, preferred, messengers, consent, consent_at, consent_method, stage,
                rng.choice(W.SOURCES), "", text_fold(" ".join(p for p in parts if p)), name_key(first, middle, last),
                None,
            ))
            if not self.c_contact[k]:
                self.c_contact[k] = pid
            self.ct_company.append(k)
            self.ct_owner.append(self.owner_index[owner])

            # about three interactions over the years since the client appeared
            x = rng.random()
            count = 0 if x < 0.05 else 1 if x < 0.17 else 2 if x < 0.37 else 3 if x < 0.63 else 4 if x < 0.81 else 5 if x < 0.92 else 6
            last_contacted = None
            if count:
                times = sorted(rng.randrange(since, anchor - 60) for _ in range(count))
                last_contacted = ts(times[-1])
                if times[-1] > self.c_last[k]:
                    self.c_last[k] = times[-1]
                subjects, bodies = W.SUBJECTS[lang], W.BODIES[lang]
                outcomes_call, outcomes_other = W.OUTCOMES[lang], W.OUTCOMES[lang][:4] + W.OUTCOMES[lang][5:]
                for when in times:
                    channel, _w, directions = self._pick(rng, self._channels)
                    duration = None
                    if channel == "call":
                        duration = rng.randrange(20, 1500)
                    elif channel == "meeting":
                        duration = rng.randrange(6, 25) * 300
                    body = rng.choice(bodies) if channel in ("call", "meeting", "note", "email") and rng.random() < 0.7 else ""
                    outcome = ""
                    if channel == "call":
                        outcome = rng.choice(outcomes_call)
                    elif channel in ("meeting", "email"):
                        outcome = rng.choice(outcomes_other)  # no "no answer" after a meeting
                    user = self._owner_near(rng, owner, 0.8)
                    stamp = ts(when)
                    interactions.append((
                        self._ids("interaction"), stamp, stamp, channel, rng.choice(directions), stamp, duration,
                        rng.choice(subjects[channel]), body, "", outcome, user.user_id, pid, comp_id, None, 1, "{}",
                    ))
            contacts[-1] += (last_contacted,)
        return contacts, links, tags, points, interactions

    # ----------------------------------------------------------------------------------- driver

    def batches(self) -> Iterator[tuple[str, list[tuple]]]:
        rng = FastRandom(f"kramar-demo:{self.seed}:companies")
        done = 0
        while done < self.n_companies:
            n = min(self.batch_size, self.n_companies - done)
            companies, addresses, tags, points = self._company_batch(rng, n)
            done += n
            yield from self._emit(("company", companies), ("company_tags", tags), ("address", addresses), ("point", points))
        rng = FastRandom(f"kramar-demo:{self.seed}:contacts")
        done = 0
        while done < self.n_contacts:
            n = min(self.batch_size, self.n_contacts - done)
            contacts, links, tags, points, interactions = self._contact_batch(rng, n)
            done += n
            yield from self._emit(
                ("contact", contacts), ("contact_tags", tags), ("contactcompany", links), ("point", points),
                ("interaction", interactions),
            )

    def _emit(self, *pairs):
        for key, rows in pairs:
            if rows:
                self.counts[key] += len(rows)
                yield key, rows

    def company_last_contacted(self) -> list[tuple[int, str]]:
        """(company id, timestamp of its latest generated interaction) for the companies that have one: known
        only once every contact is generated, so the loader writes it as an update after the clients."""
        ts = self._ts
        return [(cid, ts(last)) for cid, last in zip(self.c_id, self.c_last, strict=True) if last]

    # ----------------------------------------------------------------------------------- sales

    def sales_batches(self, sales: SalesSetup) -> Iterator[tuple[str, list[tuple]]]:
        """Deals (with contacts, product lines, stage history and their tasks), then the clients' other tasks,
        after `batches()` has run (it needs the clients it invented). Exactly `sales.deals` deals and
        `sales.tasks` tasks."""
        rng = FastRandom(f"kramar-demo:{self.seed}:sales")
        self.won_by_owner_month: Counter[tuple[int, str]] = Counter()
        self._tasks_left = sales.tasks
        self._deal_task_budget = sales.tasks // 2
        done = 0
        if self.n_companies and sales.pipelines:
            while done < sales.deals:
                n = min(self.batch_size, sales.deals - done)
                deals, links, lines, history, tasks = self._deal_batch(rng, sales, n)
                done += n
                yield from self._emit(
                    ("deal", deals), ("dealcontact", links), ("dealline", lines), ("stagehistory", history),
                    ("task", tasks),
                )
        if not self.n_companies:
            return
        while self._tasks_left > 0:
            n = min(self.batch_size, self._tasks_left)
            self._tasks_left -= n
            yield from self._emit(("task", self._client_task_batch(rng, n)))

    def _deal_batch(self, rng: random.Random, sales: SalesSetup, n: int):
        deals, links, lines, history, tasks = [], [], [], [], []
        ts, anchor = self._ts, self.anchor_s
        by_name = {p.name: p for p in sales.pipelines}
        default = sales.pipelines[0]
        renewals = by_name.get("Renewals") or default
        for _ in range(n):
            did = self._ids("deal")
            k = rng.randrange(self.n_companies)
            owner, contact_id, intl = self.c_owner[k], self.c_contact[k], self.c_intl[k]
            lang = "en" if intl else "uk"
            renewal = self.c_stage[k] == "customer" and rng.random() < 0.45 and renewals is not default
            pipeline = renewals if renewal else default
            opens, won, lost = pipeline.open_stages, pipeline.won, pipeline.lost
            x = rng.random()
            status = "open" if x < 0.55 else "won" if x < 0.8 else "lost"
            # the path through the pipeline, and when each stage was entered (built backwards from the last)
            if status == "open":
                top = len(opens) if contact_id else min(len(opens), 3)  # "contacts" is required further on
                depth = min(top, 1 + int(len(opens) * rng.random() ** 1.6))
                path = list(opens[:depth])
                end = anchor - rng.randrange(3600, 60 * DAY if rng.random() < 0.8 else 120 * DAY)
            elif status == "won":
                path = [*opens, won]
                end = anchor - rng.randrange(3600, 730 * DAY)
            else:
                path = [*opens[: 1 + rng.randrange(len(opens))], lost]
                end = anchor - rng.randrange(3600, 730 * DAY)
            entered = [end]
            for _stage in path[:-1]:
                entered.append(entered[-1] - rng.randrange(DAY // 2, (8 if renewal else 25) * DAY))
            entered.reverse()
            created = entered[0] - rng.randrange(0, 3600)
            for i, stage in enumerate(path):
                left = ts(entered[i + 1]) if i + 1 < len(path) else None
                history.append((self._ids("stagehistory"), did, stage.id, ts(entered[i]), left, owner.user_id))
            current = path[-1]

            # money: UAH mostly; product lines on about a third of the deals (the amount is then their total)
            cur = "UAH" if intl is False and rng.random() < 0.8 else ("USD" if rng.random() < 0.6 else "EUR")
            if cur not in sales.rates:
                cur = "UAH"
            amount = Decimal(0)
            if sales.products and rng.random() < 0.35:
                for pos in range(1 + int(rng.random() ** 2 * 4)):
                    product = rng.choice(sales.products)
                    unit_price = product.prices.get(cur)
                    if unit_price is None:
                        unit_price = (product.prices["UAH"] / sales.rates[cur]).quantize(CENT)
                    qty = Decimal(rng.choice((1, 1, 1, 2, 3, 5, 10, 12, 20, 50)))
                    if product.unit in ("h", "год"):
                        qty = Decimal(rng.randrange(4, 80))
                    discount = Decimal(rng.choice((0, 0, 0, 0, 5, 10, 15)))
                    net = (qty * unit_price * (100 - discount) / 100).quantize(CENT, ROUND_HALF_EVEN)
                    amount += net + (net * product.vat_rate / 100).quantize(CENT, ROUND_HALF_EVEN)
                    lines.append((
                        self._ids("dealline"), did, product.id, "", f"{qty}", f"{unit_price}", f"{discount}",
                        f"{product.vat_rate}", pos,
                    ))
            elif not (status == "open" and current.position == 0 and rng.random() < 0.4):
                lo, hi = (8_000, 600_000) if renewal else (20_000, 3_000_000)
                uah = lo * (hi / lo) ** rng.random()
                step = 1000 if uah > 100_000 else 100
                amount = Decimal(max(step, int(uah / float(sales.rates[cur]) / step) * step))
            if status == "open":
                close = self._date(anchor + rng.randrange(-10 * DAY, 90 * DAY)) if current.position or rng.random() < 0.5 else None
            else:
                close = self._date(end)
            if renewal:
                title = (W_RENEWAL_EN if intl else W_RENEWAL_UK).format(name=self.c_name[k], year=self._year(end))
            else:
                title = f"{rng.choice(DEAL_TOPICS[lang])} — {self.c_name[k]}"
            lost_reason = rng.choice(sales.lost_reason_ids) if status == "lost" and sales.lost_reason_ids else None
            lost_note = rng.choice(LOST_NOTES[lang]) if lost_reason and rng.random() < 0.4 else ""
            updated = entered[-1] + rng.randrange(0, 3600)
            deals.append((
                did, ts(created), ts(updated), owner.user_id, owner.team_id, 1, "{}", title, self.c_id[k], pipeline.id,
                current.id, status, f"{amount}", cur, close, rng.choice(W.SOURCES), "", ts(entered[-1]),
                ts(entered[-1]) if status != "open" else None, lost_reason, lost_note,
            ))
            if status == "won":
                month = self._date(entered[-1])[:7]
                self.won_by_owner_month[(owner.user_id, month)] += int(amount * sales.rates[cur])
            if contact_id:
                links.append((self._ids("dealcontact"), did, contact_id, rng.choice(DEAL_ROLES[lang]), True))

            # the deal's tasks: done calls and meetings along the way, and the next step of an open deal
            # (at most half of all the tasks are deal tasks; the clients' own tasks make up the rest)
            if self._deal_task_budget > 0:
                own = []
                for when in sorted(rng.randrange(created, end + 1) for _ in range(rng.randrange(0, 3))):
                    own.append(self._task_row(rng, owner, contact_id or None, self.c_id[k], did, lang, "done", when))
                if status == "open" and rng.random() < 0.75:
                    due = anchor + rng.randrange(-6 * DAY, 15 * DAY)
                    own.append(self._task_row(rng, owner, contact_id or None, self.c_id[k], did, lang, "open", due))
                own = own[: self._deal_task_budget]
                self._deal_task_budget -= len(own)
                tasks.extend(own)
        self._tasks_left -= len(tasks)
        return deals, links, lines, history, tasks

    def _client_task_batch(self, rng: random.Random, n: int) -> list[tuple]:
        tasks = []
        anchor = self.anchor_s
        n_contacts = len(self.ct_company)
        for _ in range(n):
            if n_contacts and rng.random() < 0.9:
                i = rng.randrange(n_contacts)
                k = self.ct_company[i]
                owner, contact_id = self.owners[self.ct_owner[i]], self.first_contact_id + i
            else:
                k = rng.randrange(self.n_companies)
                owner, contact_id = self.c_owner[k], None
            lang = "en" if self.c_intl[k] else "uk"
            x = rng.random()
            if x < 0.55:
                status, when = "done", anchor - rng.randrange(3600, 365 * DAY)
            elif x < 0.6:
                status, when = "cancelled", anchor - rng.randrange(3600, 365 * DAY)
            elif x < 0.72:
                status, when = "open", anchor  # today (the hour is set by _task_row)
            else:
                status, when = "open", anchor + rng.randrange(-21 * DAY, 30 * DAY)
            tasks.append(self._task_row(rng, owner, contact_id, self.c_id[k], None, lang, status, when))
        return tasks

    def _task_row(self, rng: random.Random, owner: Owner, contact_id, company_id, deal_id, lang: str, status: str,
                  when: int) -> tuple:
        """A task due on the day of `when`, in working hours (Kyiv, 9:00–18:00 ≈ 6:00–15:00 UTC)."""
        ts = self._ts
        kind = self._pick(rng, TASK_KINDS)[0]
        due = when - when % DAY + 6 * 3600 + rng.randrange(0, 36) * 900
        title = rng.choice(TASK_TITLES[lang][kind])
        duration = rng.choice((30, 45, 60, 90, 120)) if kind == "meeting" else 15 if kind == "call" else None
        location = ""
        if kind == "meeting":
            location = rng.choice(MEETING_PLACES[lang])
        created = min(due - rng.randrange(3600, 14 * DAY), self.anchor_s - 60)
        completed = outcome = None
        if status == "done":
            completed = min(due + rng.randrange(-3600, 2 * DAY), self.anchor_s - 60)
            completed = max(completed, created + 60)
            outcome = rng.choice(TASK_OUTCOMES[lang]) if kind in ("call", "meeting") else ""
        updated = completed or created
        remind_at = reminded_at = None
        if status == "open" and rng.random() < 0.3:
            remind_at = due - 900
            if remind_at < self.anchor_s:  # the periodic job must not send a flood of old reminders
                reminded_at = ts(remind_at)
            remind_at = ts(remind_at)
        priority = "high" if rng.random() < 0.15 else "low" if rng.random() < 0.1 else "normal"
        task_id = self._ids("task")
        return (
            task_id, ts(created), ts(updated), owner.user_id, owner.team_id, 1, "{}", kind, title, "",
            ts(due), False, duration, location, priority, status, ts(completed) if completed else None, outcome or "",
            contact_id, company_id, deal_id, owner.user_id, remind_at, reminded_at, "[]",
            uuid.UUID(int=rng.getrandbits(64) << 64 | task_id, version=4).hex,  # unique: the id is in it
        )

    def _date(self, seconds: int) -> str:
        return self._ts(seconds)[:10]

    def _year(self, seconds: int) -> str:
        return self._ts(seconds)[:4]


# --------------------------------------------------------------------------------------- sales data

CENT = Decimal("0.01")


@dataclass(frozen=True)
class StageInfo:
    id: int
    kind: str
    position: int


@dataclass(frozen=True)
class PipelineInfo:
    id: int
    name: str
    open_stages: tuple[StageInfo, ...]
    won: StageInfo
    lost: StageInfo


@dataclass(frozen=True)
class ProductInfo:
    id: int
    unit: str
    vat_rate: Decimal
    prices: dict[str, Decimal]


@dataclass(frozen=True)
class SalesSetup:
    pipelines: list[PipelineInfo]
    lost_reason_ids: list[int]
    products: list[ProductInfo]
    rates: dict[str, Decimal]  # currency → UAH today (UAH → 1)
    deals: int
    tasks: int


def exchange_rates(*, seed: int, anchor: dt.date, days: int = 365) -> list[tuple[str, dt.date, Decimal]]:
    """USD and EUR against the hryvnia for each of the last `days` days up to `anchor`: a seeded random walk
    around the rates of 2025 (about 41.5 and 45)."""
    rng = FastRandom(f"kramar-demo:{seed}:rates")
    out = []
    for code, rate in (("USD", 41.5), ("EUR", 45.0)):
        for i in range(days):
            out.append((code, anchor - dt.timedelta(days=i), Decimal(f"{rate:.4f}")))
            rate *= 1 + (rng.random() - 0.5) * 0.008
    return out


def product_catalogue(*, seed: int, n: int = 200) -> list[dict]:
    """A seeded catalogue of `n` products (SKU DEMO-0001…) with UAH, USD and EUR prices."""
    rng = FastRandom(f"kramar-demo:{seed}:products")
    out = []
    for i in range(n):
        family, unit, lo, hi, vat = PRODUCT_FAMILIES[i % len(PRODUCT_FAMILIES)]
        variant = PRODUCT_VARIANTS[(i // len(PRODUCT_FAMILIES)) % len(PRODUCT_VARIANTS)]
        uah = lo * (hi / lo) ** rng.random()
        uah = Decimal(int(uah / 10) * 10 or 10)
        out.append({
            "sku": f"DEMO-{i + 1:04d}", "name": f"{family} {variant}", "unit": unit, "vat_rate": Decimal(vat),
            "active": rng.random() > 0.05,
            "prices": {
                "UAH": uah,
                "USD": (uah / Decimal("41.5")).quantize(Decimal("1")) or Decimal(1),
                "EUR": (uah / Decimal("45")).quantize(Decimal("1")) or Decimal(1),
            },
        })
    return out


PRODUCT_FAMILIES = [
    # name, unit, UAH price from, to, VAT %
    ("Ліцензія ERP «Крамар»", "pcs", 4_000, 60_000, 20),
    ("Сервер стоєчний", "pcs", 90_000, 600_000, 20),
    ("Ноутбук", "pcs", 25_000, 90_000, 20),
    ("Монітор", "pcs", 5_000, 30_000, 20),
    ("Впровадження, година консультанта", "h", 1_200, 3_500, 20),
    ("Технічна підтримка, рік", "pcs", 10_000, 250_000, 20),
    ("Навчання персоналу, день", "pcs", 8_000, 40_000, 0),
    ("Кабель вита пара, бухта", "pcs", 2_000, 9_000, 20),
    ("Комутатор", "pcs", 6_000, 120_000, 20),
    ("Джерело безперебійного живлення", "pcs", 4_000, 80_000, 20),
    ("Хмарне сховище, ТБ/рік", "pcs", 3_000, 20_000, 20),
    ("Аудит інформаційної безпеки", "pcs", 40_000, 400_000, 20),
    ("Принтер лазерний", "pcs", 6_000, 45_000, 20),
    ("Картридж", "pcs", 900, 6_000, 20),
    ("Маршрутизатор", "pcs", 3_000, 70_000, 20),
    ("Розробка інтеграції з 1С", "h", 1_500, 3_000, 20),
    ("Підписка Microsoft 365, користувач/рік", "pcs", 2_500, 9_000, 20),
    ("Відеоконференц-система", "pcs", 30_000, 250_000, 20),
    ("Генератор дизельний", "pcs", 60_000, 900_000, 20),
    ("Сонячна панель", "pcs", 4_000, 12_000, 20),
]
PRODUCT_VARIANTS = ["Стандарт", "Про", "Бізнес", "Лайт", "Максимум", "Міні", "XL", "2025", "Plus", "Enterprise"]
DEAL_TOPICS = {
    "uk": ["Постачання обладнання", "Впровадження ERP", "Технічна підтримка", "Модернізація мережі", "Навчання",
           "Оновлення ліцензій", "Резервне живлення офісу", "Інтеграція з 1С", "Аудит безпеки", "Закупівля ноутбуків",
           "Відеоконференції для переговорних", "Сонячна станція"],
    "en": ["Equipment supply", "ERP roll-out", "Support contract", "Network upgrade", "Training", "Licence upgrade",
           "Office backup power", "Accounting integration", "Security audit", "Laptop fleet"],
}
W_RENEWAL_UK = "Продовження договору {year} — {name}"
W_RENEWAL_EN = "Contract renewal {year} — {name}"
DEAL_ROLES = {"uk": ["ЛПР", "Ініціатор", "Технічний експерт", "Закупівлі", ""], "en": ["Decision maker", "Champion",
              "Technical buyer", "Procurement", ""]}
LOST_NOTES = {"uk": ["Обрали дешевшого постачальника", "Проєкт відкладено на наступний рік", "Не вийшли на ЛПР"],
              "en": ["Went with a cheaper vendor", "Project postponed to next year", "Never reached the decision maker"]}
TASK_KINDS = _weighted([("call", 40), ("meeting", 15), ("email", 15), ("todo", 30)], 1)
TASK_TITLES = {
    "uk": {
        "call": ["Зателефонувати щодо пропозиції", "Уточнити потреби", "Нагадати про оплату", "Дзвінок-знайомство",
                 "Узгодити дату поставки"],
        "meeting": ["Зустріч у клієнта", "Презентація рішення", "Переговори щодо умов", "Демонстрація продукту"],
        "email": ["Надіслати комерційну пропозицію", "Надіслати рахунок", "Надіслати договір на погодження"],
        "todo": ["Підготувати пропозицію", "Перевірити оплату", "Оновити дані клієнта", "Підготувати договір"],
    },
    "en": {
        "call": ["Call about the proposal", "Discovery call", "Payment reminder call", "Confirm delivery date"],
        "meeting": ["On-site meeting", "Solution presentation", "Negotiate terms", "Product demo"],
        "email": ["Send the quote", "Send the invoice", "Send the contract for review"],
        "todo": ["Prepare the proposal", "Check the payment", "Update the client record", "Draft the contract"],
    },
}
TASK_OUTCOMES = {
    "uk": ["Домовились про зустріч", "Надіслано пропозицію", "Замовлення підтверджено", "Не вдалося додзвонитися",
           "Потрібен повторний контакт", "Клієнт думає"],
    "en": ["Meeting scheduled", "Quote sent", "Order confirmed", "No answer", "Follow-up needed", "Client is thinking"],
}
MEETING_PLACES = {"uk": ["Офіс клієнта", "Наш офіс", "Zoom", "Google Meet", "Кав'ярня поруч з офісом"],
                  "en": ["Client's office", "Our office", "Zoom", "Microsoft Teams"]}
