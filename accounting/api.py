"""Finance over HTTP: reimbursements, payout batches, the ledger."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import IDEMPOTENCY_KEY_PARAMETER, error_responses
from core.errors import NotFound
from core.idempotency import idempotent
from organizations.permissions import IsFinance, IsMember

from . import queries, services
from .filters import ReimbursementFilter
from .models import Account, JournalEntry, PayoutBatch, Reimbursement

COMMAND_ERRORS = error_responses(400, 401, 403, 404, 409, 422, 429)


class ReimbursementOut(serializers.ModelSerializer):
    class Meta:
        model = Reimbursement
        fields = ["id", "expense_id", "payee_name", "payee_email", "amount", "currency", "state", "batch_id",
                  "failure_reason", "created_at", "paid_at"]


class PayoutBatchOut(serializers.ModelSerializer):
    reimbursement_count = serializers.SerializerMethodField()

    class Meta:
        model = PayoutBatch
        fields = ["id", "state", "total", "currency", "created_at", "confirmed_at", "reimbursement_count"]

    def get_reimbursement_count(self, obj) -> int:
        return obj.reimbursements.count()


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, allow_blank=True)


class EmptyIn(serializers.Serializer):
    pass


class ReimbursementListApi(ListAPIView):
    """Finance: every reimbursement of the organisation; others: their own."""

    permission_classes = [IsMember]
    serializer_class = ReimbursementOut
    filterset_class = ReimbursementFilter

    queryset = Reimbursement.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return queries.reimbursements_for(self.request.membership)


class ReimbursementFailApi(APIView):
    permission_classes = [IsFinance]

    @extend_schema(request=ReasonIn, responses={200: ReimbursementOut, **COMMAND_ERRORS},
                   parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @idempotent
    def post(self, request, reimbursement_id):
        data = ReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        r = services.reimbursement_mark_failed(actor=request.membership, reimbursement_id=reimbursement_id,
                                               reason=data.validated_data["reason"])
        return Response(ReimbursementOut(r).data)


class ReimbursementRequeueApi(APIView):
    permission_classes = [IsFinance]

    @extend_schema(request=EmptyIn, responses={200: ReimbursementOut, **COMMAND_ERRORS},
                   parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @idempotent
    def post(self, request, reimbursement_id):
        r = services.reimbursement_requeue(actor=request.membership, reimbursement_id=reimbursement_id)
        return Response(ReimbursementOut(r).data)


class PayoutBatchListApi(ListAPIView):
    permission_classes = [IsFinance]
    serializer_class = PayoutBatchOut

    queryset = PayoutBatch.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return queries.payout_batches_for(self.request.membership)


class PayoutRunApi(APIView):
    """Run the payout now (besides the scheduled runs): batch every queued reimbursement."""

    permission_classes = [IsFinance]

    @extend_schema(request=EmptyIn, responses={201: PayoutBatchOut, 204: None, **COMMAND_ERRORS},
                   parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @idempotent
    def post(self, request):
        batch = services.payout_run(organization=request.membership.organization)
        if batch is None:
            return Response(status=204)
        return Response(PayoutBatchOut(batch).data, status=201)


def _batch(request, batch_id) -> PayoutBatch:
    try:
        return queries.payout_batches_for(request.membership).get(pk=batch_id)
    except (PayoutBatch.DoesNotExist, ValueError, DjangoValidationError):
        raise NotFound("No such payout batch.") from None


class PayoutBatchFileApi(APIView):
    """The batch's payment file (CSV) for the bank."""

    permission_classes = [IsFinance]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR, **error_responses(401, 403, 404)})
    def get(self, request, batch_id):
        batch = _batch(request, batch_id)
        response = HttpResponse(batch.payment_file, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="payout-{batch.pk}.csv"'
        return response


class PayoutBatchConfirmApi(APIView):
    """Confirm the batch paid: publishes reimbursement.paid per reimbursement. A second confirm is 409."""

    permission_classes = [IsFinance]

    @extend_schema(request=EmptyIn, responses={200: PayoutBatchOut, **COMMAND_ERRORS},
                   parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @idempotent
    def post(self, request, batch_id):
        batch = services.payout_batch_confirm(actor=request.membership, batch_id=batch_id)
        return Response(PayoutBatchOut(batch).data)


class TrialBalanceRowOut(serializers.Serializer):
    account_id = serializers.IntegerField(source="account.pk")
    code = serializers.CharField(source="account.code")
    name = serializers.CharField(source="account.name")
    kind = serializers.CharField(source="account.kind")
    debit = serializers.DecimalField(max_digits=14, decimal_places=2)
    credit = serializers.DecimalField(max_digits=14, decimal_places=2)
    balance = serializers.DecimalField(max_digits=14, decimal_places=2)


class TrialBalanceApi(APIView):
    permission_classes = [IsFinance]

    @extend_schema(responses={200: TrialBalanceRowOut(many=True), **error_responses(401, 403)})
    def get(self, request):
        return Response(TrialBalanceRowOut(queries.trial_balance(request.membership.organization_id), many=True).data)


class JournalLineOut(serializers.Serializer):
    account = serializers.CharField(source="account.code")
    debit = serializers.DecimalField(max_digits=14, decimal_places=2)
    credit = serializers.DecimalField(max_digits=14, decimal_places=2)


class JournalEntryOut(serializers.ModelSerializer):
    lines = JournalLineOut(many=True)

    class Meta:
        model = JournalEntry
        fields = ["id", "date", "memo", "source_event_id", "reversal_of_id", "created_at", "lines"]


class JournalEntryListApi(ListAPIView):
    permission_classes = [IsFinance]
    serializer_class = JournalEntryOut

    queryset = JournalEntry.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return JournalEntry.objects.filter(organization_id=self.request.membership.organization_id
                                           ).prefetch_related("lines__account")


class LedgerLineOut(serializers.Serializer):
    date = serializers.DateField()
    memo = serializers.CharField()
    entry_id = serializers.UUIDField()
    debit = serializers.DecimalField(max_digits=14, decimal_places=2)
    credit = serializers.DecimalField(max_digits=14, decimal_places=2)
    balance = serializers.DecimalField(max_digits=14, decimal_places=2)


class AccountLedgerApi(APIView):
    permission_classes = [IsFinance]

    @extend_schema(responses={200: LedgerLineOut(many=True), **error_responses(401, 403, 404)})
    def get(self, request, account_id):
        try:
            _, rows = queries.account_ledger(request.membership.organization_id, account_id)
        except Account.DoesNotExist:
            raise NotFound("No such account.") from None
        return Response(LedgerLineOut(rows, many=True).data)


class JournalExportApi(APIView):
    """The journal as CSV, for an external accounting system."""

    permission_classes = [IsFinance]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR, **error_responses(401, 403)})
    def get(self, request):
        response = HttpResponse(queries.journal_export_csv(request.membership.organization_id),
                                content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="journal.csv"'
        return response
