from kramar.core.context import reset_audit_context, set_audit_context


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR")


class AuditContextMiddleware:
    """Marks writes made while serving a request as coming from the web (the API re-marks them)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        source = "api" if request.path_info.startswith("/api/") else "web"
        token = set_audit_context(source=source, ip=client_ip(request))
        try:
            return self.get_response(request)
        finally:
            reset_audit_context(token)
