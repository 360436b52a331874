"""The safe-create policy: every refusal, every allowance, for each role (pure functions)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from containers_app.translate import container_record, network_record
from dashboard import policy
from dashboard.envconf import env_port_range
from dashboard.models import User
from dashboard.policy import PolicyViolation
from dashboard.records import NetworkRecord as NetworkInfo
from dashboard.records import VolumeRecord as VolumeInfo
from dashboard.specs import ContainerSpec, MountSpec, PortSpec

BASE = ContainerSpec(image="busybox")

NETWORKS = {
    "bridge": NetworkInfo("bridge", None),
    "3f1c0ffee0001": NetworkInfo("bridge", None),  # the bridge, asked for by id
    "host": NetworkInfo("host", None, "host"),
    "9a9a9a9a9a9a": NetworkInfo("host", None, "host"),  # the host network, by id
    "none": NetworkInfo("none", None, "null"),
    "ann-net": NetworkInfo("ann-net", "ann"),
    "bob-net": NetworkInfo("bob-net", "bob"),
    "admin-net": NetworkInfo("admin-net", None),
}
VOLUMES = {
    "ann-data": VolumeInfo("ann-data", "ann"),
    "bob-data": VolumeInfo("bob-data", "bob"),
    "ann-tmp": VolumeInfo("ann-tmp", "ann", "local", {"type": "tmpfs", "device": "tmpfs"}),
    "ann-sock": VolumeInfo(
        "ann-sock", "ann", "local", {"type": "none", "o": "bind", "device": "/var/run"}
    ),
    "ann-disk": VolumeInfo("ann-disk", "ann", "local", {"type": "ext4", "device": "/dev/sda1"}),
    "ann-plugin": VolumeInfo("ann-plugin", "ann", "rexray"),
}


def user(name: str = "ann", role: str = "student") -> User:
    return User(username=name, role=role, is_superuser=role == "admin")


def check(spec: ContainerSpec, who: User | None = None) -> None:
    policy.check_create(who or user(), spec, networks=NETWORKS.get, volumes=VOLUMES.get)


@pytest.fixture(autouse=True)
def _default_port_range(settings: Any) -> None:
    """The setting's default, which these tests name (a parallel worker has a part of it)."""
    settings.STUDENT_PORT_RANGE = (20000, 29999)


def refused(spec: ContainerSpec, who: User | None = None) -> PolicyViolation:
    with pytest.raises(PolicyViolation) as info:
        check(spec, who)
    return info.value


DANGEROUS = [
    ("privileged", replace(BASE, privileged=True), "admins only"),
    ("cap_add", replace(BASE, cap_add=["SYS_ADMIN"]), "SYS_ADMIN"),
    ("devices", replace(BASE, devices=["/dev/sda:/dev/sda"]), "/dev/sda"),
    ("pid_mode", replace(BASE, pid_mode="host"), "pid namespace mode 'host'"),
    ("pid_mode", replace(BASE, pid_mode="container:abc"), "container:abc"),
    ("ipc_mode", replace(BASE, ipc_mode="host"), "ipc namespace"),
    ("ipc_mode", replace(BASE, ipc_mode="container:abc"), "ipc namespace"),
    ("uts_mode", replace(BASE, uts_mode="host"), "uts namespace"),
    ("userns_mode", replace(BASE, userns_mode="host"), "userns namespace"),
    ("network", replace(BASE, network="host"), "host"),
    ("network", replace(BASE, network="container:abc"), "another container"),
    # the host network asked for by id, another student's network, an admin's network
    *[
        ("network", replace(BASE, network=n), "not yours")
        for n in ("9a9a9a9a9a9a", "bob-net", "admin-net")
    ],
    ("network", replace(BASE, network="nosuch"), "no network"),
    ("mounts", replace(BASE, mounts=[MountSpec("/", "/host", kind="bind")]), "controls the host"),
    ("mounts", replace(BASE, mounts=[MountSpec("/etc", "/x")]), "admins only"),
    ("mounts", replace(BASE, mounts=[MountSpec("bob-data", "/d")]), "not yours"),
    ("mounts", replace(BASE, mounts=[MountSpec("ann-sock", "/d")]), "Docker socket"),
    ("mounts", replace(BASE, mounts=[MountSpec("ann-disk", "/d")]), "/dev/sda1"),
    ("mounts", replace(BASE, mounts=[MountSpec("ann-plugin", "/d")]), "rexray"),
    ("mounts", replace(BASE, mounts=[MountSpec("./rel", "/d")]), "neither a volume"),
    ("mounts", replace(BASE, mounts=[MountSpec("x", "/d", kind="tmpfs")]), "tmpfs"),
    ("mounts", replace(BASE, mounts=[MountSpec("", "/d", kind="bind")]), "neither a volume"),
    ("sysctls", replace(BASE, sysctls={"net.ipv4.ip_forward": "1"}), "ip_forward"),
    ("cgroup_parent", replace(BASE, cgroup_parent="/"), "cgroup parent"),
    ("ports", replace(BASE, ports=[PortSpec(80, 80)]), "outside the range"),
    ("ports", replace(BASE, ports=[PortSpec(80, 30000)]), "20000-29999"),
    ("ports", replace(BASE, ports=[PortSpec(80, None)]), "left empty"),
    ("ports", replace(BASE, ports=[PortSpec(80, 0)]), "left empty"),
    ("labels", replace(BASE, labels={"dockdash.owner": "bob"}), "cannot be set"),
]


@pytest.mark.parametrize(("field", "spec", "words"), DANGEROUS)
def test_students_are_refused_each_power_with_the_field_and_reason(
    field: str, spec: ContainerSpec, words: str
) -> None:
    violation = refused(spec)
    assert violation.field == field
    assert words in violation.message


@pytest.mark.parametrize(("field", "spec", "words"), DANGEROUS)
def test_instructors_are_refused_the_same_powers(
    field: str, spec: ContainerSpec, words: str
) -> None:
    assert refused(spec, user("ivy", "instructor")).field == field


@pytest.mark.parametrize(("field", "spec", "words"), DANGEROUS)
def test_admins_may_ask_for_any_power(field: str, spec: ContainerSpec, words: str) -> None:
    check(spec, user("root", "admin"))


def test_a_viewer_may_not_create_at_all() -> None:
    assert "may not create" in refused(BASE, user("vic", "viewer")).message


def test_an_anonymous_user_may_not_create() -> None:
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(PolicyViolation):
        policy.check_create(AnonymousUser(), BASE, networks=NETWORKS.get, volumes=VOLUMES.get)


ALLOWED = [
    BASE,
    replace(BASE, network="bridge"),
    replace(BASE, network="default"),
    replace(BASE, network="none"),
    replace(BASE, network="3f1c0ffee0001"),
    replace(BASE, network="ann-net"),
    replace(BASE, ipc_mode="private"),
    replace(BASE, ipc_mode="shareable"),
    replace(BASE, ipc_mode="none"),
    replace(BASE, mounts=[MountSpec("ann-data", "/data"), MountSpec("ann-tmp", "/tmp")]),
    replace(BASE, mounts=[MountSpec("", "/anon")]),
    replace(BASE, mounts=[MountSpec("fresh-volume", "/data")]),
    replace(BASE, ports=[PortSpec(80, 20000), PortSpec(53, 29999, "udp")]),
    replace(BASE, labels={"dockdash.owner": "ann", "course": "os101"}),
    replace(
        BASE,
        security_opt=[
            "no-new-privileges",
            "no-new-privileges:true",
            "no-new-privileges=false",
            "apparmor=docker-default",
            "label=level:s0:c100,c200",
            "label:user:USER",
        ],
    ),
    replace(BASE, memory=256 * 2**20, cpus=0.5, pids_limit=100, user="root", tty=True),
]


@pytest.mark.parametrize("spec", ALLOWED)
def test_students_may_create_ordinary_containers(spec: ContainerSpec) -> None:
    check(spec)


@pytest.mark.parametrize(
    "option",
    [
        "seccomp=unconfined",
        "seccomp:unconfined",
        "SECCOMP=UNCONFINED",
        'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}',
        "apparmor=unconfined",
        "apparmor:unconfined",
        "apparmor=my-loose-profile",
        "label=disable",
        "label:disable",
        "label=type:spc_t",
        "label:type:spc_t",
        "systempaths=unconfined",
        "something-new=1",
    ],
)
def test_security_options_that_loosen_confinement_are_refused(option: str) -> None:
    violation = refused(replace(BASE, security_opt=[option]))
    assert violation.field == "security_opt"
    assert "Refused security option" in violation.message


@pytest.mark.parametrize(
    "path",
    [
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/var/run",
        "/run",
        "/var",
        "/",
        "/srv/../run/docker.sock",
        "/run//docker.sock",
        "/run/./docker.sock",
        "/var/lib/docker/volumes",
        "/run/containerd/containerd.sock",
    ],
)
def test_the_docker_socket_is_refused_in_any_spelling_even_when_allow_listed(
    settings: Any, path: str
) -> None:
    settings.BIND_ALLOWLIST = ["/"]
    violation = refused(replace(BASE, mounts=[MountSpec(path, "/s", kind="bind")]))
    assert "controls the host" in violation.message


def test_the_socket_is_refused_through_a_symlink_in_an_allowed_folder(
    settings: Any, tmp_path: Path
) -> None:
    (tmp_path / "innocent").symlink_to("/var/run")
    (tmp_path / "sock").symlink_to("/run/docker.sock")
    settings.BIND_ALLOWLIST = [str(tmp_path)]
    for name in ("innocent", "sock", "innocent/docker.sock"):
        violation = refused(
            replace(BASE, mounts=[MountSpec(str(tmp_path / name), "/s", kind="bind")])
        )
        assert "Docker socket" in violation.message


def test_the_socket_path_of_the_configured_engine_is_protected(
    settings: Any, tmp_path: Path
) -> None:
    settings.DOCKER_HOST = f"unix://{tmp_path}/custom/engine.sock"
    settings.BIND_ALLOWLIST = [str(tmp_path)]
    violation = refused(
        replace(BASE, mounts=[MountSpec(str(tmp_path / "custom"), "/s", kind="bind")])
    )
    assert "Docker socket" in violation.message
    check(
        replace(
            BASE, mounts=[MountSpec(str(tmp_path / "other"), "/s", read_only=True, kind="bind")]
        )
    )


def test_allow_listed_folders_and_their_subpaths_may_be_bound(
    settings: Any, tmp_path: Path
) -> None:
    settings.BIND_ALLOWLIST = [str(tmp_path / "class")]
    for path in ("class", "class/ann", "class/ann/deep/er", "class/ann/../bob"):
        mount = MountSpec(str(tmp_path / path), "/w", read_only=True, kind="bind")
        check(replace(BASE, mounts=[mount]))


def test_an_allow_listed_folder_is_mounted_read_only_or_not_at_all(
    settings: Any, tmp_path: Path
) -> None:
    # A writable bind would let a container swap a folder there for a symlink to `/`.
    settings.BIND_ALLOWLIST = [str(tmp_path / "class")]
    violation = refused(
        replace(BASE, mounts=[MountSpec(str(tmp_path / "class/ann"), "/w", kind="bind")])
    )
    assert violation.field == "mounts"
    assert "read-only" in violation.message
    check(
        replace(BASE, mounts=[MountSpec(str(tmp_path / "class/ann"), "/w", kind="bind")]),
        user("root", "admin"),
    )


@pytest.mark.parametrize("rest", ["class/../etc", "classic", "class/../../", "other"])
def test_paths_that_leave_the_allow_list_are_refused(
    settings: Any, tmp_path: Path, rest: str
) -> None:
    settings.BIND_ALLOWLIST = [str(tmp_path / "class")]
    violation = refused(replace(BASE, mounts=[MountSpec(str(tmp_path / rest), "/w", kind="bind")]))
    assert "outside the host folders" in violation.message


def test_a_symlink_out_of_the_allow_list_is_refused(settings: Any, tmp_path: Path) -> None:
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "escape").symlink_to("/etc")
    settings.BIND_ALLOWLIST = [str(tmp_path / "class")]
    violation = refused(
        replace(BASE, mounts=[MountSpec(str(tmp_path / "class" / "escape"), "/w", kind="bind")])
    )
    assert "outside the host folders" in violation.message


def test_a_volume_name_spelled_as_a_path_is_treated_as_a_bind() -> None:
    violation = refused(replace(BASE, mounts=[MountSpec("/etc", "/x", kind="volume")]))
    assert "Bind mounts of host paths" in violation.message


def test_the_port_range_comes_from_settings(settings: Any) -> None:
    settings.STUDENT_PORT_RANGE = (8000, 8099)
    check(replace(BASE, ports=[PortSpec(80, 8080)]))
    assert "8000-8099" in refused(replace(BASE, ports=[PortSpec(80, 20000)])).message


@hsettings(max_examples=200, deadline=None)
@given(port=st.integers(min_value=1, max_value=65535))
def test_a_host_port_is_allowed_exactly_inside_the_range(port: int) -> None:
    spec = replace(BASE, ports=[PortSpec(80, port)])
    if 20000 <= port <= 29999:
        check(spec)
    else:
        assert refused(spec).field == "ports"


SEGMENTS = st.lists(
    st.sampled_from(["..", ".", "", "run", "var", "docker.sock", "srv", "class", "ann", "etc"]),
    max_size=6,
)


@hsettings(max_examples=300, deadline=None)
@given(parts=SEGMENTS)
def test_an_accepted_bind_path_always_stays_inside_the_allow_list(parts: list[str]) -> None:
    from django.test import override_settings

    source = "/srv/class/" + "/".join(parts)
    with override_settings(BIND_ALLOWLIST=["/srv/class"]):
        try:
            check(replace(BASE, mounts=[MountSpec(source, "/w", read_only=True, kind="bind")]))
        except PolicyViolation as exc:
            assert exc.field == "mounts"
        else:
            resolved = os.path.normpath(source)
            assert resolved == "/srv/class" or resolved.startswith("/srv/class/")


@hsettings(max_examples=300, deadline=None)
@given(parts=SEGMENTS)
def test_no_spelling_reaching_the_socket_is_accepted(parts: list[str]) -> None:
    from django.test import override_settings

    source = "/" + "/".join(parts)
    resolved = os.path.normpath(source)
    exposes_socket = (
        "/run/docker.sock".startswith(resolved.rstrip("/") + "/")
        or resolved
        in {
            "/run/docker.sock",
            "/var/run/docker.sock",
            "/",
        }
        or "/var/run/docker.sock".startswith(resolved.rstrip("/") + "/")
    )
    with override_settings(BIND_ALLOWLIST=["/"]):
        if exposes_socket:
            assert (
                "controls the host"
                in refused(replace(BASE, mounts=[MountSpec(source, "/w", kind="bind")])).message
            )


# ---------------------------------------------------------------- network connect


def a_container(mode: str) -> Any:
    return container_record({"Id": "c1", "HostConfig": {"NetworkMode": mode}})


def test_connecting_to_the_bridge_or_an_own_network_is_allowed() -> None:
    container = a_container("bridge")
    policy.check_network_connect(user(), network_record({"Name": "bridge"}), container)
    policy.check_network_connect(
        user(),
        network_record({"Name": "ann-net", "Labels": {"dockdash.owner": "ann"}}),
        container,
    )


@pytest.mark.parametrize(
    ("network", "mode", "words"),
    [
        ({"Name": "bob-net", "Labels": {"dockdash.owner": "bob"}}, "bridge", "not yours"),
        ({"Name": "admin-net", "Labels": None}, "bridge", "not yours"),
        ({"Name": "host", "Labels": {}}, "bridge", "not yours"),
        ({"Name": "ann-net", "Labels": {"dockdash.owner": "ann"}}, "host", "network mode"),
        ({"Name": "ann-net", "Labels": {"dockdash.owner": "ann"}}, "container:x", "network mode"),
    ],
)
def test_connecting_to_networks_of_others_is_refused(
    network: dict[str, Any], mode: str, words: str
) -> None:
    with pytest.raises(PolicyViolation) as info:
        policy.check_network_connect(user(), network_record(network), a_container(mode))
    assert words in info.value.message
    policy.check_network_connect(user("root", "admin"), network_record(network), a_container(mode))


# ---------------------------------------------------------------- exec


PLAIN_ATTRS: dict[str, Any] = {
    "Id": "c1",
    "Config": {"Image": "busybox", "Labels": {"dockdash.owner": "ann"}},
    "HostConfig": {"NetworkMode": "bridge", "IpcMode": "private", "Binds": None},
    "Mounts": [{"Type": "volume", "Name": "ann-data"}],
}


def host_config(**extra: Any) -> dict[str, Any]:
    return {**PLAIN_ATTRS, "HostConfig": {**PLAIN_ATTRS["HostConfig"], **extra}}


def test_exec_into_a_plain_container_is_allowed() -> None:
    policy.check_exec(user(), container_record(PLAIN_ATTRS), volumes=VOLUMES.get)
    policy.check_exec(user("ivy", "instructor"), container_record(PLAIN_ATTRS), volumes=VOLUMES.get)


@pytest.mark.parametrize(
    "attrs",
    [
        host_config(Privileged=True),
        host_config(CapAdd=["SYS_ADMIN"]),
        host_config(PidMode="host"),
        host_config(NetworkMode="host"),
        host_config(Devices=[{"PathOnHost": "/dev/kmsg", "PathInContainer": "/dev/kmsg"}]),
        host_config(SecurityOpt=["seccomp=unconfined"]),
        host_config(Binds=["/var/run/docker.sock:/var/run/docker.sock"]),
        {**PLAIN_ATTRS, "Mounts": [{"Type": "bind", "Source": "/", "Destination": "/host"}]},
        {**PLAIN_ATTRS, "Mounts": [{"Type": "volume", "Name": "ann-sock"}]},
    ],
)
def test_exec_into_a_container_with_admin_powers_is_refused_to_instructors(
    attrs: dict[str, Any],
) -> None:
    with pytest.raises(PolicyViolation) as info:
        policy.check_exec(user("ivy", "instructor"), container_record(attrs), volumes=VOLUMES.get)
    assert "only an admin may open a shell" in info.value.message
    policy.check_exec(user("root", "admin"), container_record(attrs), volumes=VOLUMES.get)


def test_a_privileged_exec_session_is_refused() -> None:
    with pytest.raises(PolicyViolation, match="privileged exec"):
        policy.check_exec(
            user(), container_record(PLAIN_ATTRS), privileged=True, volumes=VOLUMES.get
        )


# ---------------------------------------------------------------- volume and network create


@pytest.mark.parametrize(
    ("driver", "options", "words"),
    [
        ("local", {"type": "none", "o": "bind", "device": "/"}, "binds a host folder"),
        ("local", {"type": "none", "o": "bind", "device": "/run"}, "Docker socket"),
        ("local", {"o": "rbind", "device": "/var/run/docker.sock"}, "Docker socket"),
        ("local", {"type": "ext4", "device": "/dev/sda1"}, "from the host"),
        ("local", {"type": "nfs", "o": "addr=10.0.0.1", "device": ":/export"}, "from the host"),
        ("rexray", {}, "volume plugins"),
    ],
)
def test_volumes_that_mount_from_the_host_are_refused(
    driver: str, options: dict[str, str], words: str
) -> None:
    with pytest.raises(PolicyViolation) as info:
        policy.check_volume_create(user(), driver, options)
    assert words in info.value.message
    policy.check_volume_create(user("root", "admin"), driver, options)


def test_plain_and_tmpfs_volumes_may_be_created() -> None:
    policy.check_volume_create(user(), "local", {})
    policy.check_volume_create(
        user(), "local", {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"}
    )


def test_only_plain_bridge_networks_may_be_created() -> None:
    policy.check_network_create(user(), "bridge", {})
    policy.check_network_create(user(), "", {})
    with pytest.raises(PolicyViolation, match="macvlan"):
        policy.check_network_create(user(), "macvlan", {"parent": "eth0"})
    with pytest.raises(PolicyViolation, match="bridge.name"):
        policy.check_network_create(user(), "bridge", {"com.docker.network.bridge.name": "docker0"})
    policy.check_network_create(user("root", "admin"), "macvlan", {"parent": "eth0"})


# ---------------------------------------------------------------- the port range setting


def test_the_port_range_setting_is_parsed_and_bad_values_are_refused(monkeypatch: Any) -> None:
    monkeypatch.setenv("R", "21000-21999")
    assert env_port_range("R", (1, 2)) == (21000, 21999)
    for bad in ("80-90", "22000-21000", "abc", "20000", "20000-70000"):
        monkeypatch.setenv("R", bad)
        with pytest.raises(ImproperlyConfigured, match="R must"):
            env_port_range("R", (1, 2))
    monkeypatch.delenv("R")
    assert env_port_range("R", (20000, 29999)) == (20000, 29999)


# ---------------------------------------------------------------- start: binds re-checked


def test_a_writable_bind_made_before_the_read_only_rule_is_refused_at_start(
    settings: Any, tmp_path: Path
) -> None:
    settings.BIND_ALLOWLIST = [str(tmp_path)]
    folder = tmp_path / "work"
    folder.mkdir()

    def attrs(mode: str) -> Any:
        return container_record(
            {
                "Id": "c1",
                "Config": {"Labels": {"dockdash.owner": "ann"}},
                "HostConfig": {"Binds": [f"{folder}:/work{mode}"]},
                "Mounts": [
                    {
                        "Type": "bind",
                        "Source": str(folder),
                        "Destination": "/work",
                        "RW": not mode,
                    }
                ],
            }
        )

    policy.check_start(user(), attrs(":ro"))
    with pytest.raises(PolicyViolation, match="read-only"):
        policy.check_start(user(), attrs(""))
    policy.check_start(user("root", "admin"), attrs(""))
    folder.rmdir()
    folder.symlink_to("/run")
    with pytest.raises(PolicyViolation, match="Docker socket"):
        policy.check_start(user(), attrs(":ro"))


OPTION_PARTS = st.sampled_from(
    ["seccomp", "apparmor", "label", "systempaths", "no-new-privileges", "SecComp", " label"]
)
OPTION_VALUES = st.sampled_from(
    [
        "unconfined",
        "UNCONFINED",
        "disable",
        "type:spc_t",
        "docker-default",
        "level:s0",
        "true",
        "false",
        "",
        "{}",
        "x",
    ]
)


@hsettings(max_examples=300, deadline=None)
@given(key=OPTION_PARTS, sep=st.sampled_from(["=", ":"]), value=OPTION_VALUES)
def test_no_spelling_of_a_loosening_security_option_is_accepted(
    key: str, sep: str, value: str
) -> None:
    option = f"{key}{sep}{value}"
    loosens = (
        value.lower() in {"unconfined", "disable"}
        or (key.strip().lower() == "label" and value.startswith("type:"))
        or (key.strip().lower() == "seccomp")
    )
    if loosens and key.strip().lower() != "no-new-privileges":
        assert refused(replace(BASE, security_opt=[option])).field == "security_opt"
