from django.db import migrations


def forwards(apps, schema_editor):
    """Give the default roles their grants on conversations (existing grants stay as edited)."""
    from kramar.accounts.services import DEFAULT_ROLES

    Role = apps.get_model("accounts", "Role")
    RoleGrant = apps.get_model("accounts", "RoleGrant")
    for name, grants in DEFAULT_ROLES.items():
        role = Role.objects.filter(name=name).first()
        if role is None:
            continue
        for (entity, action), scope in grants.items():
            if entity == "conversation":
                RoleGrant.objects.get_or_create(role=role, entity=entity, action=action, defaults={"scope": int(scope)})


def backwards(apps, schema_editor):
    apps.get_model("accounts", "RoleGrant").objects.filter(entity="conversation").delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_rolegrant_conversation")]
    operations = [migrations.RunPython(forwards, backwards)]
