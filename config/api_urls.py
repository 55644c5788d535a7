"""/api/v1/: every resource of the REST API, the OpenAPI schema and its Swagger UI."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounting import api as accounting
from audit import api as audit
from config import health
from core.auth_api import TokenApi
from events import api as events
from expenses import api as expenses
from expenses import policy_api
from notifications import api as notifications

urlpatterns = [
    path("auth/token/", TokenApi.as_view(), name="api-token"),
    path("health/", health.readyz, name="api-health"),
    path("expenses/", expenses.ExpenseListCreateApi.as_view(), name="api-expenses"),
    path("expenses/awaiting-approval/", expenses.AwaitingApprovalApi.as_view(), name="api-awaiting-approval"),
    path("expenses/bulk-approve/", expenses.ExpenseBulkApproveApi.as_view(), name="api-expenses-bulk-approve"),
    path("expenses/bulk-reject/", expenses.ExpenseBulkRejectApi.as_view(), name="api-expenses-bulk-reject"),
    path("expenses/<uuid:expense_id>/", expenses.ExpenseDetailApi.as_view(), name="api-expense"),
    path("expenses/<uuid:expense_id>/receipt/", expenses.ExpenseReceiptApi.as_view(), name="api-expense-receipt"),
    path("expenses/<uuid:expense_id>/submit/", expenses.ExpenseSubmitApi.as_view(), name="api-expense-submit"),
    path("expenses/<uuid:expense_id>/withdraw/", expenses.ExpenseWithdrawApi.as_view(), name="api-expense-withdraw"),
    path("expenses/<uuid:expense_id>/approve/", expenses.ExpenseApproveApi.as_view(), name="api-expense-approve"),
    path("expenses/<uuid:expense_id>/reject/", expenses.ExpenseRejectApi.as_view(), name="api-expense-reject"),
    path("expenses/<uuid:expense_id>/comments/", expenses.ExpenseCommentsApi.as_view(), name="api-expense-comments"),
    path("expenses/<uuid:expense_id>/return/", expenses.ExpenseReturnApi.as_view(), name="api-expense-return"),
    path("expenses/<uuid:expense_id>/timeline/", expenses.ExpenseTimelineApi.as_view(), name="api-expense-timeline"),
    path("summary/", expenses.SummaryApi.as_view(), name="api-summary"),
    path("policy/", policy_api.PolicyApi.as_view(), name="api-policy"),
    path("policy/versions/", policy_api.PolicyVersionListApi.as_view(), name="api-policy-versions"),
    path("policy/category-rules/<int:category_id>/", policy_api.CategoryRuleApi.as_view(), name="api-category-rule"),
    path("delegations/", policy_api.DelegationListApi.as_view(), name="api-delegations"),
    path("delegations/<int:delegation_id>/end/", policy_api.DelegationEndApi.as_view(), name="api-delegation-end"),
    path("reimbursements/", accounting.ReimbursementListApi.as_view(), name="api-reimbursements"),
    path("reimbursements/<uuid:reimbursement_id>/fail/", accounting.ReimbursementFailApi.as_view(),
         name="api-reimbursement-fail"),
    path("reimbursements/<uuid:reimbursement_id>/requeue/", accounting.ReimbursementRequeueApi.as_view(),
         name="api-reimbursement-requeue"),
    path("payout-batches/", accounting.PayoutBatchListApi.as_view(), name="api-payout-batches"),
    path("payout-batches/run/", accounting.PayoutRunApi.as_view(), name="api-payout-run"),
    path("payout-batches/<uuid:batch_id>/file/", accounting.PayoutBatchFileApi.as_view(), name="api-payout-file"),
    path("payout-batches/<uuid:batch_id>/confirm/", accounting.PayoutBatchConfirmApi.as_view(),
         name="api-payout-confirm"),
    path("ledger/entries/", accounting.JournalEntryListApi.as_view(), name="api-ledger-entries"),
    path("ledger/trial-balance/", accounting.TrialBalanceApi.as_view(), name="api-trial-balance"),
    path("ledger/accounts/<int:account_id>/", accounting.AccountLedgerApi.as_view(), name="api-account-ledger"),
    path("ledger/export/", accounting.JournalExportApi.as_view(), name="api-journal-export"),
    path("notifications/", notifications.NotificationListApi.as_view(), name="api-notifications"),
    path("notifications/preferences/", notifications.PreferenceListApi.as_view(), name="api-notification-preferences"),
    path("notifications/preferences/<str:kind>/", notifications.PreferenceApi.as_view(),
         name="api-notification-preference"),
    path("notifications/read-all/", notifications.NotificationReadAllApi.as_view(), name="api-notifications-read-all"),
    path("notifications/<uuid:notification_id>/read/", notifications.NotificationReadApi.as_view(),
         name="api-notification-read"),
    path("audit/", audit.AuditTrailApi.as_view(), name="api-audit"),
    path("audit/verify/", audit.AuditVerifyApi.as_view(), name="api-audit-verify"),
    path("events/", events.EventListApi.as_view(), name="api-events"),
    path("deliveries/", events.DeliveryListApi.as_view(), name="api-deliveries"),
    path("deliveries/replay/", events.DeliveryReplayApi.as_view(), name="api-deliveries-replay"),
    path("deliveries/<int:delivery_id>/replay/", events.DeliveryReplayOneApi.as_view(), name="api-delivery-replay"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
