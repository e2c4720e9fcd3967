"""Finding likely duplicates by match keys: index look-ups only, fuzzy comparison among the few
records that share a key (a contact's company, a company's name key)."""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher

from django.db.models import Q
from django.utils.translation import gettext as _

from kramar.clients.models import Company, Contact, ContactPoint

CLOSE_NAME = 0.85
MAX_CANDIDATES = 10


@dataclass
class Candidate:
    obj: Contact | Company
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "id": self.obj.pk,
            "entity": self.obj.scope_entity,
            "name": str(self.obj),
            "reasons": self.reasons,
        }


@dataclass
class DuplicateReport:
    candidates: list[Candidate] = field(default_factory=list)
    hidden: int = 0  # matches outside the actor's scope: counted, never shown

    def __bool__(self) -> bool:
        return bool(self.candidates) or self.hidden > 0

    def as_list(self) -> list[dict]:
        return [c.as_dict() for c in self.candidates]


def _close(a: str, b: str) -> bool:
    return bool(a and b) and (a == b or SequenceMatcher(None, a, b).ratio() >= CLOSE_NAME)


def _collect(model, actor, reasons_by_id: dict[int, list[str]]) -> DuplicateReport:
    report = DuplicateReport()
    if not reasons_by_id:
        return report
    ids = list(reasons_by_id)[: MAX_CANDIDATES * 5]
    visible = {o.pk: o for o in model.objects.visible_to(actor, "view").filter(pk__in=ids)}
    alive = set(model.objects.alive().filter(pk__in=ids).values_list("pk", flat=True))
    for pk in ids:
        if pk in visible:
            if len(report.candidates) < MAX_CANDIDATES:
                report.candidates.append(Candidate(visible[pk], reasons_by_id[pk]))
        elif pk in alive:
            report.hidden += 1
    return report


def _point_matches(owner_field: str, emails: list[str], phones: list[str], exclude_id, reasons: dict[int, list[str]]):
    q = Q()
    if emails:
        q |= Q(kind="email", normalized__in=emails)
    if phones:
        q |= Q(kind="phone", normalized__in=phones)
    if not q:
        return
    rows = ContactPoint.objects.filter(q, **{f"{owner_field}__isnull": False}).values_list(
        f"{owner_field}_id", "kind", "normalized"
    )[: MAX_CANDIDATES * 5]
    for owner_id, kind, normalized in rows:
        if owner_id == exclude_id:
            continue
        label = _("same e-mail %(v)s") if kind == "email" else _("same phone %(v)s")
        reasons.setdefault(owner_id, []).append(label % {"v": normalized})


def contact_duplicates_find(
    *, actor, emails: list[str], phones: list[str], name: str, company_ids: list[int], exclude_id: int | None = None
) -> DuplicateReport:
    reasons: dict[int, list[str]] = {}
    _point_matches("contact", emails, phones, exclude_id, reasons)
    if name and company_ids:
        # A close name at the same company: the company is the shared key, names compared fuzzily.
        colleagues = (
            Contact.objects.alive()
            .filter(Q(primary_company_id__in=company_ids) | Q(company_links__company_id__in=company_ids))
            .exclude(pk=exclude_id or 0)
            .values_list("pk", "name_key")
            .distinct()[:2000]
        )
        for pk, other in colleagues:
            if _close(name, other):
                reasons.setdefault(pk, []).append(_("close name at the same company"))
    elif name and len(name.split()) >= 2 and not emails and not phones:
        for pk in Contact.objects.alive().filter(name_key=name).exclude(pk=exclude_id or 0).values_list("pk", flat=True)[:20]:
            reasons.setdefault(pk, []).append(_("same name"))
    return _collect(Contact, actor, reasons)


def company_duplicates_find(
    *, actor, code: str, emails: list[str], phones: list[str], name: str, exclude_id: int | None = None
) -> DuplicateReport:
    reasons: dict[int, list[str]] = {}
    if code:
        for pk in Company.objects.alive().filter(code=code).exclude(pk=exclude_id or 0).values_list("pk", flat=True)[:20]:
            reasons.setdefault(pk, []).append(_("same company code %(v)s") % {"v": code})
    _point_matches("company", emails, phones, exclude_id, reasons)
    if name:
        for pk in Company.objects.alive().filter(name_key=name).exclude(pk=exclude_id or 0).values_list("pk", flat=True)[:20]:
            reasons.setdefault(pk, []).append(_("same name"))
    return _collect(Company, actor, reasons)
