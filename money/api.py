"""Money over HTTP: exchange rates, members' bank details, the organisation's debtor account."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import IDEMPOTENCY_KEY_PARAMETER, DefaultCursorPagination, error_responses
from core.idempotency import idempotent
from organizations.permissions import IsFinance, IsMember

from . import queries, services
from .models import ExchangeRate

COMMAND_ERRORS = error_responses(400, 401, 403, 404, 409, 422, 429)


class ExchangeRateOut(serializers.ModelSerializer):
    own = serializers.SerializerMethodField(help_text="The organisation's own rate (set by finance), not a reference "
                                                      "rate.")

    class Meta:
        model = ExchangeRate
        fields = ["id", "date", "base", "quote", "rate", "source", "own", "reason", "updated_at"]

    def get_own(self, obj) -> bool:
        return obj.organization_id is not None


class ExchangeRateIn(serializers.Serializer):
    quote = serializers.CharField(max_length=3, help_text="1 EUR = rate × quote, e.g. USD.")
    date = serializers.DateField()
    rate = serializers.CharField(max_length=32, help_text='Decimal string, e.g. "1.0856" (10 decimals at most).')
    reason = serializers.CharField(max_length=500, allow_blank=True)


class RatePagination(DefaultCursorPagination):
    ordering = ("-date", "quote", "id")


class ExchangeRateFilter(django_filters.FilterSet):
    date = django_filters.DateFilter(field_name="date")
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte")
    quote = django_filters.CharFilter(field_name="quote", lookup_expr="iexact", max_length=3)
    source = django_filters.ChoiceFilter(choices=ExchangeRate._meta.get_field("source").choices)

    class Meta:
        model = ExchangeRate
        fields = []


class ExchangeRateListCreateApi(ListAPIView):
    """GET: reference rates (ECB) and your organisation's own rates, newest day first (every
    member). POST: finance sets the organisation's rate of a day, with a reason (audited,
    ``exchange_rate.set``); expenses already submitted keep their rate."""

    serializer_class = ExchangeRateOut
    pagination_class = RatePagination
    filterset_class = ExchangeRateFilter
    queryset = ExchangeRate.objects.none()  # for the schema generator

    def get_permissions(self):
        return [IsFinance()] if self.request.method == "POST" else [IsMember()]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return queries.rates_for(self.request.membership)

    @extend_schema(request=ExchangeRateIn, responses={201: ExchangeRateOut, **COMMAND_ERRORS},
                   parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @idempotent
    def post(self, request):
        data = ExchangeRateIn(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.exchange_rate_set(actor=request.membership, quote=data.validated_data["quote"],
                                         on=data.validated_data["date"], rate=data.validated_data["rate"],
                                         reason=data.validated_data["reason"])
        return Response(ExchangeRateOut(row).data, status=201)


class BankDetailsOut(serializers.Serializer):
    membership_id = serializers.IntegerField()
    has_bank_details = serializers.BooleanField()
    holder = serializers.CharField()
    iban = serializers.CharField(help_text="In clear for finance and the owner, else masked (DE89 **** **** **** "
                                           "3000).")
    bic = serializers.CharField(help_text="Empty when masked.")
    masked = serializers.BooleanField()
    updated_at = serializers.DateTimeField(allow_null=True)


class BankDetailsIn(serializers.Serializer):
    holder = serializers.CharField(max_length=200, allow_blank=True)
    iban = serializers.CharField(max_length=64, allow_blank=True, help_text="Spaces and lower case are fine.")
    bic = serializers.CharField(max_length=20, allow_blank=True, required=False)


class BankDetailsApi(APIView):
    """A member's bank details. GET: every member of the organisation (masked unless finance or
    the owner). PUT: the owner or finance; checked with schwifty; the change is audited and
    notified to the employee."""

    permission_classes = [IsMember]

    @extend_schema(responses={200: BankDetailsOut, **error_responses(401, 403, 404)})
    def get(self, request, membership_id):
        owner = services.member_of(request.membership, membership_id)
        return Response(BankDetailsOut(queries.bank_details_view(request.membership, owner)).data)

    @extend_schema(request=BankDetailsIn, responses={200: BankDetailsOut, **COMMAND_ERRORS},
                   parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @idempotent
    def put(self, request, membership_id):
        data = BankDetailsIn(data=request.data)
        data.is_valid(raise_exception=True)
        account = services.bank_details_set(actor=request.membership, membership_id=membership_id,
                                            holder=data.validated_data["holder"], iban=data.validated_data["iban"],
                                            bic=data.validated_data.get("bic", ""))
        return Response(BankDetailsOut(queries.bank_details_view(request.membership, account.membership)).data)


class DebtorAccountOut(serializers.Serializer):
    debtor_name = serializers.CharField()
    debtor_iban = serializers.CharField()
    debtor_bic = serializers.CharField()
    ready_for_sepa = serializers.BooleanField()


class DebtorAccountIn(serializers.Serializer):
    debtor_name = serializers.CharField(max_length=200, allow_blank=True)
    debtor_iban = serializers.CharField(max_length=64, allow_blank=True)
    debtor_bic = serializers.CharField(max_length=20, allow_blank=True, required=False)


def _debtor(org) -> dict:
    return {"debtor_name": org.debtor_name, "debtor_iban": org.debtor_iban, "debtor_bic": org.debtor_bic,
            "ready_for_sepa": bool(org.debtor_name and org.debtor_iban)}


class DebtorAccountApi(APIView):
    """The organisation's own bank account, the debtor of its SEPA payout files (finance)."""

    permission_classes = [IsFinance]

    @extend_schema(responses={200: DebtorAccountOut, **error_responses(401, 403)})
    def get(self, request):
        return Response(DebtorAccountOut(_debtor(request.membership.organization)).data)

    @extend_schema(request=DebtorAccountIn, responses={200: DebtorAccountOut, **COMMAND_ERRORS},
                   parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @idempotent
    def put(self, request):
        data = DebtorAccountIn(data=request.data)
        data.is_valid(raise_exception=True)
        org = services.debtor_account_set(actor=request.membership, name=data.validated_data["debtor_name"],
                                          iban=data.validated_data["debtor_iban"],
                                          bic=data.validated_data.get("debtor_bic", ""))
        return Response(DebtorAccountOut(_debtor(org)).data)

