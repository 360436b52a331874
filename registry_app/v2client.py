"""A small client for the Registry HTTP API v2 (catalog, tags, manifests, blobs, delete).

It speaks to a registry directly (not through the engine) with `requests`, and
answers the registry's `WWW-Authenticate` challenges: Basic with the stored
credentials, or Bearer by fetching a token from the realm the registry names.
Every failure leaves as RegistryError with a message in words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import requests

from dashboard.crypto import UndecryptableSecret
from registry_app.models import Credential, Registry
from registry_app.rules import bounded

TIMEOUT = (5.0, 20.0)  # connect, read
MAX_REDIRECTS = 5
MANIFEST_TYPES = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
]
_INDEX_TYPES = {
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
}
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class RegistryError(Exception):
    def __init__(self, message: str, status: int = 502):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Page:
    items: list[str]
    next_last: str  # the `last` to ask for the next page, "" on the last page


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="...",scope="..."` -> ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


def next_last(link: str | None) -> str:
    """The `last` parameter of the Link header's next page, or ""."""
    if not link:
        return ""
    found = _LINK_NEXT.search(link)
    if not found:
        return ""
    values = parse_qs(urlsplit(found.group(1)).query).get("last")
    return values[0] if values else ""


class RegistryClient:
    def __init__(self, base: str, username: str = "", password: str = "", *, host: str = ""):
        self.base = base.rstrip("/")
        self.host = host or urlsplit(self.base).netloc
        self.username = username
        self.password = password
        self.session = requests.Session()
        self._bearer: dict[str, str] = {}  # scope -> token, reused within this client

    @classmethod
    def for_registry(cls, registry: Registry, credential: Credential | None) -> RegistryClient:
        """A client logging in with `credential` (None: anonymous), chosen by the caller."""
        try:
            password = credential.get_password() if credential else ""
        except UndecryptableSecret as exc:
            raise RegistryError(str(exc), 400) from None
        username = credential.username if credential else ""
        return cls(registry.api_base, username, password, host=registry.host)

    # -------------------------------------------------------- transport and auth

    def _send(self, method: str, path: str, headers: dict[str, str], auth: Any) -> Any:
        url = self.base + path
        for _ in range(MAX_REDIRECTS + 1):
            answer = self._send_once(method, url, headers, auth)
            if not answer.is_redirect:
                return answer
            url = self._same_host_location(url, answer.headers.get("Location", ""))
        raise RegistryError(f"{self.host} redirected more than {MAX_REDIRECTS} times.", 502)

    def _same_host_location(self, url: str, location: str) -> str:
        # Following a redirect elsewhere would let a registry send the dashboard (and the
        # credentials) to any address it can reach; within the registry it is fine.
        target = urljoin(url, location)
        here, there = urlsplit(url), urlsplit(target)
        if (there.scheme, there.netloc) != (here.scheme, here.netloc):
            raise RegistryError(
                f"{self.host} redirected to another host; the dashboard does not follow that.",
                502,
            )
        return target

    def _send_once(self, method: str, url: str, headers: dict[str, str], auth: Any) -> Any:
        try:
            return self.session.request(
                method, url, headers=headers, auth=auth, timeout=TIMEOUT, allow_redirects=False
            )
        except requests.exceptions.SSLError as exc:
            raise RegistryError(
                f"TLS problem talking to {self.host}: {bounded(str(exc), 200)}"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            text = str(exc)
            if "Name or service not known" in text or "NameResolution" in text:
                why = "the name does not resolve (no internet access, or a typo?)"
            elif "refused" in text:
                why = "connection refused"
            else:
                why = "no connection"
            raise RegistryError(f"Unreachable: {self.host}: {why}.", 502) from None
        except requests.exceptions.Timeout:
            raise RegistryError(f"Unreachable: {self.host} gave no answer in time.", 504) from None

    def _token(self, params: dict[str, str]) -> str:
        realm = params.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise RegistryError(f"{self.host} asked for a token from an invalid realm {realm!r}.")
        query = {k: params[k] for k in ("service", "scope") if params.get(k)}
        auth = (self.username, self.password) if self.username else None
        try:
            answer = self.session.get(
                realm, params=query, auth=auth, timeout=TIMEOUT, allow_redirects=False
            )
        except requests.exceptions.RequestException:
            raise RegistryError(f"The token service of {self.host} is unreachable.") from None
        if answer.status_code in (401, 403):
            raise RegistryError(
                f"Wrong username or password: the token service of {self.host} refused them.",
                401,
            )
        if answer.status_code != 200:
            raise RegistryError(
                f"The token service of {self.host} answered {answer.status_code}.", 502
            )
        try:
            body = answer.json()
        except ValueError:
            raise RegistryError(f"The token service of {self.host} sent no JSON.") from None
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"The token service of {self.host} sent no token.")
        return str(token)

    def request(self, method: str, path: str, *, accept: list[str] | None = None) -> Any:
        """Send, answering one auth challenge; the response of the final attempt."""
        headers = {"Accept": ", ".join(accept)} if accept else {}
        answer = self._send(method, path, headers, None)
        if answer.status_code != 401:
            return answer
        scheme, params = parse_challenge(answer.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            if not self.username:
                raise RegistryError(f"{self.host} needs a username and password.", 401)
            answer = self._send(method, path, headers, (self.username, self.password))
            if answer.status_code == 401:
                raise RegistryError(
                    f"Wrong username or password: {self.host} refused them (401).", 401
                )
            return answer
        if scheme == "bearer":
            scope = params.get("scope", "")
            token = self._bearer.get(scope) or self._token(params)
            self._bearer[scope] = token
            answer = self._send(method, path, {**headers, "Authorization": f"Bearer {token}"}, None)
            if answer.status_code == 401:
                raise RegistryError(f"{self.host} refused the token it issued (401).", 401)
            return answer
        raise RegistryError(f"{self.host} asks for an unsupported login ({scheme or 'none'}).", 401)

    def _json(self, path: str, *, accept: list[str] | None = None) -> tuple[Any, Any]:
        answer = self.request("GET", path, accept=accept)
        if answer.status_code == 404:
            raise RegistryError(_registry_error_text(answer, f"Not found on {self.host}."), 404)
        if answer.status_code == 403:
            raise RegistryError(f"{self.host} denied access: {_registry_error_text(answer)}", 403)
        if answer.status_code != 200:
            raise RegistryError(
                f"{self.host} answered {answer.status_code}: {_registry_error_text(answer)}", 502
            )
        try:
            return answer.json(), answer
        except ValueError:
            raise RegistryError(
                f"{self.host} did not answer with JSON (is it a registry?)."
            ) from None

    # -------------------------------------------------------- API v2

    def ping(self) -> None:
        answer = self.request("GET", "/v2/")
        if answer.status_code != 200:
            raise RegistryError(
                f"{self.host} answered {answer.status_code} at /v2/: is it a Docker registry?"
            )

    def repositories(self, n: int = 50, last: str = "") -> Page:
        query = f"?n={n}" + (f"&last={quote(last, safe='')}" if last else "")
        body, answer = self._json("/v2/_catalog" + query)
        return Page(list(body.get("repositories") or []), next_last(answer.headers.get("Link")))

    def tags(self, repository: str, n: int = 100, last: str = "") -> Page:
        query = f"?n={n}" + (f"&last={quote(last, safe='')}" if last else "")
        body, answer = self._json(f"/v2/{repository}/tags/list" + query)
        return Page(sorted(body.get("tags") or []), next_last(answer.headers.get("Link")))

    def manifest(self, repository: str, reference: str) -> tuple[dict[str, Any], str, str]:
        """(manifest, media type, digest) of a tag or digest."""
        body, answer = self._json(f"/v2/{repository}/manifests/{reference}", accept=MANIFEST_TYPES)
        media = body.get("mediaType") or answer.headers.get("Content-Type", "").split(";")[0]
        return body, media, answer.headers.get("Docker-Content-Digest", "")

    def tag_detail(self, repository: str, tag: str) -> dict[str, Any]:
        """Digest, size, architecture, OS, created time and layers of one tag."""
        manifest, media, digest = self.manifest(repository, tag)
        platforms: list[str] = []
        if media in _INDEX_TYPES:
            entries = manifest.get("manifests") or []
            if not entries:
                raise RegistryError(f"{repository}:{tag} is an empty image index.")
            platforms = [
                "/".join(filter(None, [p.get("os"), p.get("architecture"), p.get("variant")]))
                for p in (e.get("platform") or {} for e in entries)
            ]
            manifest, media, _ = self.manifest(repository, entries[0]["digest"])
        if manifest.get("schemaVersion") == 1:
            raise RegistryError(f"{repository}:{tag} uses the old schema 1 manifest format.")
        config_ref = manifest.get("config") or {}
        config: dict[str, Any] = {}
        if config_ref.get("digest"):
            config, _ = self._json(f"/v2/{repository}/blobs/{config_ref['digest']}")
        layers = [
            {
                "digest": layer.get("digest", ""),
                "size": layer.get("size", 0),
                "media_type": layer.get("mediaType", ""),
            }
            for layer in manifest.get("layers") or []
        ]
        return {
            "repository": repository,
            "tag": tag,
            "digest": digest,
            "media_type": media,
            "size": int(config_ref.get("size") or 0) + sum(layer["size"] for layer in layers),
            "architecture": config.get("architecture", ""),
            "os": config.get("os", ""),
            "created": config.get("created", ""),
            "platforms": platforms,
            "layers": layers,
        }

    def delete_tag(self, repository: str, tag: str) -> str:
        """Delete the manifest the tag points to; its digest. RegistryError says why not."""
        answer = self.request("HEAD", f"/v2/{repository}/manifests/{tag}", accept=MANIFEST_TYPES)
        if answer.status_code == 404:
            raise RegistryError(f"{repository}:{tag} does not exist on {self.host}.", 404)
        digest = answer.headers.get("Docker-Content-Digest", "")
        if answer.status_code != 200 or not digest:
            raise RegistryError(f"{self.host} did not say which manifest {tag} points to.")
        answer = self.request("DELETE", f"/v2/{repository}/manifests/{digest}")
        if answer.status_code in (200, 202):
            return digest
        if answer.status_code == 405:
            raise RegistryError(
                f"{self.host} does not allow deleting (405 Method Not Allowed: deletion is "
                "disabled in its configuration, storage.delete.enabled).",
                405,
            )
        if answer.status_code in (401, 403):
            raise RegistryError(f"{self.host} denied deleting {repository}:{tag}.", 403)
        raise RegistryError(
            f"{self.host} answered {answer.status_code}: {_registry_error_text(answer)}"
        )


def _registry_error_text(answer: Any, default: str = "") -> str:
    """The message of a registry error body (`{"errors": [{"code", "message"}]}`)."""
    try:
        errors = answer.json().get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    if isinstance(errors, list) and errors:
        text = "; ".join(
            f"{e.get('code', '')}: {e.get('message', '')}" for e in errors if isinstance(e, dict)
        )
        return bounded(text, 200)
    return default or f"an answer of {len(answer.content or b'')} bytes that is no registry error"
