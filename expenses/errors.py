"""The refusals of expense commands: each a stable code, a human message and an HTTP status."""

from core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed


class ExpenseNotFound(NotFound):
    code = "not_found"


class NotOwner(PermissionDenied):
    code = "not_owner"


class NotAnApprover(PermissionDenied):
    code = "not_an_approver"


class OwnExpense(PermissionDenied):
    code = "own_expense"


class InvalidState(Conflict):
    code = "invalid_state"


class ConcurrentChange(Conflict):
    code = "conflict"


class InsufficientBudget(Conflict):
    code = "insufficient_budget"


class ReceiptRequired(ValidationFailed):
    code = "receipt_required"


class InvalidReceipt(ValidationFailed):
    code = "invalid_receipt"


class InvalidAmount(ValidationFailed):
    code = "invalid_amount"


class AmountTooLarge(ValidationFailed):
    code = "amount_too_large"


class FutureDate(ValidationFailed):
    code = "future_date"


class TooOld(ValidationFailed):
    code = "too_old"


class ReasonRequired(ValidationFailed):
    code = "reason_required"


class InvalidField(ValidationFailed):
    code = "invalid"


class CategoryAmountExceeded(ValidationFailed):
    code = "category_amount_exceeded"


class CategoryReceiptRequired(ValidationFailed):
    code = "category_receipt_required"


class CategoryTooOld(ValidationFailed):
    code = "category_too_old"


class PossibleDuplicate(Conflict):
    """A warning the employee answers by confirming "not a duplicate" (never a silent block)."""

    code = "possible_duplicate"


class RuleNotFound(NotFound):
    code = "not_found"


class InvalidDelegation(ValidationFailed):
    code = "invalid_delegation"


class DelegationNotFound(NotFound):
    code = "not_found"


__all__ = [name for name, value in dict(globals()).items() if isinstance(value, type)
           and issubclass(value, DomainError)]
