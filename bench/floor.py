"""The machine's floor for a request (issue 24): a bare endpoint on the same stack as the API.

``GET /bench/floor/<expense id>/`` goes through uvicorn, every middleware, DRF's token
authentication, the membership lookup (``IsMember``), one indexed SELECT of the caller's
organisation and a small JSON answer: everything an API request cannot avoid, and nothing of
Outlay's own work. ``make bench`` reports the approve request and the manager's reads as
multiples of it. Mounted by ``bench.hooks`` in the processes a bench run starts, never in the
product.
"""

from __future__ import annotations

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from expenses.models import Expense
from organizations.permissions import IsMember


class FloorApi(APIView):
    permission_classes = [IsMember]

    def get(self, request, expense_id):
        row = (Expense.objects.filter(organization_id=request.membership.organization_id, pk=expense_id)
               .values_list("state", "version").first())
        if row is None:
            raise NotFound("No such expense.")
        return Response({"id": str(expense_id), "state": row[0], "version": row[1]})


def mount() -> None:
    """Put the floor in front of the product's URLs (before the first request resolves any)."""
    from config import urls  # the URLconf imports every view: only once the apps are ready

    urls.urlpatterns.insert(0, path("bench/floor/<uuid:expense_id>/", FloorApi.as_view(), name="bench-floor"))
