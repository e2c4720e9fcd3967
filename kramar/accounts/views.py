"""Sign in and out, the profile page: language and personal API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kramar.accounts.forms import ApiTokenCreateForm, ApiTokenRevokeForm, LanguageForm
from kramar.accounts.models import ApiToken
from kramar.accounts.services import api_token_create, api_token_revoke, user_set_language


class KramarLoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        # Keep the user's language in the session, where UserLanguageMiddleware reads it.
        self.request.session["kramar_language"] = self.request.user.language
        translation.activate(self.request.user.language)
        return response


class KramarLogoutView(auth_views.LogoutView):
    pass


def _profile_context(request, **extra):
    return {
        "language_form": LanguageForm(initial={"language": request.user.language}),
        "token_form": ApiTokenCreateForm(),
        "tokens": ApiToken.objects.filter(user=request.user).order_by("-created_at")[:100],
        **extra,
    }


@login_required
def profile(request):
    """The profile page; a POST here creates an API token, whose plain value is shown in this response
    only (it is never stored). Posting to the page's own URL keeps the address a GET can reload."""
    if request.method != "POST":
        return render(request, "accounts/profile.html", _profile_context(request))
    form = ApiTokenCreateForm(request.POST)
    created = plain = None
    if form.is_valid():
        created, plain = api_token_create(user=request.user, name=form.cleaned_data["name"])
        form = ApiTokenCreateForm()
    context = _profile_context(request, token_form=form, created_token=created, plain_token=plain)
    return render(request, "accounts/profile.html", context)


def _safe_next(request, url: str | None) -> str | None:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return None


@require_POST
@login_required
def language_set(request):
    form = LanguageForm(request.POST)
    if form.is_valid():
        user_set_language(user=request.user, language=form.cleaned_data["language"], request=request)
        translation.activate(form.cleaned_data["language"])
        messages.success(request, _("Language changed."))
    else:
        messages.error(request, _("Unknown language."))
    return redirect(_safe_next(request, form.data.get("next")) or "accounts:profile")


@require_POST
@login_required
def token_revoke(request):
    form = ApiTokenRevokeForm(request.POST)
    if form.is_valid() and api_token_revoke(user=request.user, token_id=form.cleaned_data["token_id"]):
        messages.success(request, _("The token was revoked."))
    else:
        messages.error(request, _("No such active token."))
    return redirect("accounts:profile")
