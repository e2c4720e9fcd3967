"""Global search through `global_search` (and the list filter through `contact_list`), on the database
DATABASE_URL points at: SQLite FTS5 by default, PostgreSQL pg_trgm when it says so."""

import pytest
from django.db import connection

from kramar.clients.models import Contact
from kramar.clients.selectors import company_list, contact_list
from kramar.clients.services import (
    company_create,
    company_update,
    contact_create,
    contact_delete,
    contact_update,
)
from kramar.clients.tests.factories import ContactFactory
from kramar.search.backends import CANDIDATE_CAP, parse_query
from kramar.search.indexing import bulk_load_begin, bulk_load_end
from kramar.search.selectors import global_search

pytestmark = pytest.mark.django_db


def _contact(actor, first, last, **extra):
    return contact_create(actor=actor, data={"first_name": first, "last_name": last, **extra}, allow_duplicates=True)


def _ids(hits, entity="contact"):
    return [h.id for h in hits if h.entity == entity]


@pytest.fixture
def olena(rep_a):
    return _contact(
        rep_a, "Олена", "Петренко",
        emails=[{"value": "Olena.Petrenko@Example.COM"}], phones=["067 123 45 67"], position="Бухгалтер",
    )


@pytest.fixture
def omega(rep_a):
    return company_create(
        actor=rep_a, data={"name": "ТОВ Омега Трейд", "code": "32855961", "emails": ["office@omega.ua"]},
        allow_duplicates=True,
    )


# --- what is found ---------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["петренко", "ПЕТРЕНКО", "Петренко", "пЕтРеНкО", "етрен", "Олена Петренко"])
def test_cyrillic_name_in_any_case(rep_a, olena, query):
    # given other contacts that must not match
    _contact(rep_a, "Іван", "Коваль")
    # when
    hits = global_search(actor=rep_a, query=query, limit=10)
    # then
    assert _ids(hits) == [olena.pk]
    assert hits[0].title == "Олена Петренко"


def test_latin_name_case_insensitive(rep_a):
    # given
    smith = _contact(rep_a, "John", "Smith")
    _contact(rep_a, "Jane", "Doe")
    # when / then
    assert _ids(global_search(actor=rep_a, query="SMITH", limit=10)) == [smith.pk]
    assert _ids(global_search(actor=rep_a, query="mIt", limit=10)) == [smith.pk]


@pytest.mark.parametrize(
    "query", ["067 123", "+38 067 123", "(067) 123-45", "+380671234567", "0671234567", "380 67 123 45 67", "4567"]
)
def test_phone_in_any_format(rep_a, olena, query):
    # given a contact with another number
    _contact(rep_a, "Іван", "Коваль", phones=["+380501112233"])
    # when
    hits = global_search(actor=rep_a, query=query, limit=10)
    # then
    assert _ids(hits) == [olena.pk]


@pytest.mark.parametrize("query", ["olena.petrenko", "PETRENKO@EXAMPLE", "@example.com", "example.com"])
def test_email_fragment(rep_a, olena, query):
    _contact(rep_a, "Іван", "Коваль", emails=["ivan@kovalenko.ua"])
    assert _ids(global_search(actor=rep_a, query=query, limit=10)) == [olena.pk]


def test_company_by_edrpou_and_name(rep_a, omega):
    # given
    company_create(actor=rep_a, data={"name": "Альфа", "code": "14360570"}, allow_duplicates=True)
    # when
    by_code = global_search(actor=rep_a, query="32855961", limit=10)
    by_name = global_search(actor=rep_a, query="омега", limit=10)
    # then
    assert [(h.entity, h.id, h.match) for h in by_code] == [("company", omega.pk, "exact")]
    assert "32855961" in by_code[0].subtitle
    assert [(h.entity, h.id) for h in by_name] == [("company", omega.pk)]


def test_contact_found_by_its_company_name_below_the_company(rep_a, omega):
    # given
    worker = _contact(rep_a, "Марія", "Шевчук", company_ids=[omega.pk])
    # when
    hits = global_search(actor=rep_a, query="Омега", limit=10)
    # then the company itself (its own name) ranks above the person who works there
    assert [(h.entity, h.id) for h in hits] == [("company", omega.pk), ("contact", worker.pk)]
    assert "ТОВ Омега Трейд" in hits[1].subtitle


@pytest.mark.parametrize("query", ["петренкл", "Петрнеко", "пертенко", "петренккко"])
def test_typo_in_surname_still_finds_it(rep_a, olena, query):
    # given
    _contact(rep_a, "Іван", "Коваль")
    # when
    hits = global_search(actor=rep_a, query=query, limit=10)
    # then
    assert _ids(hits)[:1] == [olena.pk]
    assert hits[0].match == "fuzzy"


def test_no_fuzzy_results_when_something_matches_literally(rep_a, olena):
    # given a name one letter away from another that matches exactly
    _contact(rep_a, "Петро", "Петренкл")
    # when
    hits = global_search(actor=rep_a, query="петренкл", limit=10)
    # then
    assert [h.match for h in hits] == ["exact"]


# --- ranking ---------------------------------------------------------------------------------------


def test_word_prefix_ranks_above_inner_substring(rep_a):
    # given "ков" inside two surnames and at the start of one
    inner1 = _contact(rep_a, "Андрій", "Бойков")
    inner2 = _contact(rep_a, "Анна", "Сірковська")
    prefix = _contact(rep_a, "Тарас", "Коваленко")
    exact = _contact(rep_a, "Ольга", "Ков")
    # when
    hits = global_search(actor=rep_a, query="ков", limit=10)
    # then
    assert _ids(hits)[:2] == [exact.pk, prefix.pk]
    assert set(_ids(hits)[2:]) == {inner1.pk, inner2.pk}
    assert [h.match for h in hits] == ["exact", "prefix", "substring", "substring"]
    assert hits[0].score > hits[1].score > hits[2].score


def test_prefix_matches_are_not_crowded_out_by_many_substring_matches(rep_a, team_a):
    # given more inner matches than the candidate cap, created first, and one prefix match last
    ContactFactory.create_batch(CANDIDATE_CAP + 20, last_name="Мельниченко", owner=rep_a, team=team_a)
    prefix = _contact(rep_a, "Ніна", "Ченко")
    # when
    hits = global_search(actor=rep_a, query="ченко", limit=5)
    # then
    assert _ids(hits)[0] == prefix.pk
    assert len(hits) == 5


# --- scopes ----------------------------------------------------------------------------------------


def test_rep_never_sees_another_teams_contacts(rep_a, rep_b, rep_a2, director, team_a):
    # given many matches in team A and one in team B
    ContactFactory.create_batch(30, last_name="Ткаченко", owner=rep_a, team=team_a)
    theirs = _contact(rep_b, "Богдан", "Ткаченко")
    # when
    hits_b = global_search(actor=rep_b, query="ткаченко", limit=20)
    hits_a2 = global_search(actor=rep_a2, query="ткаченко", limit=50)
    hits_dir = global_search(actor=director, query="ткаченко", limit=50)
    # then rep_b sees only their own, rep_a2 sees all of team A and not team B, the director sees all
    assert _ids(hits_b) == [theirs.pk]
    assert len(hits_a2) == 30 and theirs.pk not in _ids(hits_a2)
    assert len(hits_dir) == 31


def test_scope_is_applied_before_the_candidate_cap(rep_a, rep_b, team_a):
    # given more other-team matches than the cap, created before the rep's own
    ContactFactory.create_batch(CANDIDATE_CAP + 10, last_name="Бондаренко", owner=rep_a, team=team_a)
    mine = [_contact(rep_b, f"Ім'я{i}", "Бондаренко") for i in range(3)]
    # when
    hits = global_search(actor=rep_b, query="бондар", limit=20)
    # then
    assert sorted(_ids(hits)) == sorted(c.pk for c in mine)


def test_user_without_a_view_grant_finds_nothing(olena):
    # given
    from kramar.accounts.tests.factories import UserFactory

    nobody = UserFactory(username="nobody")
    # when / then
    assert global_search(actor=nobody, query="петренко", limit=10) == []
    assert global_search(actor=nobody, query="петренкл", limit=10) == []


def test_typo_search_respects_scope(rep_a, rep_b, olena):
    assert global_search(actor=rep_b, query="петренкл", limit=10) == []


def test_merged_away_records_are_not_found(rep_a, olena):
    # given
    Contact.objects.filter(pk=olena.pk).update(merged_into=_contact(rep_a, "Олена", "Іванова"))
    # when / then
    assert _ids(global_search(actor=rep_a, query="петренко", limit=10)) == []


# --- the index follows every write -----------------------------------------------------------------


def test_update_and_delete_keep_the_index_right(rep_a, lead_a, olena):
    # when the surname changes
    contact_update(actor=rep_a, contact=olena, data={"last_name": "Гончаренко"})
    # then the new name is found and the old is not
    assert _ids(global_search(actor=rep_a, query="гончаренко", limit=10)) == [olena.pk]
    assert global_search(actor=rep_a, query="петренко", limit=10) == []
    # when it is deleted
    contact_delete(actor=lead_a, contact=Contact.objects.get(pk=olena.pk))
    # then
    assert global_search(actor=rep_a, query="гончаренко", limit=10) == []


def test_company_rename_is_searchable_for_company_and_its_contacts(rep_a, omega):
    # given
    worker = _contact(rep_a, "Марія", "Шевчук", company_ids=[omega.pk])
    # when
    company_update(actor=rep_a, company=omega, data={"name": "Сигма Груп"})
    # then
    hits = global_search(actor=rep_a, query="сигма", limit=10)
    assert [(h.entity, h.id) for h in hits] == [("company", omega.pk), ("contact", worker.pk)]
    assert global_search(actor=rep_a, query="омега", limit=10) == []


@pytest.mark.skipif(connection.vendor != "sqlite", reason="FTS5 index integrity is an SQLite matter")
def test_fts_index_passes_integrity_check_after_writes(rep_a, lead_a, olena):
    # given writes through every path: insert, update, delete
    other = _contact(rep_a, "Іван", "Коваль")
    contact_update(actor=rep_a, contact=olena, data={"last_name": "Гончаренко"})
    contact_delete(actor=lead_a, contact=other)
    # when / then ('integrity-check' raises on a mismatch between index and content)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO search_contact_fts(search_contact_fts, rank) VALUES ('integrity-check', 1)")
        cursor.execute("SELECT count(*) FROM search_contact_fts WHERE search_contact_fts MATCH '\"гончаренко\"'")
        assert cursor.fetchone()[0] == 1


def test_bulk_load_leaves_every_row_searchable(rep_a, team_a):
    # given rows written while index maintenance is suspended, bypassing the services
    bulk_load_begin()
    try:
        Contact.objects.bulk_create(
            [
                Contact(first_name="Бульк", last_name=f"Завантаженко{i}", owner=rep_a, team=team_a,
                        search_text=f"бульк завантаженко{i} 38050000{i:04d} 050000{i:04d}")
                for i in range(50)
            ]
        )
    finally:
        bulk_load_end()
    # when / then
    assert len(global_search(actor=rep_a, query="завантаженко", limit=100)) == 50
    assert len(global_search(actor=rep_a, query="завантаженко17", limit=100)) == 1
    assert len(global_search(actor=rep_a, query="050 000 0042", limit=100)) == 1
    # and writes after the load are indexed again
    later = _contact(rep_a, "Пізній", "Запис")
    assert _ids(global_search(actor=rep_a, query="запис", limit=10)) == [later.pk]


# --- short and hostile queries ---------------------------------------------------------------------


def test_one_and_two_character_queries_match_word_starts(rep_a, olena):
    # given
    kovalenko = _contact(rep_a, "Іван", "Коваленко")
    # when
    first_word = global_search(actor=rep_a, query="О", limit=10)
    two = global_search(actor=rep_a, query="пе", limit=10)
    two_first_word = global_search(actor=rep_a, query="ів", limit=10)
    inner = global_search(actor=rep_a, query="ле", limit=10)  # only inside words: not a match
    # then
    assert olena.pk in _ids(first_word) and kovalenko.pk not in _ids(first_word)
    assert _ids(two) == [olena.pk]
    assert _ids(two_first_word) == [kovalenko.pk]
    assert inner == []


@pytest.mark.parametrize(
    "query",
    ['"', '""', "'", "%", "_", "%%", "\\", "*", 'NEAR(a b)', "NEAR(", "a AND", "OR", "^",
     "(", ")", "-", ":", "{a b}", "col:val", "\x00", "'; DROP TABLE clients_contact; --", "   ", "",
     "😀", "ab%", "o'brien", "ж" * 300, "1", "12", "+", "()", "<%"],
)
def test_garbage_never_raises(rep_a, olena, query):
    # when
    hits = global_search(actor=rep_a, query=query, limit=10)
    listed = list(contact_list(actor=rep_a, filters={"q": query}))
    # then nothing matches by accident of query syntax
    assert olena.pk not in _ids(hits) or query in {"1", "12"}  # digits of her phone
    assert len(listed) <= 1


@pytest.mark.parametrize("query", ["петр*", '"петренко"', "(петренко)", "«Петренко»,"])
def test_wrapping_quotes_and_star_are_ignored(rep_a, olena, query):
    assert _ids(global_search(actor=rep_a, query=query, limit=10)) == [olena.pk]


def test_like_wildcards_are_literal(rep_a, olena):
    # given
    percent = _contact(rep_a, "Сто", "Відсотків", position="100%_знижка")
    # when / then
    assert _ids(global_search(actor=rep_a, query="100%_з", limit=10)) == [percent.pk]
    assert _ids(global_search(actor=rep_a, query="%", limit=10)) == []
    assert [c.pk for c in contact_list(actor=rep_a, filters={"q": "0%_"})] == [percent.pk]


def test_empty_query_and_zero_limit(rep_a, olena):
    assert global_search(actor=rep_a, query="", limit=10) == []
    assert global_search(actor=rep_a, query="петренко", limit=0) == []


def test_parse_query_turns_phone_input_into_digits():
    assert parse_query("+38 (067) 123-45") == ("3806712345",)
    assert parse_query("067.123") == ("067123",)
    assert parse_query("Олена  ПЕТРЕНКО олена") == ("олена", "петренко")
    assert parse_query("ТОВ 12345678") == ("тов", "12345678")


# --- the list filter -------------------------------------------------------------------------------


def test_list_filter_uses_the_search_and_the_scope(rep_a, rep_b, team_a, olena, omega):
    # given more matches in team A than the old id cap, and one in team B
    ContactFactory.create_batch(5, last_name="Петренко", owner=rep_a, team=team_a)
    theirs = _contact(rep_b, "Ігор", "Петренко")
    # when
    mine = list(contact_list(actor=rep_b, filters={"q": "ПЕТРЕНКО"}))
    team = list(contact_list(actor=rep_a, filters={"q": "петренко"}))
    phone = list(contact_list(actor=rep_a, filters={"q": "067 123"}))
    companies = list(company_list(actor=rep_a, filters={"q": "32855961"}))
    # then
    assert [c.pk for c in mine] == [theirs.pk]
    assert len(team) == 6 and theirs.pk not in {c.pk for c in team}
    assert [c.pk for c in phone] == [olena.pk]
    assert [c.pk for c in companies] == [omega.pk]


def test_hits_carry_title_subtitle_and_few_queries(rep_a, olena, omega, django_assert_max_num_queries):
    # given
    _contact(rep_a, "Марія", "Омельченко", company_ids=[omega.pk], emails=["m@omega.ua"])
    # when
    with django_assert_max_num_queries(12):
        hits = global_search(actor=rep_a, query="оме", limit=10)
    # then
    assert {h.entity for h in hits} == {"contact", "company"}
    person = next(h for h in hits if h.entity == "contact")
    assert person.title == "Марія Омельченко" and "m@omega.ua" in person.subtitle


# --- the index objects -----------------------------------------------------------------------------


def test_search_index_objects_exist():
    # when
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'search_%%'")
            names = {row[0] for row in cursor.fetchall()}
            expected = {"search_contact_trgm", "search_company_trgm", "search_contact_prefix", "search_company_prefix"}
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE name LIKE 'search_%'")
            names = {row[0] for row in cursor.fetchall()}
            expected = {
                "search_contact_fts", "search_company_fts", "search_contact_prefix", "search_company_prefix",
                "search_contact_fts_ai", "search_contact_fts_ad", "search_contact_fts_au", "search_company_fts_au",
            }
    # then
    assert expected <= names


@pytest.mark.skipif(connection.vendor != "sqlite", reason="triggers are an SQLite matter")
def test_lost_triggers_are_restored_and_the_index_rebuilt(rep_a):
    # given a client table rebuilt by a later migration: its triggers are gone, a write goes unindexed
    from kramar.search.ddl import TABLES, sqlite_drop_triggers, sqlite_ensure

    with connection.cursor() as cursor:
        for t in TABLES:
            for sql in sqlite_drop_triggers(t):
                cursor.execute(sql)
    missed = _contact(rep_a, "Втрачений", "Тригеренко")
    assert global_search(actor=rep_a, query="тригеренко", limit=10) == []
    # when (post_migrate runs this)
    repaired = sqlite_ensure(connection)
    # then
    assert repaired == ["clients_contact", "clients_company"]
    assert _ids(global_search(actor=rep_a, query="тригеренко", limit=10)) == [missed.pk]
    later = _contact(rep_a, "Новий", "Тригеренко")
    assert sorted(_ids(global_search(actor=rep_a, query="тригеренко", limit=10))) == sorted([missed.pk, later.pk])
