"""HTML forms: text fields whose parsing is containers_app.validation's, errors per field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django import forms

from containers_app import validation
from containers_app.validation import SpecInvalid
from dashboard.quotas import Limits

RESTART_CHOICES = [
    ("no", "no"),
    ("unless-stopped", "unless-stopped"),
    ("always", "always"),
    ("on-failure", "on-failure"),
]


def _text(label: str, help_text: str = "", placeholder: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.TextInput(attrs={"placeholder": placeholder, "autocomplete": "off"}),
    )


def _lines(label: str, help_text: str, placeholder: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": placeholder, "spellcheck": "false"}),
    )


class ParsedForm(forms.Form):
    """A form whose `clean` hands the raw text to one validation function."""

    def parse(self, data: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            self.parsed = self.parse(data)
        except SpecInvalid as exc:
            for field, message in exc.errors.items():
                self.add_error(field if field in self.fields else None, message)
        return data


class ContainerCreateForm(ParsedForm):
    image = _text("Image", "a local image (type to pick)", "busybox")
    tag = _text("Tag", "empty: the tag in the image field, else latest", "latest")
    name = _text("Name", "letters, digits, _ . - (empty: a generated name)", "web1")
    command = _text("Command", "split like a shell would", "sleep 3600")
    ports = _lines("Ports", "host:container/protocol, one per line", "8080:80/tcp")
    volumes = _lines("Volumes", "volume-name:/target or /host/path:/target, add :ro", "data:/data")
    env = _lines("Environment", "KEY=VALUE, one per line", "GREETING=hi")
    labels = _lines("Labels", "key=value, one per line", "course=os101")
    network = _text("Network", "empty: the default bridge", "bridge")
    restart_policy = forms.ChoiceField(
        label="Restart policy", choices=RESTART_CHOICES, initial="no"
    )
    memory = _text("Memory limit", "e.g. 256m or 1g (at least 6m)")
    cpus = _text("CPUs", "e.g. 0.5")
    pids_limit = _text("PIDs limit", "most processes at once")
    auto_remove = forms.BooleanField(label="Remove when it stops (--rm)", required=False)
    start = forms.BooleanField(label="Start now", required=False, initial=True)

    def __init__(self, *args: Any, host_cpus: int, limits: Limits, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.host_cpus = host_cpus
        self.fields["cpus"].help_text = f"e.g. 0.5 (this host has {host_cpus})"
        self.fields["image"].widget.attrs["list"] = "image-choices"
        self.fields["network"].widget.attrs["list"] = "network-choices"
        # An empty limit gets the user's default (quotas.apply_defaults): say which.
        memory, cpus, pids = (
            limits.memory_per_container,
            limits.cpus_per_container,
            limits.pids_per_container,
        )
        self._show_default("memory", validation.format_memory(memory) if memory else "")
        self._show_default("cpus", f"{cpus:g}" if cpus else "")
        self._show_default("pids_limit", str(pids) if pids else "")

    def _show_default(self, name: str, default: str) -> None:
        field = self.fields[name]
        said = f"empty: {default}, your default" if default else "empty: no limit"
        field.help_text = f"{field.help_text}; {said}"
        field.widget.attrs["placeholder"] = default or "no limit"

    def parse(self, data: Mapping[str, Any]) -> Any:
        return validation.parse_create(data, host_cpus=self.host_cpus)


def parsed_form(
    parse: Callable[[Mapping[str, Any]], Any], **fields: forms.Field
) -> type[ParsedForm]:
    """A ParsedForm with `fields` whose parsing is `parse`."""
    return type("Form", (ParsedForm,), {**fields, "parse": lambda self, data: parse(data)})


NetworkCreateForm = parsed_form(
    validation.parse_network_create,
    name=_text("Name", "", "appnet"),
    subnet=_text("Subnet", "optional", "172.30.0.0/16"),
    gateway=_text("Gateway", "optional", "172.30.0.1"),
    internal=forms.BooleanField(label="Internal (no outside access)", required=False),
    labels=_lines("Labels", "key=value, one per line", "course=os101"),
)
VolumeCreateForm = parsed_form(
    validation.parse_volume_create,
    name=_text("Name", "empty: a generated name", "data"),
    labels=_lines("Labels", "key=value, one per line", "course=os101"),
)
TagForm = parsed_form(
    validation.parse_tag,
    repository=_text("Repository", "", "team/app"),
    tag=_text("Tag", "", "v1"),
)
RenameForm = parsed_form(validation.parse_rename, name=_text("New name", "", "web2"))
ConnectForm = parsed_form(
    validation.parse_connect,
    container=forms.CharField(
        label="Container",
        required=False,
        widget=forms.TextInput(attrs={"list": "container-choices", "placeholder": "web1"}),
    ),
    aliases=_text("Alias", "optional", "db"),
)
