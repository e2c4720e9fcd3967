"""Task pages (owned by the tasks module)."""

urlpatterns: list = []
