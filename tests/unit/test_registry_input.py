"""Registry features: image references, build contexts, credential encryption, v2 helpers."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest
from cryptography.fernet import Fernet
from hypothesis import example, given
from hypothesis import strategies as st

from containers_app.validation import parse_image
from dashboard import crypto
from registry_app import buildctx, refs
from registry_app.jobs import Progress
from registry_app.v2client import next_last, parse_challenge


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("busybox", "busybox:latest"),
        ("busybox:1.36", "busybox:1.36"),
        ("127.0.0.1:5000/team/app:v1", "127.0.0.1:5000/team/app:v1"),
        ("localhost/app", "localhost/app:latest"),
        ("registry.example.org/a/b-c__d.e", "registry.example.org/a/b-c__d.e:latest"),
        ("app@sha256:" + "a" * 64, "app@sha256:" + "a" * 64),
    ],
)
def test_valid_references_parse_to_their_full_form(text: str, expected: str) -> None:
    assert str(refs.parse(text)) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("UPPER/case", "must be lowercase"),
        ("a::b", "only one ':'"),
        ("app:", "empty tag"),
        ("", "empty"),
        ("app:-bad", "not a valid tag"),
        ("bad_/name", "not a valid repository name"),
        ("app@sha256:xyz", "not a valid digest"),
    ],
)
def test_invalid_references_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(refs.InvalidReference) as err:
        refs.parse(text)
    assert reason in err.value.message


@given(st.text(alphabet="aZ09.:/_-@x", max_size=30))
@example("UPPER/case")
@example("sha256:" + "a" * 64)
def test_the_create_form_and_the_registry_read_references_with_one_grammar(text: str) -> None:
    try:
        refs.parse(text)
        registry_reads_it = True
    except refs.InvalidReference:
        registry_reads_it = False
    try:
        parse_image(text)
        create_reads_it = True
    except ValueError:
        create_reads_it = False
    assert registry_reads_it == create_reads_it


def test_reference_parts_are_refused_on_the_callers_field() -> None:
    with pytest.raises(refs.InvalidReference) as err:
        refs.check_repository("Team/App", "name")
    assert err.value.field == "name" and "must be lowercase" in err.value.message
    with pytest.raises(refs.InvalidReference) as err:
        refs.check_tag(".hidden")
    assert err.value.field == "tag" and "not a valid tag" in err.value.message
    with pytest.raises(refs.InvalidReference) as err:
        refs.parse("bad..host:5000/app", field="tag")
    assert err.value.field == "tag"


def _tar(
    members: dict[str, bytes], *, gz: bool = False, links: dict[str, str] | None = None
) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def _names(context: io.BytesIO) -> list[str]:
    with tarfile.open(fileobj=context) as tar:
        return sorted(tar.getnames())


def test_tar_gz_and_zip_contexts_are_repacked_as_plain_tar() -> None:
    dockerfile = b"FROM scratch\nCOPY app /app\n"
    gz = _tar({"Dockerfile": dockerfile, "./app": b"x"}, gz=True)
    assert _names(buildctx.context_from_archive(gz)) == ["Dockerfile", "app"]
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("Dockerfile", dockerfile)
        z.writestr("src/app", b"x")
    assert _names(buildctx.context_from_archive(zbuf.getvalue())) == ["Dockerfile", "src/app"]


@pytest.mark.parametrize(
    ("archive", "reason"),
    [
        (_tar({"Dockerfile": b"FROM scratch", "../evil": b"x"}), "escaping the context"),
        (_tar({"Dockerfile": b"FROM scratch", "a/../../evil": b"x"}), "escaping the context"),
        (_tar({"Dockerfile": b"FROM scratch", "/etc/passwd": b"x"}), "absolute"),
        (_tar({"Dockerfile": b"FROM scratch"}, links={"l": "../../etc"}), "outside the context"),
        (_tar({"Dockerfile": b"FROM scratch"}, links={"l": "/etc/shadow"}), "absolute path"),
        (_tar({"README": b"no dockerfile"}), "has no Dockerfile"),
        (b"FROM scratch\nRUN true\n", "not a tar, tar.gz or zip archive"),
    ],
)
def test_unsafe_or_unusable_contexts_are_refused(archive: bytes, reason: str) -> None:
    with pytest.raises(buildctx.BadContext) as err:
        buildctx.context_from_archive(archive)
    assert reason in err.value.message


def test_zip_with_parent_path_is_refused() -> None:
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("Dockerfile", b"FROM scratch")
        z.writestr("../outside", b"x")
    with pytest.raises(buildctx.BadContext, match="escaping the context"):
        buildctx.context_from_archive(zbuf.getvalue())


def test_lone_dockerfile_becomes_a_one_file_context() -> None:
    assert _names(buildctx.context_from_dockerfile(b"FROM scratch\n")) == ["Dockerfile"]
    with pytest.raises(buildctx.BadContext, match="archive"):
        buildctx.context_from_dockerfile(_tar({"Dockerfile": b"FROM scratch"}, gz=True))


def test_passwords_encrypt_with_a_key_from_settings(settings: object) -> None:
    token = crypto.encrypt("s3cret-registry-pass")
    assert "s3cret" not in token
    assert crypto.decrypt(token) == "s3cret-registry-pass"
    # The derived key is HKDF(SECRET_KEY): another SECRET_KEY cannot read it.
    settings.SECRET_KEY = "another-secret-key"  # type: ignore[attr-defined]
    with pytest.raises(crypto.UndecryptableSecret, match="enter it again"):
        crypto.decrypt(token)
    # An explicit DOCKDASH_CREDENTIALS_KEY wins over the derived one.
    key = Fernet.generate_key().decode()
    settings.DOCKDASH_CREDENTIALS_KEY = key  # type: ignore[attr-defined]
    assert Fernet(key.encode()).decrypt(crypto.encrypt("x").encode()) == b"x"


def test_bearer_challenge_and_link_header_are_parsed() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="http://127.0.0.1:9/token",service="reg",scope="repository:a/b:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "http://127.0.0.1:9/token",
        "service": "reg",
        "scope": "repository:a/b:pull",
    }
    assert next_last('</v2/_catalog?last=team%2Fapp&n=2>; rel="next"') == "team/app"
    assert next_last(None) == ""


def test_progress_folds_engine_messages_into_layers_bytes_and_digest() -> None:
    p = Progress("pull")
    for msg in [
        {"status": "Pulling from team/app", "id": "v1"},
        {"status": "Pulling fs layer", "progressDetail": {}, "id": "aaa"},
        {"status": "Already exists", "progressDetail": {}, "id": "bbb"},
        {"status": "Downloading", "progressDetail": {"current": 100, "total": 400}, "id": "aaa"},
        {"status": "Downloading", "progressDetail": {"current": 300, "total": 400}, "id": "aaa"},
    ]:
        p.feed(msg)
    assert p.transferred() == (300, 400)
    assert p.layers["aaa"]["phase"] == "downloading"
    assert p.layers["bbb"]["phase"] == "exists"
    for msg in [
        {"status": "Download complete", "progressDetail": {}, "id": "aaa"},
        {"status": "Extracting", "progressDetail": {"current": 50, "total": 400}, "id": "aaa"},
        {"status": "Pull complete", "progressDetail": {}, "id": "aaa"},
        {"status": "Digest: sha256:" + "c" * 64},
    ]:
        p.feed(msg)
    assert p.transferred() == (400, 400)
    assert p.layers["aaa"]["phase"] == "done"
    assert p.digest == "sha256:" + "c" * 64
    # Progress ticks do not flood the log: one line per status change.
    assert p.lines.count("aaa: Downloading") == 1


def test_push_progress_never_counts_more_than_the_layer_size() -> None:
    # Real engine messages: a push counts compressed bytes against the layer size.
    p = Progress("push")
    p.feed({"status": "Preparing", "progressDetail": {}, "id": "ccc"})
    p.feed({"status": "Pushing", "progressDetail": {"current": 138752, "total": 3216}, "id": "ccc"})
    assert p.transferred() == (3216, 3216)
    p.feed({"status": "Pushed", "progressDetail": {}, "id": "ccc"})
    p.feed({"progressDetail": {}, "aux": {"Tag": "v1", "Digest": "sha256:" + "d" * 64, "Size": 9}})
    assert p.transferred() == (3216, 3216) and p.digest == "sha256:" + "d" * 64
