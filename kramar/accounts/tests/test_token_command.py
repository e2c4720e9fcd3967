"""`kramar token`: creates, lists and revokes tokens; its messages follow the active language."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from kramar.accounts.models import ApiToken
from kramar.accounts.services import api_token_create

pytestmark = pytest.mark.django_db


def _run(*args, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    call_command("token", *args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def test_create_prints_only_the_token_on_stdout_and_the_note_in_english(rep_a):
    # when
    with translation.override("en"):
        out, err = _run("create", user="rep_a", name="laptop")

    # then
    token = ApiToken.objects.get(user=rep_a)
    assert out.strip().startswith("kr_") and len(out.strip().splitlines()) == 1
    assert f"Token {token.pk} (laptop) for rep_a. It is shown once; keep it safe." in err


def test_messages_are_ukrainian_when_ukrainian_is_active(rep_a):
    # given a revoked token and an active one
    old, _plain = api_token_create(user=rep_a, name="old")
    with translation.override("uk"):
        _run("revoke", str(old.pk), user="rep_a")

        # when the tokens are created, listed and a wrong one revoked
        out, err = _run("create", user="rep_a", name="laptop")
        listed, _err = _run("list", user="rep_a")
        with pytest.raises(CommandError) as missing:
            _run("revoke", str(old.pk), user="rep_a")
        with pytest.raises(CommandError) as nobody:
            _run("list", user="nobody")

    # then every message is Ukrainian
    new = ApiToken.objects.get(user=rep_a, name="laptop")
    assert f"Токен {new.pk} (laptop) для rep_a. Його показано лише один раз" in err
    assert "відкликано" in listed and "активний" in listed and "востаннє використано: ніколи" in listed
    assert str(missing.value) == "Такого активного токена немає."
    assert str(nobody.value) == "Користувача з іменем 'nobody' немає"
    assert "revoked" not in listed and "never" not in listed


def test_revoke_without_an_id_is_refused(rep_a):
    with translation.override("en"), pytest.raises(CommandError, match="Give the token id to revoke"):
        _run("revoke", user="rep_a")
