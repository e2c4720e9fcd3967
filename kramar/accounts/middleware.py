from django.utils import translation


class UserLanguageMiddleware:
    """Puts the signed-in user's chosen language in front of the browser's, for LocaleMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # The session is loaded here; the user isn't yet, so the language is cached in the session
        # on login and on profile change (accounts.services.user_set_language).
        lang = request.session.get("kramar_language") if hasattr(request, "session") else None
        if lang:
            request.COOKIES[translation.trans_real.settings.LANGUAGE_COOKIE_NAME] = lang
        return self.get_response(request)
