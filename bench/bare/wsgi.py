"""WSGI entry point of the bare reference app (``bench.bare.wsgi:application``)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

# Its own settings whatever the environment names: the bench's processes carry Tally's.
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.bare.settings"

application = get_wsgi_application()
