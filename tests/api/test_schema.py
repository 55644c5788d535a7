"""The OpenAPI document covers the whole API: every route, its errors in the one error shape, the
Idempotency-Key on every POST command; and the Swagger UI needs nothing from the internet."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, get_resolver
from rest_framework.test import APIClient

NOT_IN_SCHEMA = {"schema/", "docs/"}
NOT_COMMANDS = {
    ("post", "/api/v1/auth/token/"),  # obtaining a token creates nothing new to replay
    # Their answer carries a signing secret, shown once: a replayable answer would keep it in clear.
    ("post", "/api/v1/webhooks/endpoints/"),
    ("post", "/api/v1/webhooks/endpoints/{endpoint_id}/rotate-secret/"),
}


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def _api_routes() -> set[str]:
    """Every route under /api/v1/, written the way the schema writes paths."""
    include = next(p for p in get_resolver().url_patterns if str(p.pattern) == "api/v1/")
    routes = set()
    for pattern in include.url_patterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        if route not in NOT_IN_SCHEMA:
            routes.add("/api/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    return routes


def test_every_route_is_in_the_schema(schema):
    assert _api_routes() == set(schema["paths"])


def test_every_operation_documents_its_errors_in_the_one_shape(schema):
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in schema["paths"].items():
        if path == "/api/v1/health/":
            continue  # no errors of its own: 200 or 503 with the checks
        for method, operation in operations.items():
            responses = operation["responses"]
            expected = {"400", "401", "403", "429"} | ({"404"} if "{" in path else set())
            assert expected <= set(responses), (method, path)
            for code in [c for c in responses if c.startswith(("4", "5"))]:
                assert responses[code]["content"]["application/json"]["schema"] == error, (method, path, code)


def test_every_post_command_takes_an_idempotency_key(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method != "post" or (method, path) in NOT_COMMANDS:
                continue
            headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
            assert "Idempotency-Key" in headers, path
            assert {"409", "422"} <= set(operation["responses"]), path


@pytest.mark.django_db
def test_swagger_ui_loads_only_local_assets():
    page = APIClient().get("/api/v1/docs/")

    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.content.decode())
    assert assets and all(a.startswith(("/static/drf_spectacular_sidecar/", "/api/v1/")) for a in assets), assets
