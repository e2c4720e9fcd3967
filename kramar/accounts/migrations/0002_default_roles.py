from django.db import migrations


def forwards(apps, schema_editor):
    from kramar.accounts.services import DEFAULT_ROLES

    Role = apps.get_model("accounts", "Role")
    RoleGrant = apps.get_model("accounts", "RoleGrant")
    for name, grants in DEFAULT_ROLES.items():
        role, _ = Role.objects.get_or_create(name=name)
        for (entity, action), scope in grants.items():
            RoleGrant.objects.get_or_create(role=role, entity=entity, action=action, defaults={"scope": int(scope)})


def backwards(apps, schema_editor):
    from kramar.accounts.services import DEFAULT_ROLES

    apps.get_model("accounts", "Role").objects.filter(name__in=list(DEFAULT_ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
