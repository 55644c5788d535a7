"""Finance over HTTP: reimbursements, payout batches, the ledger."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import IDEMPOTENCY_KEY_PARAMETER, error_responses
from core.errors import NotFound
from core.idempotency import idempotent
from organizations.permissions import IsFinance, IsMember

from . import exports, queries, sepa, services
from .filters import JournalEntryFilter, JournalLineFilter, PayoutBatchFilter, ReimbursementFilter
from .models import Account, AccountingExport, ExportFormat, JournalEntry, JournalLine, PayoutBatch, Reimbursement

COMMAND_ERRORS = error_responses(400, 401, 403, 404, 409, 422, 429)


class ReimbursementOut(serializers.ModelSerializer):
    class Meta:
        model = Reimbursement
        fields = ["id", "expense_id", "payee_name", "payee_email", "amount", "currency", "state", "batch_id",
                  "failure_reason", "created_at", "paid_at"]


class PayeeFlagOut(serializers.Serializer):
    code = serializers.CharField(help_text="bank_details_changed_recently")
    employee_user_id = serializers.IntegerField()
    payee_name = serializers.CharField()
    changed_at = serializers.DateTimeField()
    message = serializers.CharField()


class HeldOutOut(serializers.Serializer):
    payee_name = serializers.CharField()
    employee_user_id = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    reason = serializers.CharField()


class PayoutBatchOut(serializers.ModelSerializer):
    reimbursement_count = serializers.SerializerMethodField()
    payee_flags = PayeeFlagOut(many=True, read_only=True)
    sepa_held_out = serializers.SerializerMethodField(help_text="Payees a SEPA file of this batch leaves out, and why.")

    class Meta:
        model = PayoutBatch
        fields = ["id", "state", "total", "currency", "created_at", "confirmed_at", "reimbursement_count",
                  "payee_flags", "sepa_held_out"]

    def get_reimbursement_count(self, obj) -> int:
        return obj.reimbursements.count()

    @extend_schema_field(HeldOutOut(many=True))
    def get_sepa_held_out(self, obj):
        return HeldOutOut(sepa.held_out(obj), many=True).data


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
    """The organisation's payout batches, newest first; filters: state, created_from/created_to
    (the organisation's days), amount_min/amount_max (the total), payee."""

    permission_classes = [IsFinance]
    serializer_class = PayoutBatchOut
    filterset_class = PayoutBatchFilter

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


def _file_response(payment_file) -> HttpResponse:
    response = HttpResponse(payment_file.content, content_type=payment_file.content_type)
    response["Content-Disposition"] = f'attachment; filename="{payment_file.filename}"'
    response["X-Held-Out-Count"] = str(len(payment_file.held_out))
    return response


class PayoutBatchFileApi(APIView):
    """The batch's payment file as CSV, for banks that take no SEPA file (download audited)."""

    permission_classes = [IsFinance]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR, **error_responses(401, 403, 404)})
    def get(self, request, batch_id):
        return _file_response(services.payout_batch_file(actor=request.membership, batch_id=batch_id))


class PayoutBatchSepaApi(APIView):
    """The batch's SEPA credit-transfer file (pain.001), validated against the official XSD; one
    transaction per payee; regenerating it gives the same file. Payees without bank details or
    with a non-EUR payout are held out (listed in the batch's sepa_held_out; their count in the
    X-Held-Out-Count header). 409 debtor_account_missing until the organisation's account is set.
    The download is audited."""

    permission_classes = [IsFinance]

    @extend_schema(parameters=[OpenApiParameter("version", str, enum=list(sepa.SCHEMAS), required=False,
                                                description="pain.001 version (default pain.001.001.03)")],
                   responses={(200, "application/xml"): OpenApiTypes.STR,
                              **error_responses(400, 401, 403, 404, 409)})
    def get(self, request, batch_id):
        schema = request.query_params.get("version", sepa.DEFAULT_SCHEMA)
        return _file_response(services.payout_batch_file(actor=request.membership, batch_id=batch_id,
                                                         file_format="sepa", schema=schema))


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
    total = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="The sum of either side.")

    class Meta:
        model = JournalEntry
        fields = ["id", "date", "memo", "total", "source_event_id", "reversal_of_id", "created_at", "lines"]


class JournalEntryListApi(ListAPIView):
    """The organisation's journal entries; filters: date_from/date_to (entry dates), amount_min/
    amount_max (the entry's total), q (memo: merchant, employee), account (an id), kind."""

    permission_classes = [IsFinance]
    serializer_class = JournalEntryOut
    filterset_class = JournalEntryFilter

    queryset = JournalEntry.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return queries.journal_entries(self.request.membership.organization_id)


class LedgerLineOut(serializers.Serializer):
    date = serializers.DateField()
    memo = serializers.CharField()
    entry_id = serializers.UUIDField()
    debit = serializers.DecimalField(max_digits=14, decimal_places=2)
    credit = serializers.DecimalField(max_digits=14, decimal_places=2)
    balance = serializers.DecimalField(max_digits=14, decimal_places=2)


class AccountLedgerApi(ListAPIView):
    """An account's lines with the running balance; filters (date_from/date_to, amount_min/
    amount_max on the line's debit or credit, q, kind) choose the lines listed, each still with
    the account's true balance after it."""

    permission_classes = [IsFinance]
    serializer_class = LedgerLineOut
    filterset_class = JournalLineFilter
    pagination_class = None
    queryset = JournalLine.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        try:
            return queries.account_lines(queries.account_of(self.request.membership.organization_id,
                                                            self.kwargs["account_id"]))
        except Account.DoesNotExist:
            raise NotFound("No such account.") from None

    @extend_schema(responses={200: LedgerLineOut(many=True), **error_responses(400, 401, 403, 404)})
    def get(self, request, account_id):
        shown = self.filter_queryset(self.get_queryset())
        _, rows = queries.account_ledger(request.membership.organization_id, account_id, shown)
        return Response(LedgerLineOut(rows, many=True).data)


class JournalExportQuery(serializers.Serializer):
    format = serializers.ChoiceField(choices=ExportFormat.values, default=ExportFormat.CSV)
    since = serializers.ChoiceField(choices=["last"], required=False,
                                    help_text="last: every line committed since the last since=last export of this "
                                              "format (none skipped or repeated, even when entries commit late).")
    to = serializers.DateField(required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField(required=False)  # a Python keyword, so declared here
        return fields


class FileNegotiation(DefaultContentNegotiation):
    """``?format=`` names the export's file format here, not DRF's renderer override."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class JournalExportApi(APIView):
    """Journal lines for an external accounting system: CSV (date, entry, account, debit, credit,
    currency, original amount and currency, memo, expense) or DATEV (EXTF Buchungsstapel), for a
    date range (from/to, entry dates, both included) or since the last export. Every export is
    recorded (GET /api/v1/ledger/exports/)."""

    permission_classes = [IsFinance]
    content_negotiation_class = FileNegotiation

    @extend_schema(parameters=[JournalExportQuery],
                   responses={(200, "text/csv"): OpenApiTypes.STR, **error_responses(400, 401, 403)})
    def get(self, request):
        query = JournalExportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        export = exports.accounting_export(actor=request.membership, file_format=data["format"],
                                           date_from=data.get("from"), date_to=data.get("to"),
                                           since_last=data.get("since") == "last")
        response = HttpResponse(export.content, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        response["X-Export-Id"] = str(export.record.pk)
        return response


class AccountingExportOut(serializers.ModelSerializer):
    class Meta:
        model = AccountingExport
        fields = ["id", "format", "since_last", "previous_id", "date_from", "date_to", "line_count", "sha256",
                  "created_by_name", "created_at"]


class AccountingExportListApi(ListAPIView):
    """Every accounting export of the organisation: who, when, which range, how many lines."""

    permission_classes = [IsFinance]
    serializer_class = AccountingExportOut
    queryset = AccountingExport.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return AccountingExport.objects.filter(organization_id=self.request.membership.organization_id)
