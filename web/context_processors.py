"""What every page's frame (base.html: the navigation) shows, read only if the template shows it.

Each value is lazy: a fragment that htmx swaps in (the status box polled every 1.5 s, a decision
panel) renders no navigation, and so costs none of these queries. The unread count is the
exception: it is read with the session's user, as the request starts (``web/apps.py``), a
subquery of that statement rather than a statement of its own, so every request pays its index
lookup and no page a round trip."""

from django.utils.functional import SimpleLazyObject

from expenses.delegation import active_delegators
from notifications.queries import unread_count
from organizations.queries import membership_for_user


def unread_notifications(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    counted = getattr(user, "unread_count", None)  # read with the session's user (web/apps.py)
    if counted is not None:
        return {"unread_count": counted}
    return {"unread_count": SimpleLazyObject(lambda: unread_count(user))}


def delegations(request):
    """The managers the caller stands in for today (their approvals appear in the caller's queue)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def stands_in_for():
        membership = membership_for_user(user)
        return active_delegators(membership) if membership else []

    return {"stands_in_for": SimpleLazyObject(stands_in_for)}
