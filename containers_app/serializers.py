"""API request bodies. Their parsing is containers_app.validation's, as the forms'; the
declared fields document the body in the OpenAPI schema."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rest_framework import serializers

from containers_app import validation
from containers_app.engine.system import host_cpus
from containers_app.swarm import AVAILABILITY_ACTIONS
from containers_app.validation import SpecInvalid


class ParsedSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Validation is one call to a containers_app.validation function on the raw body."""

    def parse(self, data: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"body": "expected a JSON object"})
        try:
            return {"parsed": self.parse(data)}
        except SpecInvalid as exc:
            raise serializers.ValidationError(exc.errors) from None


class PortSerializer(serializers.Serializer):  # type: ignore[type-arg]
    container_port = serializers.IntegerField(min_value=1, max_value=65535)
    host_port = serializers.IntegerField(min_value=1, max_value=65535, required=False)
    protocol = serializers.ChoiceField(choices=validation.PROTOCOLS, default="tcp")
    host_ip = serializers.CharField(required=False)


class VolumeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    source = serializers.CharField(help_text="a volume name, or an absolute host path (admins)")
    target = serializers.CharField()
    read_only = serializers.BooleanField(default=False)


class ContainerCreateSerializer(ParsedSerializer):
    image = serializers.CharField(help_text="e.g. busybox:latest")
    name = serializers.CharField(required=False)
    command = serializers.JSONField(required=False, help_text="a list of strings, or a string")
    env = serializers.JSONField(required=False, help_text='{"KEY": "value"} or ["KEY=value"]')
    ports = PortSerializer(many=True, required=False)
    volumes = VolumeSerializer(many=True, required=False)
    network = serializers.CharField(required=False)
    memory = serializers.CharField(required=False, help_text="256m, 1g, ... (at least 6m)")
    cpus = serializers.FloatField(required=False, help_text="0.01 up to the host's CPUs")
    pids_limit = serializers.IntegerField(required=False, min_value=1)
    restart_policy = serializers.CharField(
        required=False, help_text="no, always, unless-stopped, on-failure[:N]"
    )
    labels = serializers.DictField(child=serializers.CharField(), required=False)
    working_dir = serializers.CharField(required=False, help_text="an absolute path, e.g. /work")
    user = serializers.CharField(required=False, help_text="1000, app, 1000:1000")
    auto_remove = serializers.BooleanField(required=False)
    start = serializers.BooleanField(required=False, default=True)

    privileged = serializers.BooleanField(required=False, help_text="admins only")
    cap_add = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="admins only"
    )
    devices = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="admins only"
    )
    security_opt = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="admins only, but no-new-privileges",
    )
    pid_mode = serializers.CharField(required=False, help_text="admins only")
    ipc_mode = serializers.CharField(
        required=False, help_text="private, shareable, none; else admins"
    )
    uts_mode = serializers.CharField(required=False, help_text="admins only")
    userns_mode = serializers.CharField(required=False, help_text="admins only")
    cgroup_parent = serializers.CharField(required=False, help_text="admins only")
    sysctls = serializers.DictField(
        child=serializers.CharField(), required=False, help_text="admins only"
    )

    def parse(self, data: Mapping[str, Any]) -> Any:
        unknown = validation.unknown_create_keys(data)
        if unknown:
            raise SpecInvalid(unknown)
        return validation.parse_create(data, host_cpus=host_cpus())


def parsed_serializer(
    class_name: str, parse: Callable[[Mapping[str, Any]], Any], /, **fields: serializers.Field
) -> type[ParsedSerializer]:
    namespace = {**fields, "parse": lambda self, data: parse(data)}
    return type(class_name, (ParsedSerializer,), namespace)


NetworkCreateSerializer = parsed_serializer(
    "NetworkCreateSerializer",
    validation.parse_network_create,
    name=serializers.CharField(),
    subnet=serializers.CharField(required=False, help_text="e.g. 172.30.0.0/16"),
    gateway=serializers.CharField(required=False),
    internal=serializers.BooleanField(required=False),
    labels=serializers.DictField(child=serializers.CharField(), required=False),
)
VolumeCreateSerializer = parsed_serializer(
    "VolumeCreateSerializer",
    validation.parse_volume_create,
    name=serializers.CharField(required=False),
    labels=serializers.DictField(child=serializers.CharField(), required=False),
)
TagSerializer = parsed_serializer(
    "TagSerializer",
    validation.parse_tag,
    repository=serializers.CharField(),
    tag=serializers.CharField(required=False, default="latest"),
)
RenameSerializer = parsed_serializer(
    "RenameSerializer", validation.parse_rename, name=serializers.CharField()
)
ConnectSerializer = parsed_serializer(
    "ConnectSerializer",
    validation.parse_connect,
    container=serializers.CharField(),
    aliases=serializers.ListField(child=serializers.CharField(), required=False),
)


def _availability(data: Mapping[str, Any]) -> str:
    value = data.get("availability")
    if value not in AVAILABILITY_ACTIONS:
        raise SpecInvalid({"availability": f"must be {' or '.join(sorted(AVAILABILITY_ACTIONS))}"})
    return str(value)


# `docker node update --availability`: drain moves a node's tasks to the others.
NodeAvailabilitySerializer = parsed_serializer(
    "NodeAvailabilitySerializer",
    _availability,
    availability=serializers.ChoiceField(choices=sorted(AVAILABILITY_ACTIONS)),
)
