"""API tokens, each person's own: the page that makes, lists and revokes them (admins also
revoke anyone's, from the user's page), and the same in the JSON API.

A new token's key is in the answer that made it and nowhere else (no cache may keep it).
Making and revoking are audited. Through the API a token makes tokens only if it is
read-write (read-only ones change nothing), and never one that outlives it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard import api_tokens
from dashboard.audit import audited
from dashboard.endpoints import Endpoint, Op
from dashboard.models import ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, widget=forms.TextInput({"placeholder": "e.g. lab backup script"})
    )
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ_ONLY)
    days = forms.IntegerField(label="Lifetime (days)", min_value=1)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        days = self.fields["days"]
        days.initial = settings.API_TOKEN_DAYS
        days.widget.attrs["max"] = settings.API_TOKEN_MAX_DAYS

    def clean_days(self) -> int:
        days: int = self.cleaned_data["days"]
        error = api_tokens.lifetime_error(days)
        if error:
            raise ValidationError(error)
        return days


def _issue(request: Any, name: str, scope: str, days: int) -> tuple[ApiToken, str]:
    """A new token of the user, audited; made with a token, it expires no later than that."""
    via = request.auth if isinstance(getattr(request, "auth", None), ApiToken) else None
    with audited(request, "token.create", target_kind="token", target_name=name) as row:
        token, key = api_tokens.issue(
            request.user, name, scope, days, not_after=via.expires if via else None
        )
        made_with = {"made_with": via.prefix} if via is not None else {}
        row.update(target_id=str(token.pk), params=api_tokens.described(token) | made_with)
    return token, key


def _revoke(request: Any, pk: int, *, anyones: bool) -> ApiToken:
    """Revoke token `pk` of the user (`anyones`: an admin may revoke anybody's), audited."""
    with audited(request, "token.revoke", target_kind="token", target_id=str(pk)) as row:
        token = api_tokens.token_for(request.user, pk, anyones=anyones)
        row.update(
            target_name=token.name,
            params={"prefix": token.prefix, "owner": token.owner.get_username()},
        )
        api_tokens.revoke(token)
    return token


def _no_store(response: Any) -> Any:
    # A new key is in this answer only: no cache may keep a copy.
    patch_cache_control(response, no_store=True, private=True)
    return response


# ---------------------------------------------------------------- pages


@require_http_methods(["GET", "POST"])
def my_tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST if request.method == "POST" else None)
    made: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        made["new_token"], made["new_key"] = _issue(
            request, data["name"], data["scope"], data["days"]
        )
        form = TokenForm()
    context = {
        "form": form,
        "tokens": api_tokens.tokens_of(request.user),
        "api_url": request.build_absolute_uri("/api/v1/engine/"),
        **made,
    }
    status_code = 400 if form.is_bound and not form.is_valid() else 200
    return _no_store(render(request, "dashboard/api_tokens.html", context, status=status_code))


@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = _revoke(request, pk, anyones=True)
    messages.success(request, f"Token {token.name} ({token.prefix}) is revoked.")
    if token.owner_id == request.user.pk:
        return redirect("api-tokens")
    return redirect("user-detail", pk=token.owner_id)


# ---------------------------------------------------------------- JSON API


class TokenSerializer(serializers.ModelSerializer):
    days = serializers.IntegerField(
        write_only=True, required=False, help_text="lifetime; the default is the site's"
    )
    state = serializers.CharField(read_only=True, help_text="active, expired or revoked")

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scope",
            "created",
            "expires",
            "last_used",
            "last_used_addr",
            "revoked",
            "state",
            "days",
        ]
        read_only_fields = [
            "prefix",
            "created",
            "expires",
            "last_used",
            "last_used_addr",
            "revoked",
        ]

    def validate_days(self, days: int) -> int:
        error = api_tokens.lifetime_error(days)
        if error:
            raise serializers.ValidationError(error)
        return days


def _create_token(request: Request) -> Response:
    body = TokenSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    scope = data.get("scope", ApiToken.Scope.READ_ONLY)
    token, key = _issue(request, data["name"], scope, data.get("days", settings.API_TOKEN_DAYS))
    answer = {**TokenSerializer(token).data, "key": key}
    return _no_store(Response(answer, status=status.HTTP_201_CREATED))


def _revoke_own(request: Request, pk: int) -> None:
    _revoke(request, pk, anyones=False)


ENDPOINTS = [
    Endpoint(
        "api/v1/tokens/",
        "api-tokens-list",
        get=Op(
            "Your API tokens (never their keys)",
            lambda request: TokenSerializer(api_tokens.tokens_of(request.user), many=True).data,
            response=TokenSerializer(many=True),
            operation_id="v1_tokens_list",
        ),
        post=Op(
            "Make an API token: its key is in this answer only",
            _create_token,
            request=TokenSerializer,
            status=status.HTTP_201_CREATED,
            operation_id="v1_tokens_create",
        ),
    ),
    Endpoint(
        "api/v1/tokens/<int:pk>/",
        "api-token",
        delete=Op(
            "Revoke one of your API tokens",
            _revoke_own,
            status=status.HTTP_204_NO_CONTENT,
        ),
    ),
]
