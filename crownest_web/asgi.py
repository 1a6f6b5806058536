import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crownest_web.settings")

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from crownest_web.ingress import IngressGuard  # noqa: E402
from runs.stream.routing import websocket_urlpatterns  # noqa: E402
from runs.stream.wsauth import BrowserOriginValidator, TokenOrSessionAuthMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": IngressGuard(django_app),
        "websocket": BrowserOriginValidator(
            TokenOrSessionAuthMiddleware(URLRouter(websocket_urlpatterns))
        ),
    }
)
