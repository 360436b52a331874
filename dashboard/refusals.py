"""The one family of refusals: every "no" the dashboard answers, with its status and field.

A refusal names what is wrong in words a person can act on (`message`), the
part of the request it concerns (`field`, "" when none) and the HTTP status.
Each surface has one handler for the whole family: the API answers
`{"error", "field"}` with the status (dashboard.api), pages show the message
(dashboard.middleware and the views' messages), websockets close with
`close_code` after a frame that says why.

    NotVisible   404  the object does not exist, or this user may not see it (one message for both)
    Forbidden    403  the user's role may not do this
    PolicyViolation 403  the shared-host policy refuses it (dashboard.policy)
    QuotaExceeded   403  it would pass a quota (dashboard.quotas)
    Invalid      400  bad input
    InUse        409  it is still used by something that must go first (a lab by its containers)
    engine errors: containers_app.engine.errors.EngineError and its kinds (conflict 409,
    unavailable 503, ...) are refusals too.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404


class Refusal(Exception):
    """Base of every refusal: `message` in words, `field` it concerns, `status` to answer."""

    status = 400
    about = ""  # the name of the object refused, when the user may know it (bulk results)

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def close_code(self) -> int:
        """The websocket close code for this refusal: 4000 + its HTTP status."""
        return 4000 + self.status


class Invalid(Refusal):
    status = 400


class NotVisible(Refusal, Http404):
    status = 404


class Forbidden(Refusal, PermissionDenied):
    status = 403


class InUse(Refusal):
    status = 409


class PolicyViolation(Refusal):
    """A request the shared-host policy refuses: `field` names the part, `message` why."""

    status = 403

    def __init__(self, field: str, message: str):
        super().__init__(message, field)


class QuotaExceeded(PolicyViolation):
    """A create or start that would pass a quota; the message carries the numbers."""
