"""The Ukrainian catalogue is complete and compiled, and a user who chose Ukrainian gets Ukrainian pages.

The catalogue checks reuse scripts/i18n_check.py (which also compares the catalogue with the sources
through makemessages; run it after adding UI strings)."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

ROOT = Path(__file__).resolve().parents[3]
PO = ROOT / "kramar" / "locale" / "uk" / "LC_MESSAGES" / "django.po"


def _checker():
    name = "kramar_scripts_i18n_check"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "i18n_check.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


i18n_check = _checker()


# ------------------------------------------------------------------------------------- the catalogue


def test_catalogue_is_in_the_locale_path_django_reads():
    # given the configured locale folder
    locale_dirs = [Path(p).resolve() for p in settings.LOCALE_PATHS]

    # then the catalogue lives there, with its compiled twin
    assert PO.parent.parent.parent.resolve() in locale_dirs
    assert PO.exists()
    assert PO.with_suffix(".mo").exists()


def test_every_entry_is_translated_and_none_is_fuzzy():
    # when the catalogue is read
    problems = i18n_check.catalogue_problems(PO)

    # then nothing is left for a translator (and Plural-Forms has Ukrainian's three forms)
    assert problems == []
    assert len(i18n_check.parse_po(PO)[1]) > 100


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext (msgfmt) is not installed")
def test_msgfmt_check_accepts_the_catalogue():
    assert i18n_check.msgfmt_problems(PO) == []


def test_compiled_catalogue_holds_exactly_what_the_po_says():
    # when the .mo is compared entry by entry with the .po
    problems = i18n_check.compiled_problems(PO)

    # then it is up to date (otherwise: manage.py compilemessages -l uk)
    assert problems == []


def test_the_checks_notice_untranslated_fuzzy_and_stale_entries(tmp_path):
    # given a catalogue with one good, one empty, one fuzzy, one broken placeholder and one
    # half-translated plural entry
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: uk\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n'
        f'"Plural-Forms: {i18n_check.PLURAL_FORMS}\\n"\n\n'
        '#: a.py:1\nmsgid "Good"\nmsgstr "Добре"\n\n'
        '#: a.py:2\nmsgid "Empty"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "Fuzzy"\nmsgstr "Нечітко"\n\n'
        'msgid "Hello, %(name)s"\nmsgstr "Вітаємо, %(nmae)s"\n\n'
        'msgctxt "menu"\nmsgid "%(n)d file"\nmsgid_plural "%(n)d files"\n'
        'msgstr[0] "%(n)d файл"\nmsgstr[1] "%(n)d файли"\nmsgstr[2] ""\n\n'
        '#~ msgid "Gone"\n#~ msgstr "Зникло"\n',
        encoding="utf-8",
    )

    # when it is checked, and compared with a compiled catalogue of another .po
    problems = i18n_check.catalogue_problems(po)
    other = tmp_path / "other.po"
    other.write_text(po.read_text(encoding="utf-8").replace('"Добре"', '"Гаразд"'), encoding="utf-8")
    if shutil.which("msgfmt"):
        subprocess.run(["msgfmt", "-o", str(po.with_suffix(".mo")), str(other)], check=True)
        stale = i18n_check.compiled_problems(po)
    else:
        stale = None  # no msgfmt to build the stale .mo with

    # then each bad entry is named, and the good one isn't
    text = "\n".join(problems)
    assert "untranslated: 'Empty'" in text
    assert "fuzzy: 'Fuzzy'" in text
    assert "untranslated: '[menu] %(n)d file'" in text
    assert "obsolete: 'Gone'" in text
    assert "placeholders differ (['%(nmae)s']): 'Hello, %(name)s'" in text
    assert "'Good'" not in text
    if stale is not None:
        assert any("Good" in line for line in stale)


def test_ukrainian_plural_forms_are_used():
    # given the three Ukrainian forms of the bulk-action message "%(n)d changed" (clients/views.py);
    # called through a plain name so that makemessages doesn't collect it from this test
    plural = translation.ngettext
    message = "%(n)d changed"

    # when Django translates it for different counts
    with translation.override("uk"):
        forms = {n: plural(message, message, n) % {"n": n} for n in (1, 3, 5, 11, 21, 22)}

    # then Django picks them with the catalogue's own Plural-Forms rule
    assert forms[1] == "змінено 1 запис"
    assert forms[21] == "змінено 21 запис"
    assert forms[3] == "змінено 3 записи"
    assert forms[22] == "змінено 22 записи"
    assert forms[5] == "змінено 5 записів"
    assert forms[11] == "змінено 11 записів"


# -------------------------------------------------------------------------------------- pages


def test_login_page_follows_the_language_cookie(client):
    # given an anonymous visitor whose language cookie says Ukrainian
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "uk"

    # when the login page is opened
    response = client.get(reverse("accounts:login"))

    # then it is in Ukrainian
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="uk">' in html
    assert "Вхід до Kramar" in html
    assert "Sign in to Kramar" not in html


def test_login_page_is_english_by_default(client):
    response = client.get(reverse("accounts:login"))

    html = response.content.decode()
    assert "Sign in to Kramar" in html
    assert "Вхід до Kramar" not in html


@pytest.mark.parametrize(
    ("language", "expected", "unexpected"),
    [("uk", "Контакти", ">Contacts<"), ("en", ">Contacts<", "Контакти")],
)
def test_signed_in_user_sees_the_contacts_list_in_their_language(
    client, rep_a, language, expected, unexpected
):
    # given a user who chose a language
    rep_a.language = language
    rep_a.save(update_fields=["language"])

    # when they sign in and open the contacts list
    client.post(reverse("accounts:login"), {"username": "rep_a", "password": "pass"})
    response = client.get(reverse("clients:contact-list"))

    # then the page is in that language
    html = response.content.decode()
    assert response.status_code == 200
    assert expected in html
    assert unexpected not in html


def test_switching_to_ukrainian_in_the_profile_translates_the_next_page(client, rep_a):
    # given an English-speaking user who is signed in
    client.post(reverse("accounts:login"), {"username": "rep_a", "password": "pass"})
    assert ">Companies<" in client.get(reverse("clients:company-list")).content.decode()

    # when they switch to Ukrainian
    client.post(reverse("accounts:language"), {"language": "uk", "next": reverse("clients:company-list")})
    response = client.get(reverse("clients:company-list"))

    # then the next page is Ukrainian
    html = response.content.decode()
    assert "Компанії" in html
    assert ">Companies<" not in html
    rep_a.refresh_from_db()
    assert rep_a.language == "uk"


def test_translation_functions_keep_names_makemessages_extracts():
    # gettext_lazy imported as another name hides its strings from the catalogue without any error
    assert i18n_check.alias_problems() == []


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext (xgettext) is not installed")
def test_every_translatable_string_of_the_sources_is_in_the_catalogue():
    # makemessages run into a temporary copy finds nothing the catalogue lacks or holds in excess
    assert i18n_check.source_problems() == []
