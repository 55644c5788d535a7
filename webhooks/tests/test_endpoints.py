"""Managing endpoints through the API and the pages: the secret is shown once and stored
encrypted, bad input is a 400 that writes nothing, replays re-send the right rows."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from organizations.models import Role
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from webhooks import message, services
from webhooks.models import Endpoint, EndpointSecret, WebhookDelivery, WebhookStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    return MembershipFactory(organization=OrganizationFactory(), role=Role.ADMIN)


def _client(membership) -> APIClient:
    client = APIClient()
    client.force_authenticate(membership.user)
    return client


def test_creating_an_endpoint_answers_201_with_its_secret_once_stored_encrypted(admin, caplog):
    caplog.set_level(logging.DEBUG)
    client = _client(admin)
    response = client.post("/api/v1/webhooks/endpoints/", {"url": "https://hooks.example.com/a",
                                                           "event_types": ["expense.approved"]}, format="json")
    assert response.status_code == 201
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(Webhook(secret)._whsecret) >= 24
    stored = EndpointSecret.objects.get(endpoint_id=body["id"])
    assert secret not in stored.encrypted and secret.removeprefix("whsec_") not in stored.encrypted
    detail = client.get(f"/api/v1/webhooks/endpoints/{body['id']}/")
    assert detail.status_code == 200 and "secret" not in detail.json()
    assert secret not in client.get("/api/v1/webhooks/endpoints/").content.decode()
    assert secret.removeprefix("whsec_") not in caplog.text


@pytest.mark.parametrize(("payload", "field"), [
    ({"url": "http://hooks.example.com/a"}, "url"),
    ({"url": "https://10.0.0.1/a"}, "url"),
    ({"url": "https://169.254.169.254/latest"}, "url"),
    ({"url": "https://[::1]/a"}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": "https://hooks.example.com/a", "event_types": ["delivery.dead"]}, "event_types"),
    ({"url": "https://hooks.example.com/a", "event_types": ["no.such"]}, "event_types"),
])
def test_a_bad_endpoint_is_a_400_that_writes_nothing(admin, payload, field):
    response = _client(admin).post("/api/v1/webhooks/endpoints/", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "message", "details"} and field in body["details"]
    assert Endpoint.objects.count() == 0 and EndpointSecret.objects.count() == 0


def test_rotation_answers_a_new_secret_and_both_sign_until_the_overlap_ends(admin, settings):
    endpoint, old = services.endpoint_create(organization_id=admin.organization_id, created_by_id=None,
                                             url="https://hooks.example.com/a", event_types=[])
    response = _client(admin).post(f"/api/v1/webhooks/endpoints/{endpoint.pk}/rotate-secret/", {}, format="json")
    new = response.json()["secret"]
    now = timezone.now()
    assert services.signing_secrets(endpoint.pk, now) == [new, old]
    assert services.signing_secrets(endpoint.pk, now + dt.timedelta(seconds=settings.WEBHOOK_SECRET_OVERLAP_SECONDS
                                                                   + 1)) == [new]
    body = b'{"type":"webhook.test"}'
    headers = message.headers_for(webhook_id="msg_1", body=body, secrets=[new, old], now=now)
    for secret in (old, new):
        Webhook(secret).verify(body, headers)


def test_the_pages_show_the_secret_once_and_refuse_other_roles(admin, client):
    client.force_login(admin.user)
    response = client.post("/webhooks/", {"url": "https://hooks.example.com/p", "description": "ERP",
                                          "event_types": ["expense.approved"]})
    assert response.status_code == 200
    endpoint = Endpoint.objects.get()
    page = response.content.decode()
    secret = page.split('<code id="webhook-secret">')[1].split("</code>")[0]
    assert secret.startswith("whsec_")
    detail = client.get(f"/webhooks/{endpoint.pk}/")
    assert detail.status_code == 200 and secret not in detail.content.decode()
    assert "hooks.example.com/p" in client.get("/webhooks/").content.decode()
    employee = MembershipFactory(organization=admin.organization)
    client.force_login(employee.user)
    assert client.get("/webhooks/").status_code == 403
    assert client.post(f"/webhooks/{endpoint.pk}/rotate/").status_code == 403
    assert EndpointSecret.objects.filter(endpoint=endpoint).count() == 1


def test_another_organisations_endpoint_is_not_found(admin, client):
    other = MembershipFactory(organization=OrganizationFactory(), role=Role.ADMIN)
    endpoint, _ = services.endpoint_create(organization_id=other.organization_id, created_by_id=None,
                                           url="https://hooks.example.com/o", event_types=[])
    client.force_login(admin.user)
    assert client.get(f"/webhooks/{endpoint.pk}/").status_code == 404
    assert _client(admin).post(f"/api/v1/webhooks/endpoints/{endpoint.pk}/test/").status_code == 404
    assert WebhookDelivery.objects.count() == 0


def test_replay_only_failed_since_picks_the_failed_and_dead_of_the_window(admin):
    endpoint, _ = services.endpoint_create(organization_id=admin.organization_id, created_by_id=None,
                                           url="https://hooks.example.com/r", event_types=[])
    rows = [services.endpoint_send_test(endpoint=endpoint, user_id=None) for _ in range(4)]
    for row, status in zip(rows, ["delivered", "dead", "failed", "dead"], strict=True):
        WebhookDelivery.objects.filter(pk=row.pk).update(status=status, attempts=3)
    WebhookDelivery.objects.filter(pk=rows[3].pk).update(occurred_at=timezone.now() - dt.timedelta(days=2))

    replayed = services.endpoint_replay(endpoint=endpoint, since=timezone.now() - dt.timedelta(days=1),
                                        only_failed=True)

    assert replayed == 2
    states = dict(WebhookDelivery.objects.values_list("pk", "status"))
    assert states == {rows[0].pk: "delivered", rows[1].pk: "pending", rows[2].pk: "pending", rows[3].pk: "dead"}
    assert WebhookDelivery.objects.get(pk=rows[1].pk).attempts == 0


def test_replaying_a_webhook_still_in_line_is_a_409(admin):
    endpoint, _ = services.endpoint_create(organization_id=admin.organization_id, created_by_id=None,
                                           url="https://hooks.example.com/q", event_types=[])
    row = services.endpoint_send_test(endpoint=endpoint, user_id=None)
    response = _client(admin).post(f"/api/v1/webhooks/deliveries/{row.pk}/replay/")
    assert response.status_code == 409 and response.json()["code"] == "webhook_in_line"
    assert WebhookDelivery.objects.get(pk=row.pk).status == WebhookStatus.PENDING


def test_the_django_admin_adds_an_endpoint_through_the_command_and_shows_the_secret_once(admin, client):
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_superuser("root", "root@example.com", "pw-unused-here")
    client.force_login(staff)
    response = client.post("/admin/webhooks/endpoint/add/", {
        "organization": admin.organization_id, "url": "https://hooks.example.com/admin",
        "event_types": "expense.approved, expense.rejected", "description": "ERP", "enabled": "on"}, follow=True)
    assert response.status_code == 200
    endpoint = Endpoint.objects.get()
    assert endpoint.event_types == ["expense.approved", "expense.rejected"] and endpoint.created_by == staff
    shown = [str(m) for m in response.context["messages"] if "whsec_" in str(m)]
    assert len(shown) == 1
    secret = shown[0].split(": ")[-1]
    assert services.signing_secrets(endpoint.pk, timezone.now()) == [secret]
    refused = client.post("/admin/webhooks/endpoint/add/", {
        "organization": admin.organization_id, "url": "https://10.0.0.1/x", "event_types": "", "enabled": "on"})
    assert refused.status_code == 200 and "not a public address" in refused.content.decode()
    assert Endpoint.objects.count() == 1
