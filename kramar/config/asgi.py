import os

from django.core.asgi import get_asgi_application

from kramar.core.runtime import gc_freeze_after_startup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kramar.config.settings.base")
application = get_asgi_application()
gc_freeze_after_startup()  # each worker imports this module once, after loading the whole application
