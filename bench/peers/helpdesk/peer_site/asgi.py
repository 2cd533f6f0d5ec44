"""ASGI entry point, served by uvicorn like Protokol."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer_site.settings")
application = get_asgi_application()
