"""The one REST API, mounted at /api/v1/: a router per app, one authentication, one error shape.

Auth: a personal token (`Authorization: Bearer kr_…`) or the browser session (CSRF on unsafe methods).
Errors: every failure is `application/problem+json` with `type`, `title`, `status`, `detail`, `code`
(and `errors: [{field, message}]` for invalid input). Docs: /api/v1/docs (Swagger UI served locally)."""

from django.core.exceptions import ObjectDoesNotExist
from ninja import NinjaAPI

from kramar.accounts.api import router as accounts_router
from kramar.activities.api import router as activities_router
from kramar.clients.api import router as clients_router
from kramar.clients.merge_api import router as merge_router
from kramar.comms.api import router as comms_router
from kramar.comms.webhooks import router as comms_hooks_router
from kramar.core.api import router as core_router
from kramar.core.api_support import API_AUTH, OfflineSwagger, SafeParser, install_error_handlers, on_not_found
from kramar.history.api import router as history_router
from kramar.sales.api import router as sales_router
from kramar.search.api import router as search_router

api = NinjaAPI(
    title="Kramar API",
    version="1",
    description=__doc__,
    auth=API_AUTH,
    docs=OfflineSwagger(),
    urls_namespace="api-1",
    parser=SafeParser(),
)
install_error_handlers(api)
api.add_exception_handler(ObjectDoesNotExist, on_not_found)  # a record left the caller's scope mid-request

api.add_router("/", clients_router)
api.add_router("/", history_router)
api.add_router("/", core_router)
api.add_router("/", accounts_router)
api.add_router("/", search_router)
api.add_router("/", merge_router)
api.add_router("/", sales_router)
api.add_router("/", activities_router)
api.add_router("/comms/", comms_router)
api.add_router("/comms/hooks/", comms_hooks_router)
