"""The OpenAPI document is served, the docs page works offline, and real responses match the schema."""

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from kramar.clients.tests.factories import CompanyFactory, ContactPointFactory
from kramar.core.tests.api_client import ApiClient
from kramar.core.tests.factories import TagFactory
from kramar.history.tests.factories import AttachmentFactory, InteractionFactory

pytestmark = pytest.mark.django_db
STATIC_DIR = Path(__file__).resolve().parents[2] / "static"


def _resolve(schema: dict, doc: dict) -> dict:
    while "$ref" in schema:
        node = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _check(value, schema: dict, doc: dict, path: str) -> list[str]:
    """Problems of `value` against `schema`: undeclared or missing properties, wrong types."""
    schema = _resolve(schema, doc)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            attempts = [_check(value, option, doc, path) for option in schema[key]]
            return [] if any(not a for a in attempts) else min(attempts, key=len)
    if "allOf" in schema:
        return [p for option in schema["allOf"] for p in _check(value, option, doc, path)]
    kind = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind in types:
        ok = isinstance(value, types[kind])
    else:
        ok = True
    if not ok:
        return [f"{path}: {value!r} is not {kind}"]
    problems: list[str] = []
    if kind == "object" and "properties" in schema:
        declared = schema["properties"]
        problems += [f"{path}.{k}: not declared" for k in value if k not in declared]
        problems += [f"{path}.{k}: missing" for k in schema.get("required", []) if k not in value]
        for k, v in value.items():
            if k in declared:
                problems += _check(v, declared[k], doc, f"{path}.{k}")
    if kind == "array" and "items" in schema:
        for i, item in enumerate(value):
            problems += _check(item, schema["items"], doc, f"{path}[{i}]")
    return problems


def _response_schema(doc: dict, path: str, method: str, status: int) -> dict:
    content = doc["paths"][path][method]["responses"][str(status)]["content"]
    return next(iter(content.values()))["schema"]


@pytest.fixture
def doc():
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_openapi_document_lists_the_endpoints(doc):
    paths = set(doc["paths"])
    assert {
        "/api/v1/contacts/",
        "/api/v1/contacts/{contact_id}",
        "/api/v1/contacts/bulk/tag",
        "/api/v1/companies/",
        "/api/v1/interactions/",
        "/api/v1/interactions/{interaction_id}/attachments",
        "/api/v1/tags/",
        "/api/v1/custom-fields/",
        "/api/v1/users/",
        "/api/v1/teams/",
        "/api/v1/search",
        "/api/v1/tokens/",
    } <= paths
    schemes = doc["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())


def test_real_responses_match_the_declared_schemas(doc, rep_a, team_a):
    # given
    api = ApiClient(rep_a)
    company = CompanyFactory(owner=rep_a, team=team_a)
    contact_id = api.post(
        "/contacts/",
        {
            "first_name": "Ірина",
            "last_name": "Бондар",
            "emails": [{"value": "iryna@example.com"}],
            "company_ids": [company.pk],
            "tags": ["vip"],
            "address": {"city": "Львів"},
        },
    ).json()["id"]
    ContactPointFactory(
        contact_id=contact_id, kind="phone", value="+380671234567", normalized="+380671234567"
    )
    interaction = InteractionFactory(contact_id=contact_id, user=rep_a)
    AttachmentFactory(interaction=interaction)
    TagFactory(name="other")
    checks = [
        ("/api/v1/contacts/", "get", 200, api.get("/contacts/")),
        ("/api/v1/contacts/{contact_id}", "get", 200, api.get(f"/contacts/{contact_id}")),
        ("/api/v1/contacts/{contact_id}/audit", "get", 200, api.get(f"/contacts/{contact_id}/audit")),
        ("/api/v1/companies/", "get", 200, api.get("/companies/")),
        ("/api/v1/companies/{company_id}", "get", 200, api.get(f"/companies/{company.pk}")),
        ("/api/v1/interactions/", "get", 200, api.get("/interactions/")),
        ("/api/v1/interactions/{interaction_id}", "get", 200, api.get(f"/interactions/{interaction.pk}")),
        ("/api/v1/tags/", "get", 200, api.get("/tags/")),
        ("/api/v1/users/me", "get", 200, api.get("/users/me")),
        ("/api/v1/tokens/", "post", 201, api.post("/tokens/", {"name": "x"})),
        ("/api/v1/search", "get", 200, api.get("/search", {"q": "бондар"})),
        ("/api/v1/contacts/", "post", 422, api.post("/contacts/", {"emails": [{"value": "bad"}]})),
        ("/api/v1/contacts/{contact_id}", "get", 404, api.get("/contacts/999999")),
        (
            "/api/v1/contacts/",
            "post",
            409,
            api.post("/contacts/", {"emails": [{"value": "iryna@example.com"}]}),
        ),
        (
            "/api/v1/contacts/{contact_id}",
            "patch",
            412,
            api.patch(f"/contacts/{contact_id}", {"position": "x"}, HTTP_IF_MATCH='"9"'),
        ),
        ("/api/v1/contacts/", "get", 401, Client().get("/api/v1/contacts/")),
    ]
    for path, method, status, response in checks:
        assert response.status_code == status, (path, response.content)
        body = response.json()
        # then
        assert _check(body, _response_schema(doc, path, method, status), doc, path) == []
    assert api.get("/search", {"q": "бондар"}).json()["items"][0]["id"] == contact_id


def test_the_checker_notices_undeclared_properties(doc):
    schema = _response_schema(doc, "/api/v1/tags/", "get", 200)
    assert _check(
        {"items": [{"id": 1, "name": "a", "color": "#000000", "secret": 1}], "next_cursor": None},
        schema,
        doc,
        "tags",
    ) == ["tags.items[0].secret: not declared"]


def test_docs_page_uses_only_locally_served_files(rep_a):
    # given
    client = Client()
    client.force_login(rep_a)
    # when
    html = client.get("/api/v1/docs").content.decode()
    # then
    assert "cdn" not in html.lower() and "https://" not in html and "http://" not in html
    for asset in (
        "vendor/swagger-ui/swagger-ui-bundle.js",
        "vendor/swagger-ui/swagger-ui.css",
        "api/docs-init.js",
    ):
        assert f"/static/{asset}" in html
        assert (STATIC_DIR / asset).is_file()
        assert finders.find(asset), asset  # collectstatic and whitenoise find it
        served = client.get(f"/static/{asset}")
        assert served.status_code == 200 and b"".join(served.streaming_content)
    assert (STATIC_DIR / "vendor/swagger-ui/LICENSE").is_file()
