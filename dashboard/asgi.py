"""ASGI entry point: HTTP through Django, websockets through Channels."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
django_asgi_app = get_asgi_application()

# Consumers import models, so they are imported only once Django is set up.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from classes_app import culling  # noqa: E402
from containers_app import alerts, history, stats  # noqa: E402
from containers_app.socket_count import CountOpenSockets  # noqa: E402
from dashboard.middleware import EngineScopeMiddleware, UserFactsMiddleware  # noqa: E402
from dashboard.routing import websocket_urlpatterns  # noqa: E402
from registry_app import recovery  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": CountOpenSockets(
            AllowedHostsOriginValidator(
                AuthMiddlewareStack(
                    UserFactsMiddleware(EngineScopeMiddleware(URLRouter(websocket_urlpatterns)))
                )
            )
        ),
    }
)

# The end-of-lesson culler: a thread in each server process, one of them checks per host.
culling.start()
# Stats history: a thread in each server process, one of them writes per host (every engine).
history.start(stats.each_sampler)
# Alerts: a thread in each server process, one of them evaluates per host.
alerts.start(stats.sampler_for())
# Jobs left running by a process that is gone are failed: at start, then now and then.
recovery.start()
