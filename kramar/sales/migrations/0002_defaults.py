from django.db import migrations

CURRENCIES = [
    ("UAH", "Ukrainian hryvnia", "₴"),
    ("USD", "US dollar", "$"),
    ("EUR", "Euro", "€"),
    ("PLN", "Polish złoty", "zł"),
    ("GBP", "Pound sterling", "£"),
]

PIPELINES = {
    "New business": [
        # name, kind, probability, rotting days, required fields
        ("Qualification", "open", 10, 14, []),
        ("Needs analysis", "open", 25, 21, ["company"]),
        ("Proposal", "open", 50, 21, ["amount", "expected_close_date"]),
        ("Negotiation", "open", 75, 30, ["amount", "expected_close_date", "contacts"]),
        ("Won", "won", 100, None, ["amount"]),
        ("Lost", "lost", 0, None, []),
    ],
    "Renewals": [
        ("Renewal due", "open", 60, 30, []),
        ("Offer sent", "open", 80, 21, ["amount", "expected_close_date"]),
        ("Renewed", "won", 100, None, ["amount"]),
        ("Churned", "lost", 0, None, []),
    ],
}

LOST_REASONS = ["Price", "Chose a competitor", "No budget", "No decision", "Timing", "No response", "Other"]
POLICIES = {"A": 14, "B": 30, "C": 90}


def forwards(apps, schema_editor):
    Currency = apps.get_model("sales", "Currency")
    Pipeline = apps.get_model("sales", "Pipeline")
    Stage = apps.get_model("sales", "Stage")
    LostReason = apps.get_model("sales", "LostReason")
    ContactPolicy = apps.get_model("sales", "ContactPolicy")
    for code, name, symbol in CURRENCIES:
        Currency.objects.get_or_create(code=code, defaults={"name": name, "symbol": symbol})
    from django.conf import settings

    Currency.objects.get_or_create(code=settings.KRAMAR_BASE_CURRENCY, defaults={"name": settings.KRAMAR_BASE_CURRENCY})
    if not Pipeline.objects.exists():
        for p, (pipeline_name, stages) in enumerate(PIPELINES.items()):
            pipeline = Pipeline.objects.create(name=pipeline_name, position=p, is_default=p == 0)
            for i, (name, kind, probability, rotting, required) in enumerate(stages):
                Stage.objects.create(
                    pipeline=pipeline, name=name, position=i, kind=kind, probability=probability,
                    rotting_days=rotting, required_fields=required,
                )
    for i, name in enumerate(LOST_REASONS):
        LostReason.objects.get_or_create(name=name, defaults={"position": i})
    for cls, days in POLICIES.items():
        ContactPolicy.objects.get_or_create(client_class=cls, defaults={"max_days_without_contact": days})


def backwards(apps, schema_editor):
    pass  # the defaults are ordinary data once created; leave them


class Migration(migrations.Migration):
    dependencies = [("sales", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
