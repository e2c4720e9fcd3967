"""Calendar pages and the iCalendar feed."""

urlpatterns: list = []
