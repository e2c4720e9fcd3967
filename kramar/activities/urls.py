from kramar.activities import calendar_urls, task_urls

app_name = "activities"

urlpatterns = [*task_urls.urlpatterns, *calendar_urls.urlpatterns]
