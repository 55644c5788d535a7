from .queries import membership_for_user


def membership(request):
    """Every template sees the caller's membership (organisation name, currency, role)."""
    return {"membership": membership_for_user(getattr(request, "user", None))}
