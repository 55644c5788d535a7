from django.utils.functional import SimpleLazyObject

from .queries import membership_for_user


def membership(request):
    """Every template may show the caller's membership (organisation name, currency, role); it is
    read only if the template does (a fragment swapped in by htmx does not)."""
    return {"membership": SimpleLazyObject(lambda: membership_for_user(getattr(request, "user", None)))}
