"""What the engine refused or could not do: the only exceptions that leave containers_app.engine.

Each is a Refusal (dashboard.refusals) carrying a message a person can act on
and the HTTP status the dashboard answers with.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from dashboard.refusals import Refusal


class EngineError(Refusal):
    """What the engine refused or could not do, in its words (a refusal like the rules')."""

    status = 502

    def __init__(self, message: str):
        super().__init__(message)


class NotFound(EngineError):
    status = 404


class Conflict(EngineError):
    status = 409


class BadRequest(EngineError):
    status = 400


class EngineUnavailable(EngineError):
    status = 503

    def __init__(self, endpoint: str, reason: str, engine: str = ""):
        self.endpoint = endpoint
        self.reason = reason
        self.engine = engine  # its name, where the dashboard knows several
        self.hint = start_hint(endpoint)
        super().__init__(f"The Docker engine at {endpoint} is unreachable: {reason}.")


class NoAnswerInTime(EngineError):
    """The engine took longer than we wait (it is itself waiting on a registry)."""

    status = 504


def start_hint(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in {"unix", ""}:
        return (
            f"Start the Docker daemon so that it listens on {parts.path or url} "
            "(`sudo systemctl start docker`, or `sudo dockerd &`), and make sure the "
            "dashboard's user may open that socket (root or the docker group)."
        )
    return (
        f"Check that a Docker daemon listens on {parts.hostname}:{parts.port} "
        "and that DOCKER_TLS_VERIFY/DOCKER_CERT_PATH match its TLS setup."
    )
