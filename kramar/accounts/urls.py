from django.urls import path

from kramar.accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.KramarLoginView.as_view(), name="login"),
    path("logout/", views.KramarLogoutView.as_view(), name="logout"),
    path("profile/", views.profile, name="profile"),
    path("profile/language/", views.language_set, name="language"),
    path("profile/tokens/revoke/", views.token_revoke, name="token-revoke"),
]
