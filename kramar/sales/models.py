"""Sales: currencies and dated exchange rates, pipelines and their stages with entry rules, checklists and
playbooks, lost reasons, the product catalogue, deals with product lines and stage history, and targets."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kramar.core.models import ScopedRecord, TimeStampedModel
from kramar.core.scopes import restrict
from kramar.sales.choices import AssigneeRule, DealStatus, StageKind, TaskKind, TaskPriority

MONEY = {"max_digits": 18, "decimal_places": 2}


def base_currency_code() -> str:
    return settings.KRAMAR_BASE_CURRENCY


class Currency(models.Model):
    """An ISO 4217 currency the installation works in. The base currency is settings.KRAMAR_BASE_CURRENCY."""

    code = models.CharField(_("code"), max_length=3, primary_key=True)
    name = models.CharField(_("name"), max_length=64)
    symbol = models.CharField(_("symbol"), max_length=8, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("currency")
        verbose_name_plural = _("currencies")

    def __str__(self) -> str:
        return self.code


class ExchangeRate(models.Model):
    """On `date`, one unit of `currency` is worth `rate` units of the base currency."""

    currency = models.ForeignKey(Currency, on_delete=models.CASCADE, related_name="rates", verbose_name=_("currency"))
    date = models.DateField(_("date"))
    rate = models.DecimalField(
        _("rate"), max_digits=18, decimal_places=6, validators=[MinValueValidator(Decimal("0.000001"))]
    )

    class Meta:
        ordering = ["currency", "-date"]
        constraints = [models.UniqueConstraint(fields=["currency", "date"], name="sales_rate_currency_date_uniq")]
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")

    def __str__(self) -> str:
        return f"{self.currency_id} {self.date}: {self.rate}"


class Pipeline(models.Model):
    name = models.CharField(_("name"), max_length=128, unique=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_default = models.BooleanField(_("default"), default=False)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")

    def __str__(self) -> str:
        return self.name


class Stage(models.Model):
    """A step of a pipeline. Entry rules: `required_fields` (deal fields that must be filled, see
    `sales.rules.REQUIRED_FIELD_CHOICES`), `required_activities` (task kinds that must be done on the deal),
    and the required checklist items of the earlier stages."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages", verbose_name=_("pipeline"))
    name = models.CharField(_("name"), max_length=128)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    kind = models.CharField(_("kind"), max_length=8, choices=StageKind.choices, default=StageKind.OPEN)
    probability = models.PositiveSmallIntegerField(
        _("win probability, %"), default=10, validators=[MaxValueValidator(100)]
    )
    rotting_days = models.PositiveSmallIntegerField(
        _("rotting after, days"), null=True, blank=True,
        help_text=_("A deal that stays longer in this stage is shown as stuck. Empty: never."),
    )
    required_fields = models.JSONField(_("required fields"), default=list, blank=True)
    required_activities = models.JSONField(_("required completed activities"), default=list, blank=True)

    class Meta:
        ordering = ["pipeline", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "name"], name="sales_stage_pipeline_name_uniq")]
        verbose_name = _("stage")
        verbose_name_plural = _("stages")

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.kind != StageKind.OPEN


class ChecklistItem(models.Model):
    """A check a rep ticks while the deal is in this stage; a required one must be ticked before the deal
    moves to a later stage."""

    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="checklist", verbose_name=_("stage"))
    text = models.CharField(_("text"), max_length=255)
    required = models.BooleanField(_("required"), default=False)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["stage", "position", "id"]
        verbose_name = _("checklist item")
        verbose_name_plural = _("checklist items")

    def __str__(self) -> str:
        return self.text


class PlaybookStep(models.Model):
    """A task created when a deal enters `stage` (once per deal and step, however often it re-enters)."""

    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="playbook", verbose_name=_("stage"))
    title = models.CharField(_("title"), max_length=255)
    kind = models.CharField(_("kind"), max_length=8, choices=TaskKind.choices, default=TaskKind.TODO)
    due_offset_days = models.PositiveSmallIntegerField(_("due after, days"), default=1)
    priority = models.CharField(_("priority"), max_length=8, choices=TaskPriority.choices, default=TaskPriority.NORMAL)
    assignee_rule = models.CharField(
        _("assignee"), max_length=16, choices=AssigneeRule.choices, default=AssigneeRule.DEAL_OWNER
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text=_("For the 'a named user' rule."),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["stage", "position", "id"]
        verbose_name = _("playbook step")
        verbose_name_plural = _("playbook steps")

    def __str__(self) -> str:
        return self.title


class LostReason(models.Model):
    name = models.CharField(_("name"), max_length=128, unique=True)
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("lost reason")
        verbose_name_plural = _("lost reasons")

    def __str__(self) -> str:
        return self.name


class Product(TimeStampedModel):
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=255)
    unit = models.CharField(_("unit"), max_length=16, default="pcs")
    vat_rate = models.DecimalField(
        _("VAT rate, %"), max_digits=5, decimal_places=2, default=Decimal("20.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    description = models.TextField(_("description"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    external_id = models.CharField(  # noqa: DJ001 (1C's Ид; NULL keeps the partial unique constraint simple)
        _("external id"), max_length=64, null=True, blank=True
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"], condition=Q(external_id__isnull=False), name="sales_product_external_uniq"
            )
        ]
        verbose_name = _("product")
        verbose_name_plural = _("products")

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class ProductPrice(models.Model):
    """The product's list price in one currency (the price list of that currency)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="prices", verbose_name=_("product"))
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+", verbose_name=_("currency"))
    price = models.DecimalField(_("price"), validators=[MinValueValidator(Decimal("0"))], **MONEY)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "currency"], name="sales_price_product_cur_uniq")]
        verbose_name = _("price")
        verbose_name_plural = _("prices")

    def __str__(self) -> str:
        return f"{self.product_id}: {self.price} {self.currency_id}"


class DealQuerySet(models.QuerySet):
    def visible_to(self, user, action: str = "view"):
        """The deals `user` may `action` (own / team / all, from their roles). The one place."""
        return restrict(self, user, action)

    def open(self):
        return self.filter(status=DealStatus.OPEN)


class Deal(ScopedRecord):
    scope_entity = "deal"

    title = models.CharField(_("title"), max_length=255)
    company = models.ForeignKey(
        "clients.Company", verbose_name=_("company"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="deals",
    )
    contacts = models.ManyToManyField(
        "clients.Contact", through="DealContact", related_name="deals", verbose_name=_("contacts"), blank=True
    )
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="deals", verbose_name=_("pipeline"))
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals", verbose_name=_("stage"))
    status = models.CharField(_("status"), max_length=8, choices=DealStatus.choices, default=DealStatus.OPEN)
    amount = models.DecimalField(
        _("amount"), default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))], **MONEY
    )
    currency = models.ForeignKey(
        Currency, on_delete=models.PROTECT, related_name="+", verbose_name=_("currency"),
        default=base_currency_code,
    )
    expected_close_date = models.DateField(_("expected close date"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=64, blank=True)
    description = models.TextField(_("description"), blank=True)
    stage_entered_at = models.DateTimeField(_("in stage since"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    lost_reason = models.ForeignKey(
        LostReason, verbose_name=_("lost reason"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lost_note = models.TextField(_("lost comment"), blank=True)

    objects = DealQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        indexes = [
            # the board: a column's page of open deals (by last update) or of closed ones (by closing time), and the
            # per-stage totals of a pipeline's open deals read from the index alone, in GROUP BY order, whatever the
            # scope (team and owner are in it)
            models.Index(fields=["pipeline", "stage", "-updated_at", "-id"], name="sales_deal_column_idx"),
            models.Index(fields=["pipeline", "stage", "-closed_at", "-id"], name="sales_deal_closedcol_idx"),
            models.Index(
                fields=["pipeline", "status", "stage", "currency", "amount", "team", "owner"],
                name="sales_deal_totals_idx",
            ),
            models.Index(fields=["owner", "status", "expected_close_date"], name="sales_deal_owner_idx"),
            models.Index(fields=["team", "status"], name="sales_deal_team_idx"),
            models.Index(fields=["status", "stage_entered_at"], name="sales_deal_rot_idx"),
            models.Index(fields=["status", "closed_at"], name="sales_deal_closed_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="sales_deal_amount_nonneg"),
        ]

    def __str__(self) -> str:
        return self.title


class DealContact(models.Model):
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="contact_links")
    contact = models.ForeignKey("clients.Contact", on_delete=models.CASCADE, related_name="deal_links")
    role = models.CharField(_("role"), max_length=64, blank=True, help_text=_("e.g. decision maker"))
    is_primary = models.BooleanField(_("primary"), default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deal", "contact"], name="sales_dealcontact_uniq")]
        verbose_name = _("deal contact")
        verbose_name_plural = _("deal contacts")

    def __str__(self) -> str:
        return f"{self.contact_id} on {self.deal_id}"


class DealLine(models.Model):
    """A product line: quantity × unit price, less a discount in per cent, plus VAT at the line's rate."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="lines", verbose_name=_("deal"))
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("product")
    )
    description = models.CharField(_("description"), max_length=255, blank=True)
    quantity = models.DecimalField(
        _("quantity"), max_digits=14, decimal_places=3, default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.001"))],
    )
    unit_price = models.DecimalField(_("unit price"), validators=[MinValueValidator(Decimal("0"))], **MONEY)
    discount_percent = models.DecimalField(
        _("discount, %"), max_digits=5, decimal_places=2, default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    vat_rate = models.DecimalField(
        _("VAT rate, %"), max_digits=5, decimal_places=2, default=Decimal("20.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["deal", "position", "id"]
        verbose_name = _("product line")
        verbose_name_plural = _("product lines")

    def __str__(self) -> str:
        return self.description or str(self.product_id)

    @property
    def net(self) -> Decimal:
        gross = self.quantity * self.unit_price
        return (gross * (Decimal(100) - self.discount_percent) / Decimal(100)).quantize(Decimal("0.01"))

    @property
    def vat(self) -> Decimal:
        return (self.net * self.vat_rate / Decimal(100)).quantize(Decimal("0.01"))

    @property
    def total(self) -> Decimal:
        return self.net + self.vat


class DealStageHistory(models.Model):
    """One stay of a deal in a stage: the basis of velocity analytics."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="stage_history")
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="+", verbose_name=_("stage"))
    entered_at = models.DateTimeField(_("entered"), default=timezone.now)
    left_at = models.DateTimeField(_("left"), null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("who"),
    )

    class Meta:
        ordering = ["deal", "entered_at", "id"]
        indexes = [models.Index(fields=["deal", "entered_at"], name="sales_stagehist_deal_idx")]
        verbose_name = _("stage history")
        verbose_name_plural = _("stage history")

    def __str__(self) -> str:
        return f"{self.deal_id} in {self.stage_id} from {self.entered_at:%Y-%m-%d}"


class DealChecklistCheck(models.Model):
    """A ticked checklist item of a deal."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="checks")
    item = models.ForeignKey(ChecklistItem, on_delete=models.CASCADE, related_name="+")
    checked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deal", "item"], name="sales_dealcheck_uniq")]
        verbose_name = _("checklist tick")
        verbose_name_plural = _("checklist ticks")

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.item_id}"


class SalesTarget(models.Model):
    """A rep's quota for a period (usually a month or a quarter), in a currency."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sales_targets", verbose_name=_("user")
    )
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to"))
    amount = models.DecimalField(_("target"), validators=[MinValueValidator(Decimal("0"))], **MONEY)
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+", verbose_name=_("currency"))

    class Meta:
        ordering = ["-period_start", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "period_start", "period_end"], name="sales_target_uniq"),
            models.CheckConstraint(condition=Q(period_end__gte=models.F("period_start")), name="sales_target_period"),
        ]
        verbose_name = _("sales target")
        verbose_name_plural = _("sales targets")

    def __str__(self) -> str:
        return f"{self.user_id} {self.period_start}–{self.period_end}: {self.amount} {self.currency_id}"


class ContactPolicy(models.Model):
    """How long a client of a class may go without contact before the control page flags it."""

    client_class = models.CharField(_("client class"), max_length=1, unique=True)
    max_days_without_contact = models.PositiveSmallIntegerField(_("max days without contact"))

    class Meta:
        ordering = ["client_class"]
        verbose_name = _("contact policy")
        verbose_name_plural = _("contact policies")

    def __str__(self) -> str:
        return f"{self.client_class}: {self.max_days_without_contact}"
