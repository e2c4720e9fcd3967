"""Sign-in, language switch and personal API tokens, through HTTP."""

import pytest
from django.urls import reverse

from kramar.accounts.models import ApiToken
from kramar.accounts.services import api_token_authenticate, api_token_create

pytestmark = pytest.mark.django_db


def test_login_lands_on_my_day_in_the_users_language(client, rep_a):
    # given
    rep_a.language = "uk"
    rep_a.save(update_fields=["language"])
    # when
    response = client.post(reverse("accounts:login"), {"username": "rep_a", "password": "pass"})
    # then
    assert response.status_code == 302 and response["Location"] == reverse("desk:my-day")
    assert client.session["kramar_language"] == "uk"
    page = client.get(reverse("desk:my-day"))
    assert page.headers["Content-Language"] == "uk"


def test_wrong_password_shows_the_form_again(client, rep_a):
    # when
    response = client.post(reverse("accounts:login"), {"username": "rep_a", "password": "nope"})
    # then
    assert response.status_code == 200 and response.context["form"].errors
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post(client, rep_a):
    # given
    client.force_login(rep_a)
    # when
    response = client.post(reverse("accounts:logout"))
    # then
    assert response.status_code == 302 and "_auth_user_id" not in client.session


def test_profile_renders(client, rep_a):
    # given
    client.force_login(rep_a)
    # when
    response = client.get(reverse("accounts:profile"))
    # then
    assert response.status_code == 200 and b"Personal API tokens" in response.content


def test_language_switch_changes_the_users_language(client, rep_a):
    # given
    client.force_login(rep_a)
    # when
    response = client.post(
        reverse("accounts:language"), {"language": "uk", "next": reverse("clients:contact-list")}
    )
    # then
    rep_a.refresh_from_db()
    assert rep_a.language == "uk"
    assert response.status_code == 302 and response["Location"] == reverse("clients:contact-list")
    assert client.get(reverse("accounts:profile")).headers["Content-Language"] == "uk"


def test_language_switch_refuses_unknown_languages_and_foreign_redirects(client, rep_a):
    # given
    client.force_login(rep_a)
    # when
    bad = client.post(reverse("accounts:language"), {"language": "xx"})
    offsite = client.post(reverse("accounts:language"), {"language": "en", "next": "https://evil.example/"})
    # then
    rep_a.refresh_from_db()
    assert rep_a.language == "en"
    assert bad["Location"] == reverse("accounts:profile") and offsite["Location"] == reverse(
        "accounts:profile"
    )


def test_token_is_shown_once_and_works(client, rep_a):
    # given
    client.force_login(rep_a)
    # when
    response = client.post(reverse("accounts:profile"), {"name": "1C exchange"})
    # then
    plain = response.context["plain_token"]
    assert plain and plain in response.content.decode()
    assert api_token_authenticate(plain) == rep_a
    assert plain not in client.get(reverse("accounts:profile")).content.decode()
    assert "1C exchange" in client.get(reverse("accounts:profile")).content.decode()


def test_revoke_only_own_tokens(client, rep_a, rep_b):
    # given
    mine, mine_plain = api_token_create(user=rep_a, name="mine")
    theirs, theirs_plain = api_token_create(user=rep_b, name="theirs")
    client.force_login(rep_a)
    # when
    client.post(reverse("accounts:token-revoke"), {"token_id": mine.pk})
    client.post(reverse("accounts:token-revoke"), {"token_id": theirs.pk})
    # then
    assert api_token_authenticate(mine_plain) is None
    assert api_token_authenticate(theirs_plain) == rep_b
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None


@pytest.mark.parametrize(
    "model",
    [
        "accounts/user",
        "accounts/team",
        "accounts/role",
        "accounts/apitoken",
        "core/tag",
        "core/customfielddefinition",
        "core/auditentry",
        "clients/mergerecord",
    ],
)
def test_settings_pages_in_the_admin_render(client, admin_user, model):
    # given
    client.force_login(admin_user)
    # when
    response = client.get(f"/admin/{model}/")
    # then
    assert response.status_code == 200


def test_role_page_edits_its_grants_and_the_audit_log_is_read_only(client, admin_user, rep_a):
    # given
    from kramar.accounts.models import Role
    from kramar.clients.services import contact_create

    contact_create(actor=rep_a, data={"last_name": "Петренко"})
    client.force_login(admin_user)
    role = Role.objects.get(name="Sales rep")
    # when
    role_page = client.get(f"/admin/accounts/role/{role.pk}/change/")
    audit_add = client.get("/admin/core/auditentry/add/")
    audit_list = client.get("/admin/core/auditentry/")
    # then
    assert role_page.status_code == 200 and b"grants-TOTAL_FORMS" in role_page.content
    assert audit_add.status_code == 403
    assert "Петренко" in audit_list.content.decode()


def test_admin_revokes_tokens(client, admin_user, rep_a):
    # given
    token, plain = api_token_create(user=rep_a, name="script")
    client.force_login(admin_user)
    # when
    client.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    # then
    assert api_token_authenticate(plain) is None
