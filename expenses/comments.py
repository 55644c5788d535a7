"""Questions and comments on an expense, and returning a submission to its employee with a
question. Anyone who may see an expense may write in its thread; returning is an approver's
decision with the same checks as rejecting. Both publish their event (``expense.commented``,
``expense.returned``) in the same transaction as the row; the audit trail and notifications
subscribe to them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import transaction

from events.publishing import publish
from organizations.models import Membership

from . import errors
from .events import ExpenseCommented, ExpenseReturned
from .models import Comment, CommentKind, Expense, ExpenseState
from .queries import expense_detail
from .services import _bump, _check_version, _facts, _lock, approver_user_ids, check_approvable, check_approver

MAX_BODY = 2000


def clean_body(value: Any, field: str = "body") -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise errors.InvalidField("Write something first." if field == "body" else "Say what you want to know.",
                                  details={"field": field})
    if len(text) > MAX_BODY:
        raise errors.InvalidField(f"At most {MAX_BODY} characters.", details={"field": field})
    return text


def comments_for(actor: Membership, expense_id: UUID | str):
    """The thread of an expense the actor may see, oldest first (NotFound otherwise)."""
    expense = _visible(actor, expense_id)
    return expense, list(Comment.objects.filter(expense=expense).select_related("author__user"))


def _visible(actor: Membership, expense_id: UUID | str) -> Expense:
    return expense_detail(actor, expense_id)  # not_found for another's or an invisible expense


def _participants(expense: Expense, author: Membership) -> list[int]:
    earlier = Comment.objects.filter(expense=expense).values_list("author__user_id", flat=True)
    users = [expense.employee.user_id, *approver_user_ids(expense.employee), *earlier]
    return sorted(set(users) - {author.user_id})


@transaction.atomic
def comment_add(*, actor: Membership, expense_id: UUID | str, body: Any) -> Comment:
    """Add ``body`` to the thread of an expense the actor may see; publishes ``expense.commented``.
    Refuses an empty or too long body (invalid) and an expense the actor may not see (not_found)."""
    text = clean_body(body)
    _visible(actor, expense_id)
    expense = _lock(actor, expense_id)
    comment = Comment.objects.create(expense=expense, organization_id=expense.organization_id, author=actor,
                                     body=text)
    publish(ExpenseCommented(**_facts(expense), comment_id=comment.pk, author_user_id=actor.user_id,
                             author_name=actor.display_name, body=text,
                             participant_user_ids=_participants(expense, actor)),
            organization_id=expense.organization_id, actor_id=actor.user_id)
    return comment


@transaction.atomic
def expense_return(*, actor: Membership, expense_id: UUID | str, reason: Any,
                   expected_version: int | None = None) -> Expense:
    """Send a submitted expense back to its employee as a draft with a question (``reason``).
    Same approver rules as rejecting: not one's own, an approver of the next step, a submitted
    expense (a decided one is a conflict). Its approvals so far are dropped; the employee answers
    in the thread and submits again. Publishes ``expense.returned``."""
    question = clean_body(reason, "reason")
    expense = _lock(actor, expense_id)
    _check_version(expense, expected_version)
    step, _, done = check_approvable(expense)
    on_behalf_of = check_approver(actor, expense, step, done)
    comment = Comment.objects.create(expense=expense, organization_id=expense.organization_id, author=actor,
                                     kind=CommentKind.QUESTION, body=question)
    expense.approvals.all().delete()
    expense.state = ExpenseState.DRAFT
    expense.submitted_at = None
    _bump(expense, "state", "submitted_at")
    publish(ExpenseReturned(**_facts(expense), comment_id=comment.pk, returned_by_user_id=actor.user_id,
                            returned_by_name=actor.display_name, question=question,
                            on_behalf_of_user_id=on_behalf_of.user_id if on_behalf_of else None,
                            on_behalf_of_name=on_behalf_of.display_name if on_behalf_of else ""),
            organization_id=expense.organization_id, actor_id=actor.user_id)
    return expense
