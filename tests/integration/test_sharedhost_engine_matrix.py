"""Who may see and do what with containers, images, networks and volumes, in pages, the API
and the /ws/events/ websocket: anonymous, two students, an instructor, a viewer and an admin.

The engine objects are made once per module with docker-py (not our code): each student
owns a container attached to their own network and mounting their own volume, and an
admin's container (no owner label) sits on the predefined bridge with them. Mutations
that are allowed are probed so that the engine refuses them for its own reason (unpause a
running container, remove a running one or a network still in use): the request passed the
access policy (409 from the engine), nothing changes, and the objects serve every test.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.messages import get_messages
from django.test import Client
from rest_framework.test import APIClient

from dashboard.middleware import UserFactsMiddleware
from dashboard.models import AuditEntry
from dashboard.routing import websocket_urlpatterns
from tests.rig import LABELS, RUN_ID, docker_inspect, frames_within

pytestmark = [pytest.mark.django_db, pytest.mark.engine]

ANN, BOB = f"mxa{RUN_ID}", f"mxb{RUN_ID}"
ROLES = ("anonymous", "ann", "bob", "instructor", "viewer", "admin")
PREFIX = f"dd-mx-{RUN_ID}"
NOTHING = f"dockdash.mx=nothing-{RUN_ID}"  # a prune filter no object matches


@pytest.fixture(scope="module")
def objs(docker_client: Any, test_image: str) -> Iterator[dict[str, str]]:
    """ann's and bob's container, network and volume; an admin's container; a shared image."""
    made: list[Any] = []
    found: dict[str, str] = {"image": test_image}
    image = docker_client.images.get(test_image)
    # A second tag: removing the image by id is then refused by the engine (it names two
    # repositories), so an allowed DELETE changes nothing.
    image.tag(PREFIX, "img")
    found["image_id"] = image.id
    bridge = docker_client.networks.get("bridge")
    try:
        for who, owner in (("ann", ANN), ("bob", BOB)):
            labels = {**LABELS, "dockdash.owner": owner}
            net = docker_client.networks.create(f"{PREFIX}-{who}-net", labels=labels)
            made.append(net)
            vol = docker_client.volumes.create(f"{PREFIX}-{who}-vol", labels=labels)
            made.append(vol)
            c = docker_client.containers.run(
                test_image,
                ["sleep", "3600"],
                name=f"{PREFIX}-{who}",
                labels=labels,
                network=net.name,
                volumes={vol.name: {"bind": "/data", "mode": "rw"}},
                detach=True,
            )
            made.insert(0, c)
            bridge.connect(c)
            found.update({who: c.id, f"{who}_net": net.name, f"{who}_vol": vol.name})
        z = docker_client.containers.run(
            test_image, ["sleep", "3600"], name=f"{PREFIX}-admin", labels=LABELS, detach=True
        )
        made.insert(0, z)
        found["admin"] = z.id
        yield found
    finally:
        for obj in made:
            with contextlib.suppress(Exception):
                obj.remove(force=True) if hasattr(obj, "stop") else obj.remove()
        with contextlib.suppress(Exception):
            docker_client.images.remove(f"{PREFIX}:img")


@pytest.fixture
def people(make_user: Callable[..., Any], teach: Any) -> dict[str, Any]:
    return _people(make_user, teach)


def page_client(people: dict[str, Any], who: str) -> Client:
    client = Client()
    if people[who] is not None:
        client.force_login(people[who])
    return client


def api_client(people: dict[str, Any], who: str) -> APIClient:
    client = APIClient()
    if people[who] is not None:
        client.force_authenticate(people[who])
    return client


def table(
    *,
    owner: int,
    other: int,
    staff: int | None = None,
    viewer: int | None = None,
    anonymous: int = 401,
) -> dict[str, int]:
    """Statuses per role for an object of ann's (`owner`); bob is the `other` student."""
    staff = owner if staff is None else staff
    return {
        "anonymous": anonymous,
        "ann": owner,
        "bob": other,
        "instructor": staff,
        "viewer": staff if viewer is None else viewer,
        "admin": staff,
    }


ALL = table(owner=200, other=200)
ALL_PAGES = table(owner=200, other=200, anonymous=302)
ANNS = table(owner=200, other=404)
ANNS_PAGE = table(owner=200, other=404, anonymous=302)
# The instructor teaches ann and bob: an admin's objects are none of theirs.
ADMINS_PAGE = {**table(owner=404, other=404, staff=200, anonymous=302), "instructor": 404}

# (url template, {role: status}); {x} are filled from the module's objects.
READS = [
    ("/containers/", ALL_PAGES),
    ("/containers/{ann}/", ANNS_PAGE),
    ("/containers/{admin}/", ADMINS_PAGE),
    ("/containers/{ann}/internals/", ANNS_PAGE),
    ("/containers/create/", table(owner=200, other=200, viewer=403, anonymous=302)),
    ("/images/", ALL_PAGES),
    ("/images/{image}/", ALL_PAGES),
    ("/networks/", ALL_PAGES),
    ("/networks/bridge/", ALL_PAGES),
    ("/networks/{ann_net}/", ANNS_PAGE),
    ("/volumes/", ALL_PAGES),
    ("/volumes/{ann_vol}/", ANNS_PAGE),
    ("/api/v1/containers/", ALL),
    ("/api/v1/containers/{ann}/", ANNS),
    ("/api/v1/containers/{admin}/", {**table(owner=404, other=404, staff=200), "instructor": 404}),
    ("/api/v1/containers/{ann}/cgroups/", ANNS),
    ("/api/v1/images/", ALL),
    ("/api/v1/images/{image}/", ALL),
    ("/api/v1/networks/", ALL),
    ("/api/v1/networks/bridge/", ALL),
    ("/api/v1/networks/{ann_net}/", ANNS),
    ("/api/v1/volumes/", ALL),
    ("/api/v1/volumes/{ann_vol}/", ANNS),
    # live stats, logs and the terminal
    ("/live/", ALL_PAGES),
    ("/containers/{ann}/stats/", ANNS_PAGE),
    ("/containers/{ann}/logs/", ANNS_PAGE),
    ("/containers/{ann}/logs/download/", ANNS_PAGE),
    ("/containers/{ann}/terminal/", ANNS_PAGE),
    ("/containers/{admin}/terminal/", ADMINS_PAGE),
    ("/api/v1/containers/{ann}/logs/", ANNS),
    ("/api/v1/containers/{ann}/stats/", ANNS),
]


@pytest.mark.parametrize(("url", "want"), READS, ids=[r[0] for r in READS])
def test_who_may_read_what(
    objs: dict[str, str], people: dict[str, Any], url: str, want: dict[str, int]
) -> None:
    path = url.format(**objs)
    got = {}
    for who in ROLES:
        client = api_client(people, who) if path.startswith("/api/") else page_client(people, who)
        got[who] = client.get(path).status_code
    assert got == want, path


# API mutations. Allowed ones are made to fail at the engine (409) and change nothing;
# a role left out of `want` is not tried (it would change the shared objects).
class Mutation(NamedTuple):
    what: str
    method: str
    url: str
    body: dict[str, Any] | None
    want: dict[str, int]


REFUSED_FOR_OTHERS = {"bob": 404, "viewer": 403, "anonymous": 401}
# Past the access policy for ann and the staff, then refused by the engine itself.
ENGINE_REFUSES = {**REFUSED_FOR_OTHERS, "ann": 409, "instructor": 409, "admin": 409}
CREATED = {"anonymous": 401, "viewer": 403, "ann": 201, "bob": 201, "instructor": 201, "admin": 201}
MUTATIONS = [
    *[
        Mutation(
            f"{verb} ann's container",
            "post",
            f"/api/v1/containers/{{ann}}/{verb}/",
            None,
            ENGINE_REFUSES if verb == "unpause" else REFUSED_FOR_OTHERS,
        )
        for verb in ("start", "stop", "restart", "pause", "unpause", "kill")
    ],
    Mutation(
        "rename ann's container to its own name",
        "post",
        "/api/v1/containers/{ann}/rename/",
        {"name": f"{PREFIX}-ann"},
        {**REFUSED_FOR_OTHERS, "ann": 400, "instructor": 400, "admin": 400},
    ),
    *[
        Mutation(f"remove ann's {what}", "delete", url, None, ENGINE_REFUSES)
        for what, url in (
            ("running container without force", "/api/v1/containers/{ann}/"),
            ("network while her container uses it", "/api/v1/networks/{ann_net}/"),
            ("volume while her container uses it", "/api/v1/volumes/{ann_vol}/"),
        )
    ],
    Mutation(
        "remove the admin's running container without force",
        "delete",
        "/api/v1/containers/{admin}/",
        None,
        {**REFUSED_FOR_OTHERS, "ann": 404, "instructor": 404, "admin": 409},
    ),
    Mutation(
        "disconnect the admin's container from ann's network (it is not on it)",
        "post",
        "/api/v1/networks/{ann_net}/disconnect/",
        {"container": "{admin}"},
        # ann sees her network but not the container; the engine says "not connected".
        {**REFUSED_FOR_OTHERS, "ann": 404},
    ),
    Mutation(
        "connect bob's container to ann's network",
        "post",
        "/api/v1/networks/{ann_net}/connect/",
        {"container": "{bob}"},
        # Only the bridge or one's own networks: the instructor is refused by the policy.
        {**REFUSED_FOR_OTHERS, "ann": 404, "instructor": 403},
    ),
    Mutation(
        "remove the shared image by id (it has two tags)",
        "delete",
        "/api/v1/images/{image_id}/",
        None,
        # Nobody's image (an admin's): not the instructor's to remove either.
        {"anonymous": 401, "ann": 403, "bob": 403, "viewer": 403, "instructor": 403, "admin": 409},
    ),
    *[
        Mutation(
            f"prune {kind}",
            "post",
            f"/api/v1/{kind}/prune/?label={NOTHING}",
            None,
            {
                "anonymous": 401,
                "ann": 403,
                "bob": 403,
                "viewer": 403,
                "instructor": 403,  # prune removes every owner's objects: an admin power
                "admin": 200,
            },
        )
        for kind in ("images", "networks", "volumes")
    ],
    *[
        Mutation(f"create a {kind}", "post", f"/api/v1/{kind}s/", body, CREATED)
        for kind, body in (
            (
                "container",
                {
                    "image": "{image}",
                    "start": False,
                    "labels": LABELS,
                    "name": PREFIX + "-new-{who}",
                },
            ),
            ("network", {"name": PREFIX + "-newnet-{who}", "labels": LABELS}),
            ("volume", {"name": PREFIX + "-newvol-{who}", "labels": LABELS}),
        )
    ],
    Mutation(
        "tag the shared image",
        "post",
        "/api/v1/images/{image}/tag/",
        {"repository": PREFIX + "-tag-{who}", "tag": "t"},
        {"anonymous": 401, "viewer": 403, "ann": 200, "bob": 200, "instructor": 200, "admin": 200},
    ),
]


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**values)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value


def _remove_created(docker_client: Any, names: list[str]) -> None:
    for name in names:
        for remove in (
            lambda n: docker_client.containers.get(n).remove(force=True),
            lambda n: docker_client.networks.get(n).remove(),
            lambda n: docker_client.volumes.get(n).remove(),
            lambda n: docker_client.images.remove(f"{n}:t"),
        ):
            with contextlib.suppress(Exception):
                remove(name)


def _state(docker_client: Any, objs: dict[str, str]) -> dict[str, Any]:
    """What the refused requests must leave alone (read with docker-py, not our code)."""
    found: dict[str, Any] = {}
    for who in ("ann", "bob", "admin"):
        attrs = docker_client.api.inspect_container(objs[who])
        networks = sorted(attrs["NetworkSettings"]["Networks"])
        found[who] = (attrs["State"]["Status"], attrs["Name"], networks)
    mine = {"label": f"dockdash.test={RUN_ID}"}
    found["nets"] = sorted(n["Name"] for n in docker_client.api.networks(filters=mine))
    found["vols"] = sorted(v["Name"] for v in docker_client.api.volumes(filters=mine)["Volumes"])
    return found


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.what for m in MUTATIONS])
def test_who_may_change_what_in_the_api(
    docker_client: Any, objs: dict[str, str], people: dict[str, Any], mutation: Mutation
) -> None:
    what, method, url, body, want = mutation
    before = _state(docker_client, objs)
    got, created = {}, []
    try:
        for who in ROLES:
            if who not in want:
                continue
            values = {**objs, "who": who}
            data = _fill(body, values)
            response = getattr(api_client(people, who), method)(
                _fill(url, values), data, format="json"
            )
            got[who] = response.status_code
            if response.status_code >= 400:
                assert response.json()["error"], (who, what)
            if data and response.status_code < 300 and method == "post":
                created.append(str(data.get("name") or data.get("repository")))
            if response.status_code == 201 and "containers" in url:
                # Whatever was created through the dashboard carries its creator's name.
                labels = docker_inspect(data["name"])["Config"]["Labels"]
                assert labels["dockdash.owner"] == people[who].username
    finally:
        _remove_created(docker_client, created)
    assert got == want, what
    assert _state(docker_client, objs) == before


# Page mutations answer with a redirect and say why in a message: classify the message.
PAGE_POSTS = [
    ("/containers/{ann}/action/unpause/", {}),
    ("/containers/{ann}/action/stop/", {}),
    ("/containers/{ann}/remove/", {}),
    ("/containers/bulk/", {"action": "kill", "ids": ["{ann}"]}),
    ("/networks/{ann_net}/remove/", {}),
    ("/volumes/{ann_vol}/remove/", {}),
]


def _outcome(response: Any) -> str:
    if response.status_code != 302 or response["Location"].startswith("/login/"):
        return str(response.status_code)
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    if re.search(r"no such", text, re.I):
        return "not found"
    if "may not" in text:
        return "refused"
    return "engine"


@pytest.mark.parametrize(("url", "data"), PAGE_POSTS, ids=[p[0] for p in PAGE_POSTS])
def test_page_actions_on_anns_objects(
    docker_client: Any, objs: dict[str, str], people: dict[str, Any], url: str, data: dict[str, Any]
) -> None:
    before = _state(docker_client, objs)
    got = {}
    for who in ROLES:
        if who in ("ann", "instructor", "admin") and ("stop" in url or "bulk" in url):
            continue  # allowed: it would stop or kill the shared container
        client = page_client(people, who)
        filled = {
            k: [_fill(x, objs) for x in v] if isinstance(v, list) else v for k, v in data.items()
        }
        got[who] = _outcome(client.post(_fill(url, objs), filled))
    allowed = None if "stop" in url or "bulk" in url else "engine"
    want = {
        "anonymous": "302",
        "ann": allowed,
        "bob": "not found",
        "instructor": allowed,
        "viewer": "refused",
        "admin": allowed,
    }
    assert {k: v for k, v in got.items()} == {k: v for k, v in want.items() if v is not None}
    assert _state(docker_client, objs) == before


def test_a_viewer_cannot_create_through_any_form(
    docker_client: Any, objs: dict[str, str], people: dict[str, Any]
) -> None:
    client = page_client(people, "viewer")
    before = _state(docker_client, objs)
    assert client.post("/containers/create/", {"image": objs["image"]}).status_code == 403
    client.post("/networks/", {"name": f"{PREFIX}-vnet"})
    client.post("/volumes/", {"name": f"{PREFIX}-vvol"})
    assert _state(docker_client, objs) == before


LISTS = [
    ("/api/v1/containers/?all=1&q=" + PREFIX, "name", "{who}"),
    ("/api/v1/networks/", "name", "{who}_net"),
    ("/api/v1/volumes/", "name", "{who}_vol"),
]


def _ours(names: set[str], objs: dict[str, str], key: str) -> set[str]:
    mine = {
        who
        for who in ("ann", "bob", "admin")
        if (key.format(who=who) in objs)
        and (objs[key.format(who=who)] in names or any(n == f"{PREFIX}-{who}" for n in names))
    }
    return mine


@pytest.mark.parametrize(("url", "field", "key"), LISTS, ids=[x[0].split("?")[0] for x in LISTS])
def test_lists_show_students_only_their_own(
    objs: dict[str, str], people: dict[str, Any], url: str, field: str, key: str
) -> None:
    everyone = {w for w in ("ann", "bob", "admin") if key.format(who=w) in objs}
    for who in ROLES[1:]:
        names = {row[field] for row in api_client(people, who).get(url).json()}
        page = page_client(people, who).get(url.replace("/api/v1", "")).content.decode()
        if who in ("ann", "bob"):
            want = {who} & everyone
        else:  # the instructor teaches ann and bob; the admin's are none of theirs
            want = everyone - {"admin"} if who == "instructor" else everyone
        assert _ours(names, objs, key) == want, (who, url)
        shown = {w for w in everyone if f"{PREFIX}-{w}" in page}
        assert shown == want, (who, "page", url)
        if "networks" in url:
            assert "bridge" in names


def test_the_bridge_shows_students_only_their_own_containers(
    objs: dict[str, str], people: dict[str, Any]
) -> None:
    for who in ("ann", "bob", "instructor"):
        attached = api_client(people, who).get("/api/v1/networks/bridge/").json()["Containers"]
        names = {c["Name"] for c in attached.values() if c["Name"].startswith(PREFIX)}
        page = page_client(people, who).get("/networks/bridge/").content.decode()
        mine = (
            {f"{PREFIX}-{who}"}
            if who != "instructor"
            else {f"{PREFIX}-{w}" for w in ("ann", "bob")}
        )
        assert names == mine, who
        assert {
            n
            for n in (f"{PREFIX}-{w}" for w in ("ann", "bob", "admin"))
            if n + "<" in page or n + '"' in page
        } >= mine
        if who == "ann":
            assert objs["bob"] not in page and f"{PREFIX}-bob" not in page
            create = page_client(people, who).get("/containers/create/").content.decode()
            assert objs["bob_net"] not in create and objs["ann_net"] in create


# ---------------------------------------------------------------- websockets


async def ws_connect(path: str, user: Any) -> WebsocketCommunicator:
    """A websocket through the project's routes (the login is put in the scope; the facts
    the rules take about the user are loaded as the project's middleware loads them)."""
    communicator = WebsocketCommunicator(
        UserFactsMiddleware(URLRouter(websocket_urlpatterns)), path
    )
    communicator.scope["user"] = user
    return communicator


@pytest.mark.django_db(transaction=True)
async def test_events_carry_only_what_each_role_may_see(
    docker_client: Any, objs: dict[str, str], make_user: Callable[..., Any], teach: Any
) -> None:
    from django.contrib.auth.models import AnonymousUser

    people = await sync_to_async(lambda: _people(make_user, teach))()
    sockets = {}
    for who, user in people.items():
        sockets[who] = await ws_connect("/ws/events/", user or AnonymousUser())
        connected, code = await sockets[who].connect()
        assert connected == (user is not None), who
        if user is None:
            assert code == 4401
    try:
        # A signal the sleeping process ignores: a "kill" event, and nothing changes.
        for who in ("ann", "bob", "admin"):
            await asyncio.to_thread(docker_client.api.kill, objs[who], "SIGWINCH")
        # Network and volume events carry no labels: their owner is looked up.
        net_name = f"{PREFIX}-evnet"
        net = await asyncio.to_thread(
            docker_client.networks.create, net_name, labels={**LABELS, "dockdash.owner": ANN}
        )
        # Its owner is looked up when its create event comes: removed before that (a busy
        # host), it would be no one's. So it goes once the admin's page has that event.
        early: list[dict[str, Any]] = []

        async def until_created() -> None:
            while not any(e["id"] == net.id for f in early for e in f["events"]):
                early.extend(await frames_within(sockets["admin"], 0.2))

        await asyncio.wait_for(until_created(), 15)
        await asyncio.to_thread(net.remove)
        received = await asyncio.gather(*(frames_within(sockets[who], 1.0) for who in ROLES[1:]))
        seen = {}
        for who, frames in zip(ROLES[1:], received, strict=True):
            events = [e for f in (early if who == "admin" else []) + frames for e in f["events"]]
            ids = {e["id"] for e in events if e["kind"] == "container"}
            seen[who] = {w for w in ("ann", "bob", "admin") if objs[w] in ids} | {
                f"net {e['action']}" for e in events if e["id"] == net.id
            }
        everything = {"ann", "bob", "admin", "net create", "net destroy"}
        assert seen == {
            "ann": {"ann", "net create", "net destroy"},
            "bob": {"bob"},
            "instructor": everything - {"admin"},
            "viewer": everything,
            "admin": everything,
        }
    finally:
        for who, s in sockets.items():
            if people[who] is not None:
                await s.disconnect()


def _people(make_user: Callable[..., Any], teach: Any) -> dict[str, Any]:
    """The roles; the instructor teaches ann and bob."""
    found = {
        "anonymous": None,
        "ann": make_user(ANN, "student"),
        "bob": make_user(BOB, "student"),
        "instructor": make_user(f"mxi{RUN_ID}", "instructor"),
        "viewer": make_user(f"mxv{RUN_ID}", "viewer"),
        "admin": make_user(f"mxr{RUN_ID}", "admin"),
    }
    teach(found["instructor"], found["ann"], found["bob"])
    return found


OPEN = 0  # the websocket was accepted
WEBSOCKETS = [
    ("/ws/containers/{ann}/stats/", {"ann": OPEN, "bob": 4404, "viewer": OPEN}),
    ("/ws/containers/{ann}/logs/", {"ann": OPEN, "bob": 4404, "viewer": OPEN}),
    ("/ws/containers/{ann}/exec/", {"ann": OPEN, "bob": 4404, "viewer": 4403}),
    (
        "/ws/containers/{admin}/logs/",
        {"ann": 4404, "bob": 4404, "instructor": 4404, "viewer": OPEN},
    ),
    (
        "/ws/containers/{admin}/exec/",
        {"ann": 4404, "bob": 4404, "instructor": 4404, "viewer": 4403},
    ),
]


@pytest.mark.django_db(transaction=True)
async def test_container_websockets_refuse_what_the_role_may_not_see_or_do(
    objs: dict[str, str], make_user: Callable[..., Any], teach: Any
) -> None:
    from django.contrib.auth.models import AnonymousUser

    people = await sync_to_async(lambda: _people(make_user, teach))()
    for url, table in WEBSOCKETS:
        want = {"anonymous": 4401, "instructor": OPEN, "admin": OPEN, **table}
        got = {}
        for who in ROLES:
            socket = await ws_connect(url.format(**objs), people[who] or AnonymousUser())
            connected, code = await socket.connect(timeout=10)
            got[who] = OPEN if connected else code
            if connected:
                await socket.disconnect()
        assert got == want, url
    # Every exec session, and every refused attempt, is in the audit log.
    rows = await sync_to_async(
        lambda: sorted(
            (r.username, r.role, r.action, r.target_id[:12], r.result)
            for r in AuditEntry.objects.filter(action__startswith="exec.")
        )
    )()

    def row(who: str, action: str, target: str, result: str = "ok") -> tuple[str, ...]:
        user = people[who]
        return (user.username, user.effective_role, action, objs[target][:12], result)

    def session(who: str, target: str) -> list[tuple[str, ...]]:
        """An exec let in: its start and its end."""
        return [row(who, "exec.start", target), row(who, "exec.end", target)]

    def refused(who: str, target: str) -> tuple[str, ...]:
        return row(who, "exec.start", target, "error")

    assert rows == sorted(
        [
            *session("ann", "ann"),
            refused("bob", "ann"),
            refused("viewer", "ann"),
            *session("instructor", "ann"),
            *session("admin", "ann"),
            refused("ann", "admin"),
            refused("bob", "admin"),
            refused("viewer", "admin"),
            refused("instructor", "admin"),
            *session("admin", "admin"),
        ]
    )


@pytest.mark.django_db(transaction=True)
async def test_exec_into_a_container_with_admin_powers_is_refused_with_the_reason(
    docker_client: Any, test_image: str, make_user: Callable[..., Any], teach: Any
) -> None:
    """ann's container was made with an added capability (by an admin, or before the policy):
    a shell in it is refused to her and to an instructor, with the reason, and audited."""
    people = await sync_to_async(lambda: _people(make_user, teach))()
    powered = await asyncio.to_thread(
        docker_client.containers.run,
        test_image,
        ["sleep", "3600"],
        name=f"{PREFIX}-powered",
        labels={**LABELS, "dockdash.owner": ANN},
        cap_add=["NET_ADMIN"],
        detach=True,
    )
    try:
        for who, allowed in (("ann", False), ("instructor", False), ("admin", True)):
            socket = await ws_connect(f"/ws/containers/{powered.id}/exec/", people[who])
            connected, _ = await socket.connect(timeout=10)
            assert connected, who
            if allowed:
                await socket.disconnect()
                continue
            refusal = await socket.receive_json_from(timeout=10)
            assert refusal["type"] == "error"
            assert "Adding capabilities (NET_ADMIN)" in refusal["message"]
            assert "only an admin may open a shell" in refusal["message"]
            assert (await socket.receive_output(timeout=5))["code"] == 4403
        top = await asyncio.to_thread(docker_client.api.top, powered.id)
        assert [p for p in top["Processes"] if p[-1] == "sh"] == []
        refused = await sync_to_async(
            lambda: list(
                AuditEntry.objects.filter(action="exec.start", result="error").values_list(
                    "username", "error"
                )
            )
        )()
        assert sorted(u for u, _ in refused) == sorted(
            [people["ann"].username, people["instructor"].username]
        )
        assert all("NET_ADMIN" in e for _, e in refused)
    finally:
        await asyncio.to_thread(powered.remove, force=True)


@pytest.mark.django_db(transaction=True)
async def test_the_stats_overview_carries_only_the_students_own_containers(
    objs: dict[str, str], make_user: Callable[..., Any], teach: Any
) -> None:
    people = await sync_to_async(lambda: _people(make_user, teach))()
    ours = {objs[w]: w for w in ("ann", "bob", "admin")}
    sockets = {}
    for who in ("ann", "bob", "instructor"):
        sockets[who] = await ws_connect("/ws/stats/", people[who])
        assert (await sockets[who].connect(timeout=10))[0]
    try:

        async def seen_until_complete(who: str, want: set[str]) -> set[str]:
            seen: set[str] = set()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while loop.time() < deadline:
                frame = await sockets[who].receive_json_from(timeout=15)
                if frame["type"] == "stats":
                    seen |= {ours[c["id"]] for c in frame["containers"] if c["id"] in ours}
                    # A student's frames never name another user's container.
                    owners = {c["owner"] for c in frame["containers"]}
                    if who in ("ann", "bob"):
                        assert owners <= {people[who].username}, (who, owners)
                    else:  # the instructor: only the students they teach
                        assert owners <= {ANN, BOB}, (who, owners)
                    if seen >= want:
                        break
            return seen

        seen = await asyncio.gather(
            seen_until_complete("ann", {"ann"}),
            seen_until_complete("bob", {"bob"}),
            seen_until_complete("instructor", {"ann", "bob"}),
        )
        assert seen == [{"ann"}, {"bob"}, {"ann", "bob"}]
    finally:
        for socket in sockets.values():
            await socket.disconnect()
