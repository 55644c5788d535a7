"""ASGI entry point: HTTP through Django, websockets through Channels (session-authenticated)."""

import os

from config.asgi_handler import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django runs each ASGI request in a thread of its own (asgiref's ThreadSensitiveContext), so a
# persistent connection (CONN_MAX_AGE) is never reused: it stays open until its dead thread is
# collected, and under concurrent load PostgreSQL ran out of connection slots (issue 9: 503s at
# concurrency 32). A connection per request instead costs a PostgreSQL backend start on every
# request. The web process therefore uses a pool (DATABASE_POOL, psycopg_pool through Django's
# own support): a request borrows an open connection and gives it back when it finishes. Only
# when this module loads the settings (the web server), not in a process that already has them
# (a test); DATABASE_POOL=0 in the environment turns it off.
from django.conf import settings as _settings

if not _settings.configured:
    os.environ.setdefault("DATABASE_POOL", "1")

# Django must be set up before the consumers (and their models) are imported.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.health import liveness_first  # noqa: E402
from core.body_limit import RequestBodyLimit  # noqa: E402
from core.origin import SameOriginValidator  # noqa: E402
from web.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Bodies are bounded before Django reads them (413 in the error shape, core/body_limit.py).
        "http": liveness_first(RequestBodyLimit(django_asgi_app)),
        # Origin: scheme, host and port (Channels' own validator compares the host name only).
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

from config.memory import freeze_startup_objects  # noqa: E402

freeze_startup_objects()  # the start-up objects leave the collector's full passes (config/memory.py)
