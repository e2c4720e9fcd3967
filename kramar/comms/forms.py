"""Input shapes of the inbox pages (they parse and check shape; the services decide the rules and report them with
ValidationFailed, which `add_service_errors` puts on the fields)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from kramar.comms.choices import ChannelKind, ConversationStatus, Presence
from kramar.comms.models import Channel

STATUS_CHOICES = [
    ("", _("Not closed")),
    *ConversationStatus.choices,
    ("any", pgettext_lazy("conversation status filter", "Any")),
]


class ServiceErrorsMixin:
    """Puts a ValidationFailed's {field: [messages]} on the matching fields (else on the form)."""

    FIELD_ALIASES: dict[str, str] = {"contact": "client", "company": "client"}

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        for key, messages in errors.items():
            field = self.FIELD_ALIASES.get(key, key)
            for message in messages:
                self.add_error(field if field in self.fields else None, message)  # type: ignore[attr-defined]


class InboxFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=STATUS_CHOICES, required=False)
    queue = forms.TypedChoiceField(label=_("Queue"), coerce=int, required=False, empty_value=None)
    q = forms.CharField(label=_("Search"), required=False, max_length=200,
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Subject or sender")}))

    def __init__(self, *args, queues=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["queue"].choices = [("", _("Every queue")), *((q.pk, q.name) for q in queues)]

    def filters(self) -> dict:
        if not self.is_valid():
            return {"status": "", "queue_id": None, "q": ""}
        cd = self.cleaned_data
        return {"status": cd.get("status") or "", "queue_id": cd.get("queue"), "q": (cd.get("q") or "").strip()}


class ReplyForm(ServiceErrorsMixin, forms.Form):
    body = forms.CharField(label=_("Reply"), widget=forms.Textarea(attrs={"rows": 6}), max_length=100_000)
    cc = forms.CharField(label=_("Cc"), required=False, max_length=2000,
                         help_text=_("E-mail addresses, separated by commas."))


class NoteForm(ServiceErrorsMixin, forms.Form):
    body = forms.CharField(label=_("Internal note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=100_000,
                           help_text=_("Only colleagues see it. Mention someone with @username."))


class TransferForm(forms.Form):
    """One target: "user:<id>" or "queue:<id>"."""

    target = forms.ChoiceField(label=_("Transfer to"),
                               widget=forms.Select(attrs={"aria-label": _("Transfer to"), "required": True}))

    def __init__(self, *args, agents=(), queues=(), **kwargs):
        kwargs.setdefault("auto_id", False)  # rendered once per row on the supervisor page
        super().__init__(*args, **kwargs)
        self.users = {u.pk: u for u in agents}
        self.queues = {q.pk: q for q in queues}
        self.fields["target"].choices = [
            ("", _("Choose an agent or a queue…")),
            (_("Agents"), [(f"user:{u.pk}", u.get_full_name() or u.username) for u in agents]),
            (_("Queues"), [(f"queue:{q.pk}", q.name) for q in queues]),
        ]

    def target_kwargs(self) -> dict:
        kind, _sep, pk = self.cleaned_data["target"].partition(":")
        if kind == "user":
            return {"to_user": self.users[int(pk)]}
        return {"to_queue": self.queues[int(pk)]}


class PresenceForm(forms.Form):
    presence = forms.ChoiceField(choices=Presence.choices)


class LetterForm(ServiceErrorsMixin, forms.Form):
    channel = forms.ModelChoiceField(label=_("Channel"), queryset=Channel.objects.none(), empty_label=None)
    kind = forms.ChoiceField(label=_("What came in"), choices=[("letter", _("A paper letter")),
                                                               ("visit", _("A walk-in visit"))])
    subject = forms.CharField(label=_("Subject"), max_length=255)
    body = forms.CharField(label=_("Text or summary"), required=False, widget=forms.Textarea(attrs={"rows": 5}),
                           max_length=100_000)
    received_at = forms.DateTimeField(
        label=_("Received"), required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        help_text=_("Empty: now."),
    )
    # "contact:<id>" or "company:<id>", chosen in the picker (the view resolves it within the user's scope)
    client = forms.RegexField(label=_("From"), regex=r"^(contact|company):\d+$", required=False,
                              error_messages={"invalid": _("Choose a contact or a company from the list.")})
    upload = forms.FileField(label=_("Scan or photo"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.filter(kind=ChannelKind.LETTER, active=True).order_by("name")
