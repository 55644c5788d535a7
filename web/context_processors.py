from notifications.queries import unread_count


def unread_notifications(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_count": unread_count(user)}


def delegations(request):
    """The managers the caller stands in for today (their approvals appear in the caller's queue)."""
    from expenses.delegation import active_delegators
    from organizations.queries import membership_for_user

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = membership_for_user(user)
    return {"stands_in_for": active_delegators(membership) if membership else []}
