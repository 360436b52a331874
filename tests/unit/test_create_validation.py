"""The create form/API parser: each bad field named, good input parsed exactly."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from containers_app.validation import (
    SpecInvalid,
    docker_run_command,
    format_memory,
    parse_create,
    parse_image,
    parse_memory,
    parse_ports,
)
from dashboard.specs import MountSpec, PortSpec


def parse(**data: object):  # type: ignore[no-untyped-def]
    return parse_create(data, host_cpus=2)


def errors_of(**data: object) -> dict[str, str]:
    with pytest.raises(SpecInvalid) as caught:
        parse(**data)
    return caught.value.errors


def test_the_design_example_body_parses_into_the_spec() -> None:
    spec = parse(
        image="busybox:latest",
        name="web1",
        command=["httpd", "-f"],
        env={"GREETING": "hi"},
        ports=[{"container_port": 80, "host_port": 28080, "protocol": "tcp"}],
        volumes=[{"source": "web1-data", "target": "/data", "read_only": False}],
        network="bridge",
        memory="256m",
        cpus=0.5,
        pids_limit=100,
        restart_policy="unless-stopped",
        labels={"course": "os101"},
        start=True,
    )
    assert spec.memory == 256 * 1024 * 1024
    assert spec.ports == [PortSpec(80, 28080, "tcp")]
    assert spec.mounts == [MountSpec("web1-data", "/data", False, "volume")]
    assert spec.cpus == 0.5 and spec.pids_limit == 100 and spec.start


def test_form_text_fields_parse_like_the_api_lists() -> None:
    spec = parse(
        image="busybox",
        tag="1.36",
        command='sh -c "echo hi; sleep 5"',
        env="A=1\nB=x,y=z\n",
        ports="8080:80/tcp, 53/udp, 127.0.0.1:9000:9000",
        volumes="data:/data\n/srv/www:/www:ro",
        labels="course=os101\nteam=a b",
        auto_remove="on",
        start="",
    )
    assert spec.image == "busybox:1.36"
    assert spec.command == ["sh", "-c", "echo hi; sleep 5"]
    assert spec.env == {"A": "1", "B": "x,y=z"}
    assert spec.ports == [
        PortSpec(80, 8080, "tcp"),
        PortSpec(53, None, "udp"),
        PortSpec(9000, 9000, "tcp", "127.0.0.1"),
    ]
    assert spec.mounts[1] == MountSpec("/srv/www", "/www", True, "bind")
    assert spec.labels == {"course": "os101", "team": "a b"}
    assert spec.auto_remove and not spec.start


@pytest.mark.parametrize(
    ("field", "data"),
    [
        ("image", {"image": "Busybox:latest"}),
        ("image", {"image": "busy box"}),
        ("image", {"image": ""}),
        ("image", {"image": "busybox", "tag": "bad tag"}),
        ("name", {"name": "-web"}),
        ("name", {"name": "a"}),
        ("name", {"name": "web/1"}),
        ("ports", {"ports": "80:70000"}),
        ("ports", {"ports": "0:80"}),
        ("ports", {"ports": "8080:80/icmp"}),
        ("ports", {"ports": "8080:80, 8080:81"}),
        ("ports", {"ports": "eighty"}),
        ("memory", {"memory": "256x"}),
        ("memory", {"memory": "5m"}),
        ("memory", {"memory": "lots"}),
        ("cpus", {"cpus": "0"}),
        ("cpus", {"cpus": "3"}),
        ("cpus", {"cpus": "half"}),
        ("pids_limit", {"pids_limit": "0"}),
        ("pids_limit", {"pids_limit": "ten"}),
        ("restart_policy", {"restart_policy": "sometimes"}),
        ("restart_policy", {"restart_policy": "always:3"}),
        ("env", {"env": "NOEQUALS"}),
        ("env", {"env": "1A=x"}),
        ("labels", {"labels": "dockdash.owner=someone"}),
        ("volumes", {"volumes": "data"}),
        ("volumes", {"volumes": "data:relative"}),
        ("volumes", {"volumes": "/etc/../root:/x"}),
        ("volumes", {"volumes": "data:/d:rx"}),
        ("command", {"command": 'sh -c "unclosed'}),
        ("auto_remove", {"auto_remove": True, "restart_policy": "always"}),
        ("ports", {"ports": "80:80", "network": "host"}),
        ("working_dir", {"working_dir": "work"}),
        ("user", {"user": "app user"}),
        ("user", {"user": "1000:"}),
    ],
)
def test_each_bad_field_is_named(field: str, data: dict[str, object]) -> None:
    errors = errors_of(**{"image": "busybox", **data})
    assert list(errors) == [field]
    assert errors[field]


def test_several_bad_fields_are_all_reported() -> None:
    errors = errors_of(image="BAD", memory="1x", cpus="-1")
    assert set(errors) == {"image", "memory", "cpus"}


@given(st.integers(min_value=1, max_value=1 << 20), st.sampled_from(["k", "m", "g"]))
def test_memory_sizes_round_trip_through_the_cli_form(number: int, unit: str) -> None:
    factor = {"k": 1024, "m": 1024**2, "g": 1024**3}[unit]
    if number * factor < 6 * 1024 * 1024:
        with pytest.raises(ValueError, match="at least 6m"):
            parse_memory(f"{number}{unit}")
        return
    size = parse_memory(f"{number}{unit}")
    assert size == number * factor
    assert parse_memory(format_memory(size)) == size


@given(
    st.integers(min_value=1, max_value=65535),
    st.one_of(st.none(), st.integers(min_value=1, max_value=65535)),
    st.sampled_from(["tcp", "udp", "sctp"]),
)
def test_any_valid_port_mapping_parses(container: int, host: int | None, proto: str) -> None:
    text = f"{host}:{container}/{proto}" if host else f"{container}/{proto}"
    assert parse_ports(text) == [PortSpec(container, host, proto)]


@given(st.integers(min_value=65536) | st.just(0))
def test_out_of_range_ports_are_refused(port: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_ports(f"{port}:80")


@given(st.text(max_size=40))
def test_image_parser_never_crashes_on_any_text(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_image(text)


@pytest.mark.parametrize(
    "ref",
    [
        "busybox",
        "busybox:1.36",
        "library/busybox",
        "127.0.0.1:5000/team/app:v1.2-rc",
        "registry.example.org/a_b/c__d:latest",
        "ubuntu@sha256:" + "a" * 64,
    ],
)
def test_valid_image_references_are_accepted(ref: str) -> None:
    assert parse_image(ref) == ref


# A create body as the page posts it (text fields), with every option that has a `docker run`
# flag; working_dir and user come from the API and labs only.
EVERY_OPTION_FORM = {
    "image": "busybox:latest",
    "name": "web1",
    "command": "sleep 60",
    "env": "GREETING=hi there",
    "ports": "28080:80/tcp",
    "volumes": "web1-data:/data:ro",
    "memory": "256m",
    "cpus": "0.5",
    "pids_limit": "100",
    "restart_policy": "on-failure:3",
    "labels": "course=os101",
    "working_dir": "/srv/app",
    "user": "1000:1000",
}


def test_docker_run_command_spells_every_option() -> None:
    assert docker_run_command(parse(**EVERY_OPTION_FORM)) == (
        "docker run -d --name web1 -e 'GREETING=hi there' -p 28080:80/tcp "
        "-v web1-data:/data:ro --memory 256m --cpus 0.5 --pids-limit 100 "
        "--restart on-failure:3 --workdir /srv/app --user 1000:1000 --label course=os101 "
        "busybox:latest sleep 60"
    )


@pytest.mark.parametrize(
    ("ports", "host_ip"),
    [
        ([{"container_port": 80, "host_port": 28080, "host_ip": "::"}], "::"),
        ([{"container_port": 80, "host_port": 28080, "host_ip": "0:0::1"}], "::1"),
        ([{"container_port": 80, "host_port": 28080, "host_ip": "127.0.0.1"}], "127.0.0.1"),
        ("[::]:28080:80", "::"),
        ("127.0.0.1:28080:80", "127.0.0.1"),
    ],
)
def test_host_ip_may_be_ipv4_or_ipv6(ports: object, host_ip: str) -> None:
    assert parse_ports(ports) == [PortSpec(80, 28080, "tcp", host_ip)]


@pytest.mark.parametrize(
    "ports",
    [
        [{"container_port": 80, "host_ip": "::zz"}],
        [{"container_port": 80, "host_ip": "300.1.1.1"}],
        [{"container_port": 80, "host_ip": "localhost"}],
        "[fe80::zz]:8080:80",
        "999.0.0.1:8080:80",
    ],
)
def test_a_bad_host_ip_is_refused_on_the_ports_field(ports: object) -> None:
    assert (
        "is not a host IP address, IPv4 or IPv6" in errors_of(image="busybox", ports=ports)["ports"]
    )


def test_docker_run_command_puts_an_ipv6_host_ip_in_brackets() -> None:
    spec = parse(
        image="busybox", ports=[{"container_port": 80, "host_port": 8080, "host_ip": "::"}]
    )
    assert docker_run_command(spec) == "docker run -d -p '[::]:8080:80/tcp' busybox"


@pytest.mark.parametrize("ref", ["sha256:" + "0123456789ab" * 5 + "abcd", "0123456789ab"])
def test_image_ids_are_accepted_as_images(ref: str) -> None:
    assert parse_image(ref) == ref


def test_a_registry_host_needs_a_dot_a_port_or_localhost_else_it_is_a_lowercase_path() -> None:
    assert "not a valid image reference" in errors_of(image="UPPER/case")["image"]
    assert parse_image("Registry.Example.org:5000/team/app:v1") == (
        "Registry.Example.org:5000/team/app:v1"
    )


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ("memory", "expected a size like 256m or 1g"),
        ("cpus", "expected a number of CPUs like 0.5"),
        ("pids_limit", "expected a whole number"),
    ],
)
def test_true_or_false_is_no_number(field: str, words: str) -> None:
    assert errors_of(image="busybox", **{field: True})[field] == words


@pytest.mark.parametrize("field", ["memory", "cpus", "pids_limit"])
def test_an_empty_number_field_means_no_limit(field: str) -> None:
    assert getattr(parse(image="busybox", **{field: ""}), field) is None
