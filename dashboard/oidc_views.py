"""The two pages of a sign-in through the OpenID Connect provider (dashboard.oidc): the start,
which sends the browser to the provider, and the callback the provider sends it back to.

Whatever goes wrong (the provider down, the person refusing, a stale or forged state, an
answer that does not verify, a locked or disabled account) ends on the login page with a
message saying so, never on an error page.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.generic import View
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
    get_next_url,
)

from dashboard import audit, oidc

log = logging.getLogger(__name__)


def back_to_login(request: HttpRequest, message: str, next_url: str | None) -> HttpResponse:
    """The login page again, with `message` on it (and where to go after, if it was said)."""
    messages.error(request, message)
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    return HttpResponseRedirect(reverse("login") + query)


class SignInStart(OIDCAuthenticationRequestView):
    """Sends the browser to the provider's authorization endpoint, from its discovery."""

    def __init__(self, **kwargs: Any) -> None:
        # The endpoint is read from the provider when a sign-in starts, not from settings.
        View.__init__(self, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc.enabled():
            raise Http404("signing in through a provider is not configured")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc.provider().authorization_endpoint
        except oidc.SignInFailed as exc:
            return back_to_login(request, exc.message, get_next_url(request, "next"))
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        response: HttpResponse = super().get(request)
        return response


class SignInCallback(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back: signed in, or the login page saying why not."""

    failure = ""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc.enabled():
            raise Http404("signing in through a provider is not configured")
        name = oidc.provider_name()
        if request.GET.get("error"):
            # The library forgets the state and signs nobody in; the message is ours.
            why = request.GET.get("error_description") or request.GET["error"]
            self.failure = f"{name} did not sign you in: {why[:300]}"
        elif request.GET.get("state", "") not in request.session.get("oidc_states", {}):
            # The library would answer a bare 400 page.
            self.failure = (
                f"This sign-in with {name} has expired, was used already or began in another "
                "browser. Start again with the button."
            )
            return self.login_failure()
        try:
            response: HttpResponse = super().get(request)
            return response
        except oidc.SignInFailed as exc:
            self.failure = exc.message
            if exc.username:  # the provider vouched for a name: a refused login of theirs
                audit.record(
                    request,
                    "login_failed",
                    target_kind="user",
                    target_name=exc.username,
                    params={"username": exc.username, "source": oidc.SOURCE},
                    error=exc.message,
                )
        except SuspiciousOperation as exc:
            log.warning("OpenID sign-in refused: %s", exc)
            self.failure = (
                f"The answer from {name} could not be verified, so you are not signed in. "
                "Try again; if it happens again, tell an admin."
            )
        return self.login_failure()

    def login_failure(self) -> HttpResponse:
        message = self.failure or f"Signing in with {oidc.provider_name()} did not finish."
        return back_to_login(self.request, message, self.request.session.get("oidc_login_next"))
