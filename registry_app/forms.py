"""Forms of the registry pages; they validate, the services act."""

from __future__ import annotations

from typing import Any

from django import forms

from dashboard import access
from dashboard.access import Perm
from registry_app import buildctx, refs
from registry_app.models import Credential, Registry
from registry_app.services import Invalid, check_registry_url, parse_build_args, usable_registries


class RegistryForm(forms.ModelForm):
    """A registry and its own login (the one admins use; shared for pulls if they say so)."""

    username = forms.CharField(
        max_length=150, required=False, help_text="Leave empty for anonymous access."
    )
    # Write-only: never rendered back; left empty on edit, the stored one stays.
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Password or access token. Stored encrypted; never shown again.",
    )
    credentials_scope = forms.ChoiceField(
        choices=Credential.Scope.choices,
        initial=Credential.Scope.PERSONAL,
        label="Who may use this login",
        help_text="Personal: admins only. Shared for pulls: everyone allowed to use this "
        "registry pulls with it (a push never uses it for a non-admin).",
    )

    class Meta:
        model = Registry
        fields = ["name", "url", "username", "password", "credentials_scope", "allow_non_admins"]
        help_texts = {
            "url": "e.g. https://registry.example.org, or http://127.0.0.1:5000 for a local one.",
        }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial.setdefault("username", self.instance.username)
            self.initial.setdefault("credentials_scope", self.instance.credentials_scope)
            if self.instance.has_password:
                self.fields[
                    "password"
                ].help_text = (
                    "A password is stored. Leave empty to keep it, or type a new one to replace it."
                )

    def clean_url(self) -> str:
        try:
            return check_registry_url(self.cleaned_data["url"])
        except Invalid as exc:
            raise forms.ValidationError(exc.message) from None

    def save(self, commit: bool = True) -> Registry:
        registry = super().save(commit=True)
        data = self.cleaned_data
        registry.set_own_credential(
            data.get("username") or "", data.get("password") or None, data["credentials_scope"]
        )
        return registry


class CredentialForm(forms.Form):
    """A user's own login for one registry."""

    username = forms.CharField(max_length=150)
    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted; never shown again.",
    )
    scope = forms.ChoiceField(choices=Credential.Scope.choices, initial=Credential.Scope.PERSONAL)


def _registry_choices(required: bool) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=Registry.objects.all(),
        required=required,
        empty_label=None if required else "(from the image name, else Docker Hub)",
    )


def _offer_usable_registries(form: forms.Form, user: Any) -> None:
    # A non-admin is offered only the registries they may use; others are refused anyway.
    if user is not None and not access.can(user, Perm.MANAGE_REGISTRIES):
        field = form.fields["registry"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = usable_registries(user)


class PullForm(forms.Form):
    image = forms.CharField(
        max_length=512, help_text="repository[:tag], e.g. myteam/app:1.0 or busybox:latest"
    )
    registry = _registry_choices(required=False)

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _offer_usable_registries(self, user)

    def clean_image(self) -> str:
        text = self.cleaned_data["image"]
        try:
            refs.parse(text)
        except refs.InvalidReference as exc:
            raise forms.ValidationError(exc.message) from None
        return text.strip()


class PushForm(forms.Form):
    image = forms.CharField(
        max_length=512,
        help_text="a local image: name:tag or id",
        widget=forms.TextInput(attrs={"list": "local-images", "autocomplete": "off"}),
    )
    registry = _registry_choices(required=True)
    repository = forms.CharField(max_length=255, help_text="e.g. yourname/app")
    tag = forms.CharField(max_length=128, initial="latest")

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _offer_usable_registries(self, user)

    def clean_repository(self) -> str:
        try:
            return refs.check_repository(self.cleaned_data["repository"].strip())
        except refs.InvalidReference as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_tag(self) -> str:
        try:
            return refs.check_tag(self.cleaned_data["tag"].strip())
        except refs.InvalidReference as exc:
            raise forms.ValidationError(exc.message) from None


class BuildForm(forms.Form):
    tag = forms.CharField(max_length=512, help_text="the name of the new image, e.g. myapp:dev")
    dockerfile_file = forms.FileField(
        required=False, label="Dockerfile", help_text="a lone Dockerfile (no files to COPY)"
    )
    context = forms.FileField(
        required=False,
        label="Build context",
        help_text="or a .tar, .tar.gz or .zip holding the Dockerfile and the files it uses",
    )
    dockerfile = forms.CharField(
        max_length=255,
        initial="Dockerfile",
        required=False,
        label="Dockerfile path in the context",
    )
    build_args = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "NAME=value, one per line"}),
        label="Build arguments",
    )

    def clean_tag(self) -> str:
        try:
            ref = refs.parse(self.cleaned_data["tag"], field="tag")
        except refs.InvalidReference as exc:
            raise forms.ValidationError(exc.message) from None
        if ref.digest:
            raise forms.ValidationError("A build tag cannot carry a digest.")
        return str(ref)

    def clean_build_args(self) -> dict[str, str]:
        try:
            return parse_build_args(self.cleaned_data.get("build_args") or "")
        except Invalid as exc:
            raise forms.ValidationError(exc.message) from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        lone, archive = data.get("dockerfile_file"), data.get("context")
        if bool(lone) == bool(archive):
            raise forms.ValidationError("Upload either a Dockerfile or a build context archive.")
        try:
            if archive:
                data["context_tar"] = buildctx.context_from_archive(
                    archive.read(), data.get("dockerfile") or "Dockerfile"
                )
            elif lone is not None:
                data["context_tar"] = buildctx.context_from_dockerfile(lone.read())
                data["dockerfile"] = "Dockerfile"
        except buildctx.BadContext as exc:
            field = exc.field if exc.field in self.fields else "context"
            self.add_error(field, exc.message)
        return data


class SearchForm(forms.Form):
    q = forms.CharField(max_length=100, label="Search Docker Hub")
