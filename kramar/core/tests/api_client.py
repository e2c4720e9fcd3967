"""A thin wrapper over Django's test Client for API tests: a real token, the real HTTP stack."""

from __future__ import annotations

import json

from django.test import Client

from kramar.accounts.services import api_token_create

PREFIX = "/api/v1"


class ApiClient:
    def __init__(self, user=None, *, token: str | None = None):
        self.client = Client()
        self.token = token
        if user is not None and token is None:
            _row, self.token = api_token_create(user=user, name="tests")
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}

    def _url(self, path: str) -> str:
        return path if path.startswith(PREFIX) else PREFIX + path

    def get(self, path, data=None, **extra):
        return self.client.get(self._url(path), data, **self.headers, **extra)

    def post(self, path, data=None, *, raw: str | bytes | None = None, **extra):
        body = raw if raw is not None else json.dumps(data if data is not None else {})
        return self.client.post(
            self._url(path), body, content_type="application/json", **self.headers, **extra
        )

    def upload(self, path, files: dict, **extra):
        return self.client.post(self._url(path), files, **self.headers, **extra)

    def patch(self, path, data=None, *, raw: str | bytes | None = None, **extra):
        body = raw if raw is not None else json.dumps(data if data is not None else {})
        return self.client.patch(
            self._url(path), body, content_type="application/json", **self.headers, **extra
        )

    def delete(self, path, **extra):
        return self.client.delete(self._url(path), **self.headers, **extra)


def problem_fields(response) -> set[str]:
    assert response["Content-Type"] == "application/problem+json", response.content
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    assert body["status"] == response.status_code
    return {e["field"] for e in body.get("errors", [])}
