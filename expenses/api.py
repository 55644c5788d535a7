"""Expenses over HTTP: thin views, one command or query each; command input and resource output
have their own serializers."""

from __future__ import annotations

from django.db.models import prefetch_related_objects
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.amounts import DecimalStringField
from core.api import IDEMPOTENCY_KEY_PARAMETER, error_responses
from core.currencies import plain
from core.errors import ValidationFailed
from core.idempotency import idempotent
from events.queries import latest_effects, timeline
from organizations.permissions import IsApprover, IsMember

from . import bulk, comments, queries, services
from .delegation import may_approve
from .filters import ExpenseFilter
from .models import Expense
from .representation import decimal_data, expense_data, expense_detail_data

COMMAND_ERRORS = error_responses(400, 401, 403, 404, 409, 422, 429)


# --- output -------------------------------------------------------------------------------------

class ApprovalOut(serializers.Serializer):
    step = serializers.CharField()
    approver = serializers.CharField(source="approver_name", help_text="\"X on behalf of Y\" for a delegate.")
    on_behalf_of = serializers.CharField(source="on_behalf_of.display_name", allow_null=True, default=None)
    decided_at = serializers.DateTimeField()


class FlagOut(serializers.Serializer):
    code = serializers.CharField(help_text="possible_duplicate, category_amount_exceeded, category_receipt_required "
                                           "or category_too_old")
    label = serializers.CharField()
    message = serializers.CharField()
    twin_id = serializers.UUIDField(required=False, help_text="The similar expense, for possible_duplicate.")


class ExpenseOut(serializers.ModelSerializer):
    employee = serializers.CharField(source="employee.display_name")
    employee_id = serializers.IntegerField(source="employee.pk")
    cost_center = serializers.CharField(source="cost_center.code")
    category = serializers.CharField(source="category.name")
    amount = serializers.SerializerMethodField(help_text="As spent, with the currency's own decimals (\"1500\" JPY).")
    org_amount = serializers.DecimalField(max_digits=12, decimal_places=2,
                                          help_text="Converted into org_currency: what every rule and book uses.")
    exchange_rate = serializers.DecimalField(max_digits=20, decimal_places=10)
    conversion = serializers.CharField(source="conversion_text",
                                       help_text="\"120.00 USD → 110.43 EUR at 0.9203 on 2026-11-28\"")
    has_receipt = serializers.SerializerMethodField()
    flags = FlagOut(many=True, read_only=True)
    state_label = serializers.CharField(read_only=True, help_text="\"Waiting for finance\" once the manager approved "
                                                                 "an expense that needs the finance approval.")
    awaiting = serializers.ChoiceField(choices=["manager", "finance", ""], read_only=True,
                                       help_text="The approval step a submitted expense waits for; empty otherwise.")

    class Meta:
        model = Expense
        fields = ["id", "state", "state_label", "awaiting", "employee", "employee_id", "cost_center",
                  "cost_center_id", "category", "category_id", "amount", "currency", "org_amount", "org_currency",
                  "exchange_rate", "rate_date", "rate_source", "conversion", "merchant", "incurred_on",
                  "description", "has_receipt",
                  "rejection_reason", "submitted_at", "decided_at", "flags", "duplicate_confirmed_at",
                  "policy_version", "policy_outcome", "version", "created_at", "updated_at"]

    def get_has_receipt(self, obj) -> bool:
        return bool(obj.receipt)

    def get_amount(self, obj) -> str:
        return plain(obj.amount, obj.currency)


class ExpenseDetailOut(ExpenseOut):
    approvals = ApprovalOut(many=True, read_only=True)
    effects = serializers.SerializerMethodField()

    class Meta(ExpenseOut.Meta):
        fields = [*ExpenseOut.Meta.fields, "approvals", "effects"]

    def get_effects(self, obj) -> dict[str, str]:
        """Each subscriber's delivery status for the expense's latest event."""
        return latest_effects(organization_id=obj.organization_id, aggregate_type="expense", aggregate_id=str(obj.pk))


def detail_data(expense: Expense) -> dict:
    """``ExpenseDetailOut`` of an expense, as a plain dictionary (``expenses.representation``).
    A command that decided it already holds its approvals and the effects it published; any
    other caller reads the approvals with their names (one query) and the latest effects."""
    approvals = getattr(expense, "approvals_given", None)
    if approvals is None:
        prefetch_related_objects([expense], queries.approvals_with_names())
        approvals = list(expense.approvals.all())
    effects = getattr(expense, "latest_effects", None)
    if effects is None:
        effects = latest_effects(organization_id=expense.organization_id, aggregate_type="expense",
                                 aggregate_id=str(expense.pk))
    return expense_detail_data(expense, approvals, effects)


class QueueItemOut(ExpenseOut):
    remaining_budget = serializers.DecimalField(max_digits=14, decimal_places=2)

    class Meta(ExpenseOut.Meta):
        fields = [*ExpenseOut.Meta.fields, "remaining_budget"]


# --- input --------------------------------------------------------------------------------------

class ExpenseCreateIn(serializers.Serializer):
    cost_center_id = serializers.IntegerField(min_value=1, max_value=2**62)
    category_id = serializers.IntegerField(min_value=1, max_value=2**62)
    amount = DecimalStringField(
        max_length=32,
        help_text='As spent, a decimal string with at most the currency\'s decimals: "12.50", "1500" (JPY), "3.125".')
    currency = serializers.CharField(
        max_length=3, required=False, help_text="ISO 4217 code as on the receipt; the organisation's if left out.")
    merchant = serializers.CharField(max_length=200)
    incurred_on = serializers.DateField()
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class ExpenseUpdateIn(ExpenseCreateIn):
    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31,
                                       help_text="The version you loaded; a newer one means 409 conflict.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class VersionIn(serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31)


class SubmitIn(VersionIn):
    confirm_not_duplicate = serializers.BooleanField(
        default=False, help_text="Answer to a 409 possible_duplicate: the employee confirms it is not a duplicate.")


class RejectIn(VersionIn):
    reason = serializers.CharField(max_length=2000, allow_blank=True, trim_whitespace=True)


class ReceiptIn(serializers.Serializer):
    receipt = serializers.FileField()


def _valid(serializer_class, request, **kwargs):
    if serializer_class is VersionIn and not kwargs:
        plain = _plain_version(request.data)
        if plain is not None:
            return plain
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _plain_version(data) -> dict | None:
    """What ``VersionIn`` validates ``data`` to, when that is plain: no body, or a JSON whole
    number in range. Anything else (a string, a bool, out of range, another key) is left to the
    serializer, which gives the one error shape. The approve request's most common body is
    empty; a serializer for it cost a third of a millisecond (``bench/profile_approve.py``)."""
    if not isinstance(data, dict):  # a list or a scalar: the serializer refuses it
        return None
    if not data:
        return {}
    if data.keys() == {"version"}:
        version = data["version"]
        if type(version) is int and 1 <= version <= 2**31:
            return {"version": version}
    return None


# --- views --------------------------------------------------------------------------------------

class IsApproverOrDelegate(IsMember):
    """Approvers by role, and whoever stands in for one today."""

    message = "Only approvers (managers, finance, admins) and their delegates can do this."

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        return may_approve(request.membership)


class ExpenseListCreateApi(ListAPIView):
    """GET: the expenses you may see (filters, cursor pages). POST: create a draft."""

    permission_classes = [IsMember]
    serializer_class = ExpenseOut
    filterset_class = ExpenseFilter

    queryset = Expense.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return queries.visible_expenses(self.request.membership).prefetch_related("approvals")

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([expense_data(expense) for expense in page])

    @extend_schema(request=ExpenseCreateIn, responses={201: ExpenseDetailOut, **COMMAND_ERRORS},
                   parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @idempotent
    def post(self, request):
        data = _valid(ExpenseCreateIn, request)
        expense = services.expense_create(actor=request.membership, data=data)
        return Response(detail_data(expense), status=201)


class AwaitingApprovalApi(ListAPIView):
    """Submitted expenses waiting for your approval, oldest first, with remaining budget."""

    permission_classes = [IsApproverOrDelegate]
    serializer_class = QueueItemOut
    pagination_class = None
    filterset_class = ExpenseFilter

    queryset = Expense.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return queries.awaiting_my_approval(self.request.membership).prefetch_related("approvals")

    def list(self, request, *args, **kwargs):
        """Unfiltered, the queue is one statement (``queries.approval_queue``); a filter, the queryset."""
        expenses = (queries.approval_queue(request.membership) if not request.query_params
                    else self.filter_queryset(self.get_queryset()))
        return Response([{**expense_data(expense), "remaining_budget": decimal_data(expense.remaining_budget)}
                         for expense in expenses])


class ExpenseDetailApi(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses={200: ExpenseDetailOut, **error_responses(401, 403, 404)})
    def get(self, request, expense_id):
        return Response(detail_data(queries.expense_detail(request.membership, expense_id)))

    @extend_schema(request=ExpenseUpdateIn, responses={200: ExpenseDetailOut, **COMMAND_ERRORS})
    def patch(self, request, expense_id):
        data = dict(_valid(ExpenseUpdateIn, request, partial=True))
        version = data.pop("version", None)
        expense = services.expense_update(actor=request.membership, expense_id=expense_id, data=data,
                                          expected_version=version)
        return Response(detail_data(expense))

    @extend_schema(responses={204: None, **error_responses(401, 403, 404, 409, 429)},
                   description="Delete a draft of your own (publishes expense.deleted). A submitted expense is "
                               "withdrawn first; a decided one cannot be deleted (409 invalid_state).")
    def delete(self, request, expense_id):
        services.expense_delete(actor=request.membership, expense_id=expense_id)
        return Response(status=204)


class ExpenseReceiptApi(APIView):
    """Upload (or replace) the receipt of a draft: a PDF, PNG, JPEG or WebP, checked by content."""

    permission_classes = [IsMember]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": ReceiptIn}, responses={200: ExpenseDetailOut, **COMMAND_ERRORS},
                   parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @idempotent
    def post(self, request, expense_id):
        data = _valid(ReceiptIn, request)
        expense = services.expense_update(actor=request.membership, expense_id=expense_id, data={},
                                          receipt=data["receipt"])
        return Response(detail_data(expense))


def _command_view(name: str, command, input_serializer, doc: str):
    class CommandApi(APIView):
        permission_classes = [IsMember]

        @extend_schema(request=input_serializer, responses={200: ExpenseDetailOut, **COMMAND_ERRORS},
                       parameters=[IDEMPOTENCY_KEY_PARAMETER], operation_id=f"expenses_{name}", description=doc)
        @idempotent
        def post(self, request, expense_id):
            data = dict(_valid(input_serializer, request))
            version = data.pop("version", None)
            # Each command is its own transaction (@transaction.atomic): no savepoint inside another.
            expense = command(actor=request.membership, expense_id=expense_id, expected_version=version, **data)
            return Response(detail_data(expense))

    CommandApi.__name__ = CommandApi.__qualname__ = f"Expense{name.capitalize()}Api"
    return CommandApi


ExpenseSubmitApi = _command_view(
    "submit", services.expense_submit, SubmitIn,
    "Submit a draft for approval under the current policy. 409 possible_duplicate names the similar expenses in "
    "details.twins: submit again with confirm_not_duplicate to go on (the expense is then flagged for the "
    "approver). A compliant expense under the automatic-approval amount comes back approved (policy_outcome).")
ExpenseWithdrawApi = _command_view("withdraw", services.expense_withdraw, VersionIn, "Take a submission back.")
ExpenseApproveApi = _command_view(
    "approve", services.expense_approve, VersionIn,
    "Give the next required approval. 409 insufficient_budget carries the remaining amount in details.")
ExpenseRejectApi = _command_view("reject", services.expense_reject, RejectIn, "Reject with a reason.")


class TimelineDeliveryOut(serializers.Serializer):
    id = serializers.IntegerField()
    subscriber = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    last_error = serializers.CharField()
    done_at = serializers.DateTimeField(allow_null=True)
    latency_ms = serializers.FloatField(allow_null=True)


class TimelineEventOut(serializers.Serializer):
    id = serializers.UUIDField(source="event.id")
    type = serializers.CharField(source="event.type")
    sequence = serializers.IntegerField(source="event.sequence")
    occurred_at = serializers.DateTimeField(source="event.occurred_at")
    actor_id = serializers.IntegerField(source="event.actor_id", allow_null=True)
    correlation_id = serializers.CharField(source="event.correlation_id")
    settled = serializers.BooleanField()
    deliveries = TimelineDeliveryOut(many=True)


class ExpenseTimelineApi(APIView):
    """The expense's events in order, each with every subscriber's delivery (status, attempts,
    last error, latency from commit to done)."""

    permission_classes = [IsMember]

    @extend_schema(responses={200: TimelineEventOut(many=True), **error_responses(401, 403, 404)})
    def get(self, request, expense_id):
        expense = queries.expense_detail(request.membership, expense_id)
        entries = timeline(organization_id=expense.organization_id, aggregate_type="expense",
                           aggregate_id=str(expense.pk))
        return Response(TimelineEventOut(entries, many=True).data)


class SummaryRowOut(serializers.Serializer):
    month = serializers.CharField()
    cost_center_id = serializers.IntegerField()
    cost_center_code = serializers.CharField()
    category_id = serializers.IntegerField()
    category_name = serializers.CharField()
    submitted_count = serializers.IntegerField()
    approved_count = serializers.IntegerField()
    rejected_count = serializers.IntegerField()
    approved_total = serializers.DecimalField(max_digits=14, decimal_places=2)


class SummaryApi(APIView):
    """Monthly spend per cost centre and category, from the read model (eventually consistent)."""

    permission_classes = [IsApprover]

    @extend_schema(parameters=[OpenApiParameter("month", str, required=True, description="YYYY-MM",
                                                pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
                   responses={200: SummaryRowOut(many=True), **error_responses(400, 401, 403)})
    def get(self, request):
        month = request.query_params.get("month", "")
        import re

        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
            raise ValidationFailed("Give month as YYYY-MM.", details={"month": month[:20]})
        rows = queries.expense_summary_by_month(request.membership.organization_id, month)
        return Response(SummaryRowOut(rows, many=True).data)


# --- bulk decisions -----------------------------------------------------------------------------

class BulkApproveIn(serializers.Serializer):
    ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=100,
                                help_text="The expenses to decide, 1 to 100.")


class BulkRejectIn(BulkApproveIn):
    reason = serializers.CharField(max_length=2000, allow_blank=True, trim_whitespace=True,
                                   help_text="One reason, given to every rejected expense's employee.")


class BulkResultOut(serializers.Serializer):
    id = serializers.UUIDField()
    ok = serializers.BooleanField()
    code = serializers.CharField(help_text="The refusal's code (insufficient_budget, conflict, ...); empty if ok.")
    message = serializers.CharField()


class BulkOut(serializers.Serializer):
    results = BulkResultOut(many=True, help_text="One per id, in the order given.")


def _bulk_view(name: str, run, input_serializer, doc: str):
    class BulkApi(APIView):
        permission_classes = [IsApproverOrDelegate]

        @extend_schema(request=input_serializer, responses={200: BulkOut, **error_responses(400, 401, 403, 409, 422,
                                                                                              429)},
                       parameters=[IDEMPOTENCY_KEY_PARAMETER], operation_id=f"expenses_bulk_{name}", description=doc)
        @idempotent
        def post(self, request):
            data = _valid(input_serializer, request)
            results = run(request.membership, data)
            return Response(BulkOut({"results": results}).data)

    BulkApi.__name__ = BulkApi.__qualname__ = f"ExpenseBulk{name.capitalize()}Api"
    return BulkApi


ExpenseBulkApproveApi = _bulk_view(
    "approve", lambda actor, data: bulk.expense_bulk_approve(actor=actor, ids=data["ids"]), BulkApproveIn,
    "Approve several expenses: each through the approve command with its own checks, one result per id "
    "(ok, or the refusal's code and message). 400 refuses the whole request (no id, more than 100, a malformed "
    "id) and decides nothing.")
ExpenseBulkRejectApi = _bulk_view(
    "reject", lambda actor, data: bulk.expense_bulk_reject(actor=actor, ids=data["ids"], reason=data["reason"]),
    BulkRejectIn, "Reject several expenses with one reason; as bulk approve. A missing reason refuses the whole "
    "request (reason_required).")


# --- questions and comments ---------------------------------------------------------------------

class CommentOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["comment", "question"],
                                   help_text="question: the approver returned the expense with it")
    author = serializers.CharField(source="author.display_name")
    author_id = serializers.IntegerField()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class CommentIn(serializers.Serializer):
    body = serializers.CharField(max_length=2000, allow_blank=True, trim_whitespace=True)


class ReturnIn(VersionIn):
    reason = serializers.CharField(max_length=2000, allow_blank=True, trim_whitespace=True,
                                   help_text="The question the employee answers before submitting again.")


class ExpenseCommentsApi(APIView):
    """The expense's thread (GET), and a new comment in it (POST); for anyone who may see it."""

    permission_classes = [IsMember]

    @extend_schema(responses={200: CommentOut(many=True), **error_responses(401, 403, 404)})
    def get(self, request, expense_id):
        _, thread = comments.comments_for(request.membership, expense_id)
        return Response(CommentOut(thread, many=True).data)

    @extend_schema(request=CommentIn, responses={201: CommentOut, **COMMAND_ERRORS},
                   parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @idempotent
    def post(self, request, expense_id):
        data = _valid(CommentIn, request)
        comment = comments.comment_add(actor=request.membership, expense_id=expense_id, body=data["body"])
        return Response(CommentOut(comment).data, status=201)


class ExpenseReturnApi(APIView):
    """Return a submitted expense to its employee as a draft, with a question (approvers of the
    next step, as for rejecting). Publishes expense.returned; the employee answers and resubmits."""

    permission_classes = [IsMember]

    @extend_schema(request=ReturnIn, responses={200: ExpenseDetailOut, **COMMAND_ERRORS},
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], operation_id="expenses_return")
    @idempotent
    def post(self, request, expense_id):
        data = dict(_valid(ReturnIn, request))
        expense = comments.expense_return(actor=request.membership, expense_id=expense_id, reason=data["reason"],
                                          expected_version=data.get("version"))
        return Response(detail_data(expense))
