from django.contrib import admin
from django.urls import include, path

from kramar.config.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("kramar.accounts.urls")),
    path("search/", include("kramar.search.urls")),
    path("audit/", include("kramar.core.urls")),
    path("history/", include("kramar.history.urls")),
    path("merge/", include("kramar.clients.merge_urls")),
    path("sales/", include("kramar.sales.urls")),
    path("", include("kramar.activities.urls")),
    path("my-day/", include("kramar.desk.urls")),
    path("control/", include("kramar.control.urls")),
    path("comms/", include("kramar.comms.urls")),
    path("", include("kramar.clients.urls")),
]
