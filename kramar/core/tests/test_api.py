import pytest

from kramar.core.models import AuditEntry, CustomFieldDefinition, Tag
from kramar.core.tests.api_client import ApiClient, problem_fields
from kramar.core.tests.factories import CustomFieldDefinitionFactory, TagFactory

pytestmark = pytest.mark.django_db


def test_tags_list_paginates_and_create_refuses_duplicates(rep_a):
    # given
    for name in ("b", "a", "c"):
        TagFactory(name=name)
    api = ApiClient(rep_a)
    # when
    first = api.get("/tags/", {"limit": 2}).json()
    second = api.get("/tags/", {"limit": 2, "cursor": first["next_cursor"]}).json()
    created = api.post("/tags/", {"name": "vip", "color": "#112233"})
    again = api.post("/tags/", {"name": "vip"})
    bad = api.post("/tags/", {"name": "x", "color": "red"})
    # then
    assert [t["name"] for t in first["items"] + second["items"]] == ["a", "b", "c"]
    assert second["next_cursor"] is None
    assert created.status_code == 201 and created.json()["color"] == "#112233"
    assert again.status_code == 409 and again.json()["code"] == "tag_exists"
    assert bad.status_code == 422 and problem_fields(bad) == {"color"}
    assert Tag.objects.filter(name="vip").count() == 1


def test_custom_fields_readable_by_all_defined_only_by_admins(rep_a, director, admin_user):
    # given
    CustomFieldDefinitionFactory(entity="contact", key="budget")
    data = {
        "entity": "company",
        "key": "segment",
        "label": "Segment",
        "field_type": "choice",
        "choices": ["A", "B"],
    }
    # when
    listed = ApiClient(rep_a).get("/custom-fields/", {"entity": "contact"}).json()["items"]
    by_rep = ApiClient(rep_a).post("/custom-fields/", data)
    by_director = ApiClient(director).post("/custom-fields/", data)
    duplicate = ApiClient(admin_user).post("/custom-fields/", data)
    no_choices = ApiClient(admin_user).post("/custom-fields/", {**data, "key": "other", "choices": []})
    # then
    assert [f["key"] for f in listed] == ["budget"]
    assert by_rep.status_code == 403 and problem_fields(by_rep) == set()
    assert by_director.status_code == 201, by_director.content
    assert duplicate.status_code == 422 and problem_fields(duplicate) == {"key"}
    assert no_choices.status_code == 422 and problem_fields(no_choices) == {"choices"}
    field_id = by_director.json()["id"]
    patched = ApiClient(admin_user).patch(
        f"/custom-fields/{field_id}", {"label": "Сегмент", "choices": ["A", "B", "C"]}
    )
    assert patched.status_code == 200 and patched.json()["choices"] == ["A", "B", "C"]
    assert ApiClient(rep_a).patch(f"/custom-fields/{field_id}", {"label": "x"}).status_code == 403
    assert ApiClient(admin_user).patch("/custom-fields/999999", {"label": "x"}).status_code == 404
    assert CustomFieldDefinition.objects.get(pk=field_id).label == "Сегмент"
    assert AuditEntry.objects.filter(entity="custom_field", object_id=field_id, source="api").count() == 2


def test_whole_audit_log_is_for_superusers_only(rep_a, admin_user):
    ApiClient(rep_a).post("/contacts/", {"last_name": "Audit"})
    assert ApiClient(rep_a).get("/audit/").status_code == 403
    items = ApiClient(admin_user).get("/audit/", {"entity": "contact"}).json()["items"]
    assert [(e["action"], e["source"], e["actor"]["id"]) for e in items] == [("create", "api", rep_a.pk)]
