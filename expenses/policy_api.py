"""The expense policy and approval delegation over HTTP: every member reads the policy;
organisation admins change it; managers name their delegates."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import IDEMPOTENCY_KEY_PARAMETER, error_responses
from core.idempotency import idempotent
from organizations.permissions import IsManager, IsMember, IsOrgAdmin

from . import delegation as delegations
from . import policy
from .models import CategoryRule, Delegation, PolicyVersion, RuleAction

CHANGE_ERRORS = error_responses(400, 401, 403, 404, 409, 422, 429)
MONEY = {"max_digits": 12, "decimal_places": 2, "allow_null": True, "required": False}


# --- policy -------------------------------------------------------------------------------------

class CategoryRuleOut(serializers.ModelSerializer):
    category = serializers.CharField(source="category.name")

    class Meta:
        model = CategoryRule
        fields = ["category_id", "category", "max_amount", "receipt_required_above", "max_age_days", "on_violation",
                  "updated_at"]


class PolicyOut(serializers.Serializer):
    version = serializers.IntegerField()
    auto_approve_under = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    auto_approve_sample_percent = serializers.IntegerField()
    category_rules = CategoryRuleOut(many=True)


class PolicyIn(serializers.Serializer):
    auto_approve_under = serializers.CharField(max_length=32, allow_null=True, allow_blank=True, required=False,
                                               help_text='Decimal string, e.g. "50.00"; null or "" turns it off.')
    auto_approve_sample_percent = serializers.IntegerField(min_value=0, max_value=100, required=False)


class CategoryRuleIn(serializers.Serializer):
    max_amount = serializers.CharField(max_length=32, allow_null=True, allow_blank=True, required=False)
    receipt_required_above = serializers.CharField(max_length=32, allow_null=True, allow_blank=True, required=False)
    max_age_days = serializers.IntegerField(min_value=0, max_value=3650, allow_null=True, required=False)
    on_violation = serializers.ChoiceField(choices=RuleAction.choices, default=RuleAction.BLOCK)


class PolicyVersionOut(serializers.ModelSerializer):
    class Meta:
        model = PolicyVersion
        fields = ["number", "change", "changed_by", "created_at", "rules"]


def _policy(organization_id: int) -> dict:
    settings = policy.settings_for(organization_id)
    return {"version": settings.version, "auto_approve_under": settings.auto_approve_under,
            "auto_approve_sample_percent": settings.auto_approve_sample_percent,
            "category_rules": CategoryRule.objects.filter(organization_id=organization_id)
            .select_related("category").order_by("category__name")}


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class PolicyApi(APIView):
    """GET: the organisation's expense policy (any member). PATCH: change automatic approval
    (organisation admins); a new version, announced as policy.changed."""

    def get_permissions(self):
        return [IsOrgAdmin()] if self.request.method == "PATCH" else [IsMember()]

    @extend_schema(responses={200: PolicyOut, **error_responses(401, 403)})
    def get(self, request):
        return Response(PolicyOut(_policy(request.membership.organization_id)).data)

    @extend_schema(request=PolicyIn, responses={200: PolicyOut, **CHANGE_ERRORS})
    def patch(self, request):
        policy.policy_update(actor=request.membership, data=_valid(PolicyIn, request))
        return Response(PolicyOut(_policy(request.membership.organization_id)).data)


class CategoryRuleApi(APIView):
    """PUT: set the rule of one category (replaces it). DELETE: remove it. Organisation admins."""

    permission_classes = [IsOrgAdmin]

    @extend_schema(request=CategoryRuleIn, responses={200: CategoryRuleOut, **CHANGE_ERRORS})
    def put(self, request, category_id):
        rule = policy.category_rule_set(actor=request.membership, category_id=category_id,
                                        data=_valid(CategoryRuleIn, request))
        return Response(CategoryRuleOut(rule).data)

    @extend_schema(responses={204: None, **CHANGE_ERRORS})
    def delete(self, request, category_id):
        policy.category_rule_delete(actor=request.membership, category_id=category_id)
        return Response(status=204)


class PolicyVersionListApi(ListAPIView):
    """Every version of the policy, newest first: what changed, who changed it, the whole policy after."""

    permission_classes = [IsMember]
    serializer_class = PolicyVersionOut
    queryset = PolicyVersion.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return PolicyVersion.objects.filter(organization_id=self.request.membership.organization_id).order_by(
            "-number")


# --- delegation ---------------------------------------------------------------------------------

class DelegationOut(serializers.ModelSerializer):
    delegator = serializers.CharField(source="delegator.display_name")
    delegate = serializers.CharField(source="delegate.display_name")
    is_running = serializers.SerializerMethodField()

    class Meta:
        model = Delegation
        fields = ["id", "delegator", "delegator_id", "delegate", "delegate_id", "starts_on", "ends_on", "created_at",
                  "ended_at", "is_running"]

    def get_is_running(self, obj) -> bool:
        today = obj.organization.today()
        return obj.ended_at is None and obj.starts_on <= today <= obj.ends_on


class DelegationIn(serializers.Serializer):
    delegate_id = serializers.IntegerField(min_value=1, max_value=2**62)
    starts_on = serializers.DateField(required=False, allow_null=True, help_text="Default: today.")
    ends_on = serializers.DateField(help_text="The last day (included).")


class DelegationListApi(ListAPIView):
    """GET: the delegations you gave and those you hold, newest first. POST (managers, admins):
    name a delegate until an end date; replaces your current delegation."""

    serializer_class = DelegationOut
    queryset = Delegation.objects.none()  # for the schema generator

    def get_permissions(self):
        return [IsManager()] if self.request.method == "POST" else [IsMember()]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        me = self.request.membership
        return (Delegation.objects.filter(Q(delegator=me) | Q(delegate=me), organization_id=me.organization_id)
                .select_related("delegator__user", "delegate__user", "organization").order_by("-created_at"))

    @extend_schema(request=DelegationIn, responses={201: DelegationOut, **CHANGE_ERRORS},
                   parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @idempotent
    def post(self, request):
        data = _valid(DelegationIn, request)
        created = delegations.delegation_create(actor=request.membership, **data)
        return Response(DelegationOut(created).data, status=201)


class DelegationEndApi(APIView):
    """End a delegation now (its delegator, or an organisation admin)."""

    permission_classes = [IsManager]

    @extend_schema(request=None, responses={200: DelegationOut, **CHANGE_ERRORS},
                   parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @idempotent
    def post(self, request, delegation_id):
        ended = delegations.delegation_end(actor=request.membership, delegation_id=delegation_id)
        return Response(DelegationOut(ended).data)
