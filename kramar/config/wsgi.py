import os

from django.core.wsgi import get_wsgi_application

from kramar.core.runtime import gc_freeze_after_startup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kramar.config.settings.base")
application = get_wsgi_application()
gc_freeze_after_startup()  # see kramar.core.runtime
