"""Build contexts from uploads: a lone Dockerfile, or a tar, tar.gz or zip archive.

Whatever comes in is checked member by member and re-packed into a clean,
uncompressed tar for the engine: no absolute paths, no `..` escaping the
context, no links pointing out of it, no device files. Anything else is refused
with a message saying which file is wrong.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import zipfile
from typing import IO

from registry_app.refs import InputError

MAX_CONTEXT_BYTES = 200 * 1024 * 1024


class BadContext(InputError):
    def __init__(self, message: str, field: str = "context"):
        super().__init__(message, field)


def _safe_name(name: str, *, what: str = "path") -> str:
    """The member name relative to the context root, or BadContext if it leaves the context."""
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise BadContext(f"The archive contains an absolute {what} ({name!r}): refused.")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise BadContext(f"The archive contains a {what} escaping the context ({name!r}): refused.")
    clean = posixpath.normpath("/".join(p for p in parts if p not in ("", ".")) or ".")
    return clean


def _check_link(member: tarfile.TarInfo, name: str) -> None:
    target = member.linkname
    if member.issym():
        if target.startswith("/"):
            raise BadContext(f"{name!r} is a symbolic link to an absolute path ({target!r}).")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    else:  # a hard link names another member of the archive
        resolved = posixpath.normpath(target)
    if resolved == ".." or resolved.startswith("../") or resolved.startswith("/"):
        raise BadContext(f"{name!r} links to {target!r}, outside the context: refused.")


def _add(out: tarfile.TarFile, info: tarfile.TarInfo, data: IO[bytes] | None) -> None:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    out.addfile(info, data)


def _from_tar(raw: bytes, out: tarfile.TarFile) -> set[str]:
    names: set[str] = set()
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as src:
            for member in src:
                name = _safe_name(member.name)
                if member.isdev() or member.isfifo():
                    raise BadContext(f"{member.name!r} is a device or FIFO: refused.")
                if member.issym() or member.islnk():
                    _check_link(member, name)
                member.name = name
                data = src.extractfile(member) if member.isfile() else None
                _add(out, member, data)
                names.add(name)
    except tarfile.TarError as exc:
        raise BadContext(f"The archive cannot be read: {exc}.") from exc
    return names


def _from_zip(raw: bytes, out: tarfile.TarFile) -> set[str]:
    names: set[str] = set()
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as src:
            for entry in src.infolist():
                name = _safe_name(entry.filename)
                info = tarfile.TarInfo(name)
                mode = (entry.external_attr >> 16) & 0o7777
                if entry.is_dir():
                    info.type = tarfile.DIRTYPE
                    info.mode = mode or 0o755
                    _add(out, info, None)
                else:
                    data = src.read(entry)
                    info.size = len(data)
                    info.mode = mode or 0o644
                    _add(out, info, io.BytesIO(data))
                names.add(name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise BadContext(f"The zip archive cannot be read: {exc}.") from exc
    return names


def archive_kind(raw: bytes) -> str:
    """ "zip", "tar" (plain or compressed) or "" for anything else."""
    if raw[:4] == b"PK\x03\x04" or raw[:4] == b"PK\x05\x06":
        return "zip"
    if raw[:2] == b"\x1f\x8b" or raw[:3] == b"BZh" or raw[:6] == b"\xfd7zXZ\x00":
        return "tar"
    if len(raw) >= 262 and raw[257:262] == b"ustar":
        return "tar"
    return ""


def context_from_archive(raw: bytes, dockerfile: str = "Dockerfile") -> io.BytesIO:
    """A clean tar of the uploaded archive, checked; BadContext says what is wrong."""
    if len(raw) > MAX_CONTEXT_BYTES:
        raise BadContext(f"The context is larger than {MAX_CONTEXT_BYTES // 2**20} MB.")
    kind = archive_kind(raw)
    if not kind:
        raise BadContext(
            "The uploaded context is not a tar, tar.gz or zip archive. Upload an archive, "
            "or upload a lone Dockerfile in the Dockerfile field."
        )
    dockerfile_name = _safe_name(dockerfile or "Dockerfile", what="Dockerfile path")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as out:
        names = _from_zip(raw, out) if kind == "zip" else _from_tar(raw, out)
    if dockerfile_name not in names:
        raise BadContext(
            f"The archive has no {dockerfile_name} at its top level "
            f"(it holds: {', '.join(sorted(names)[:8]) or 'nothing'}).",
            "dockerfile",
        )
    buf.seek(0)
    return buf


def context_from_dockerfile(text: bytes) -> io.BytesIO:
    """A context holding only the given Dockerfile."""
    if not text.strip():
        raise BadContext("The Dockerfile is empty.", "dockerfile_file")
    if archive_kind(text):
        raise BadContext(
            "That file is an archive: upload it as the build context instead.", "dockerfile_file"
        )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as out:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(text)
        info.mode = 0o644
        out.addfile(info, io.BytesIO(text))
    buf.seek(0)
    return buf


def dockerfile_text(context: io.BytesIO, dockerfile: str = "Dockerfile") -> str:
    """The Dockerfile a build of `context` reads (the engine follows a link within it)."""
    name = _safe_name(dockerfile or "Dockerfile", what="Dockerfile path")
    context.seek(0)
    try:
        with tarfile.open(fileobj=context, mode="r:") as tar:
            member = tar.getmember(name)
            data = tar.extractfile(member)
            text = data.read().decode(errors="replace") if data is not None else None
    except (KeyError, tarfile.TarError):
        text = None
    finally:
        context.seek(0)
    if text is None:
        raise BadContext(f"The build context has no file {name}.", "dockerfile")
    return text
