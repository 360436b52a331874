"""Typed readers for settings that come from the environment.

Every knob of dockdash is an environment variable; these helpers turn the text
into the type the setting needs and refuse bad values with a message that names
the variable, instead of failing somewhere later.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

N = TypeVar("N", int, float)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off, not {raw!r}"
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    return _env_number(name, default, int, "a whole number", minimum)


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    return _env_number(name, default, float, "a number", minimum)


def _env_number(name: str, default: N, parse: type[N], words: str, minimum: N | None) -> N:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {words}, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_from_url(url: str) -> dict[str, object]:
    """Django DATABASES entry for a `sqlite:///path` or `postgres://...` URL."""
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    if parts.scheme == "sqlite":
        # sqlite:///relative.db names a relative file, sqlite:////abs/path.db an absolute one
        name = unquote(parts.path)[1:]
        if not name:
            raise ImproperlyConfigured("DATABASE_URL sqlite:/// needs a file path")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name, "OPTIONS": options}
    if parts.scheme in {"postgres", "postgresql", "pgsql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {parts.scheme!r} is not supported (use sqlite:/// or postgres://)"
    )


# ---------------------------------------------------------------- shared-host policy


def env_port_range(name: str, default: tuple[int, int], *, minimum: int = 1024) -> tuple[int, int]:
    """A `LOW-HIGH` range of host ports, both ends included, never below `minimum`."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    low_text, sep, high_text = raw.strip().partition("-")
    try:
        low, high = int(low_text), int(high_text)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must look like 20000-29999, not {raw!r}") from None
    if not sep or not minimum <= low <= high <= 65535:
        raise ImproperlyConfigured(
            f"{name} must be LOW-HIGH with {minimum} <= LOW <= HIGH <= 65535, not {raw!r}"
        )
    return low, high


def env_subnet(name: str, default: str, *, longest: int) -> str:
    """An IPv4 network in CIDR form (`10.89.0.0/16`) no narrower than /`longest`."""
    raw = (os.environ.get(name) or default).strip()
    try:
        network = ipaddress.IPv4Network(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be an IPv4 network like {default}, not {raw!r}"
        ) from None
    if network.prefixlen > longest:
        raise ImproperlyConfigured(f"{name} must be /{longest} or wider, not {raw!r}")
    return str(network)


def env_abs_paths(name: str) -> list[str]:
    """A comma-separated list of absolute host paths, normalised (`..` folded)."""
    paths = env_list(name)
    for path in paths:
        if not path.startswith("/"):
            raise ImproperlyConfigured(f"{name} lists {path!r}, which is not an absolute path")
    return [os.path.normpath(path) for path in paths]


# ---------------------------------------------------------------- directory sign-in (LDAP)

LDAP_GROUP_TYPES = ("groupOfNames", "posixGroup")
# The LDAP attributes of a person copied to their account at each sign-in.
LDAP_ATTRIBUTES = {"first_name": "givenName", "last_name": "sn", "email": "mail"}
_LDAP_SCHEMES = ("ldap://", "ldaps://", "ldapi://")
_FILTER_USER = re.compile(r"\(([A-Za-z][A-Za-z0-9-]*)=%\(user\)s\)")


def _env_dn(name: str, *, required: bool = False) -> str:
    import ldap.dn

    raw = os.environ.get(name, "").strip()
    if required and not raw:
        raise ImproperlyConfigured(f"{name} must be set when DOCKDASH_LDAP_URI is")
    if not ldap.dn.is_dn(raw):
        raise ImproperlyConfigured(
            f"{name} must be a DN like ou=people,dc=school,dc=test, not {raw!r}"
        )
    return raw


def _env_user_filter(name: str) -> tuple[str, str]:
    """The filter finding a person by the name they sign in with, and that name's attribute."""
    raw = os.environ.get(name, "").strip() or "(uid=%(user)s)"
    found = _FILTER_USER.search(raw)
    balanced = raw.count("(") == raw.count(")") and raw.startswith("(") and raw.endswith(")")
    try:
        raw % {"user": "x"}
    except (KeyError, ValueError, TypeError):
        balanced = False
    if not found or not balanced:
        raise ImproperlyConfigured(
            f"{name} must be an LDAP filter holding (ATTRIBUTE=%(user)s), "
            f"like (uid=%(user)s), not {raw!r}"
        )
    return raw, found.group(1)


def _env_role_groups(name: str, roles: tuple[str, ...]) -> dict[str, str]:
    """`role=group;role=group` (groups by name, their cn) -> {role: group}."""
    raw = os.environ.get(name, "")
    mapping: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(";")):
        if not item:
            continue
        role, sep, group = (text.strip() for text in item.partition("="))
        if not sep or not group or role not in roles:
            raise ImproperlyConfigured(
                f"{name} must be ROLE=GROUP pairs separated by ';' (roles: {', '.join(roles)}), "
                f"like instructor=teachers;admin=it-staff, not {item!r}"
            )
        if role in mapping:
            raise ImproperlyConfigured(f"{name} names the role {role} twice")
        mapping[role] = group
    return mapping


def env_ldap(roles: tuple[str, ...]) -> dict[str, Any]:
    """The settings of sign-in against an LDAP directory (django-auth-ldap's AUTH_LDAP_*
    and dockdash's LDAP_*), from the DOCKDASH_LDAP_* variables; {} when DOCKDASH_LDAP_URI
    is unset. `roles`: the roles DOCKDASH_LDAP_ROLE_GROUPS may name."""
    uri = os.environ.get("DOCKDASH_LDAP_URI", "").strip()
    if not uri:
        return {}
    if not uri.lower().startswith(_LDAP_SCHEMES):
        raise ImproperlyConfigured(
            f"DOCKDASH_LDAP_URI must start with ldap://, ldaps:// or ldapi://, not {uri!r}"
        )
    try:
        import ldap
        from django_auth_ldap.config import GroupOfNamesType, LDAPSearch, PosixGroupType
    except ImportError as exc:
        raise ImproperlyConfigured(
            "DOCKDASH_LDAP_URI is set but django-auth-ldap is not installed: "
            "pip install -e '.[ldap]' (python-ldap builds against libldap2-dev and libsasl2-dev)"
        ) from exc

    bind_dn = _env_dn("DOCKDASH_LDAP_BIND_DN")
    user_base = _env_dn("DOCKDASH_LDAP_USER_SEARCH", required=True)
    user_filter, username_attr = _env_user_filter("DOCKDASH_LDAP_USER_FILTER")
    group_base = _env_dn("DOCKDASH_LDAP_GROUP_SEARCH")
    kind = os.environ.get("DOCKDASH_LDAP_GROUP_TYPE", "").strip() or LDAP_GROUP_TYPES[0]
    group_type = {t.lower(): t for t in LDAP_GROUP_TYPES}.get(kind.lower())
    if group_type is None:
        raise ImproperlyConfigured(
            f"DOCKDASH_LDAP_GROUP_TYPE must be one of {', '.join(LDAP_GROUP_TYPES)}, not {kind!r}"
        )
    role_groups = _env_role_groups("DOCKDASH_LDAP_ROLE_GROUPS", roles)
    if role_groups and not group_base:
        raise ImproperlyConfigured(
            "DOCKDASH_LDAP_ROLE_GROUPS needs DOCKDASH_LDAP_GROUP_SEARCH (where the groups are)"
        )
    timeout = env_float("DOCKDASH_LDAP_TIMEOUT", 5.0, minimum=0.1)
    found: dict[str, Any] = {
        "AUTH_LDAP_SERVER_URI": uri,
        "AUTH_LDAP_BIND_DN": bind_dn,
        "AUTH_LDAP_BIND_PASSWORD": os.environ.get("DOCKDASH_LDAP_BIND_PASSWORD", ""),
        # With a search account, groups are read as it, not as the person signing in.
        "AUTH_LDAP_BIND_AS_AUTHENTICATING_USER": not bind_dn,
        "AUTH_LDAP_USER_SEARCH": LDAPSearch(user_base, ldap.SCOPE_SUBTREE, user_filter),
        "AUTH_LDAP_USER_ATTR_MAP": dict(LDAP_ATTRIBUTES),
        # An outage answers within the timeout: connecting, and each operation after.
        "AUTH_LDAP_CONNECTION_OPTIONS": {
            ldap.OPT_NETWORK_TIMEOUT: timeout,
            ldap.OPT_TIMEOUT: timeout,
            ldap.OPT_REFERRALS: 0,
        },
        "LDAP_USERNAME_ATTR": username_attr,
        "LDAP_GROUP_TYPE": group_type,
        "LDAP_GROUP_BASE": group_base,
        "LDAP_ROLE_GROUPS": role_groups,
        "LDAP_TIMEOUT": timeout,
    }
    if group_base:
        found["AUTH_LDAP_GROUP_SEARCH"] = LDAPSearch(
            group_base, ldap.SCOPE_SUBTREE, f"(objectClass={group_type})"
        )
        found["AUTH_LDAP_GROUP_TYPE"] = (
            PosixGroupType(name_attr="cn")
            if group_type == "posixGroup"
            else GroupOfNamesType(name_attr="cn")
        )
    return found


# ---------------------------------------------------------------- OpenID Connect sign-in

OIDC_DEFAULT_SCOPES = "openid email profile"


def env_url(name: str) -> str:
    """An http(s) URL with a host and no query or fragment, without its trailing `/`; ""
    when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"{name} must be an http(s) URL like https://sso.example.org/realms/school, not {raw!r}"
        )
    return raw.rstrip("/")


def _env_required(name: str, because: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"{name} must be set when {because} is")
    return value


def _env_claim(name: str, default: str) -> str:
    raw = os.environ.get(name, "").strip() or default
    if any(char.isspace() for char in raw):
        raise ImproperlyConfigured(f"{name} must be a claim name like {default}, not {raw!r}")
    return raw


def env_oidc(roles: tuple[str, ...]) -> dict[str, Any]:
    """The settings of sign-in through an OpenID Connect provider (mozilla-django-oidc's
    OIDC_RP_* and dockdash's OIDC_*), from the DOCKDASH_OIDC_* variables; only OIDC_ISSUER,
    empty, when DOCKDASH_OIDC_ISSUER is unset. `roles`: the roles DOCKDASH_OIDC_ROLE_GROUPS
    may name."""
    issuer = env_url("DOCKDASH_OIDC_ISSUER")
    if not issuer:
        return {"OIDC_ISSUER": ""}
    scopes = os.environ.get("DOCKDASH_OIDC_SCOPES", "").replace(",", " ").split()
    scopes = scopes or OIDC_DEFAULT_SCOPES.split()
    if "openid" not in scopes:
        raise ImproperlyConfigured(
            f"DOCKDASH_OIDC_SCOPES must include openid, not {' '.join(scopes)!r}"
        )
    return {
        "OIDC_ISSUER": issuer,
        "OIDC_NAME": os.environ.get("DOCKDASH_OIDC_NAME", "").strip(),
        "OIDC_RP_CLIENT_ID": _env_required("DOCKDASH_OIDC_CLIENT_ID", "DOCKDASH_OIDC_ISSUER"),
        "OIDC_RP_CLIENT_SECRET": _env_required(
            "DOCKDASH_OIDC_CLIENT_SECRET", "DOCKDASH_OIDC_ISSUER"
        ),
        "OIDC_RP_SCOPES": " ".join(dict.fromkeys(scopes)),
        # What OpenID Connect Core makes the default (and what Keycloak, Google and Entra
        # sign ID tokens with); the keys come from the provider's jwks_uri.
        "OIDC_RP_SIGN_ALGO": "RS256",
        "OIDC_USE_PKCE": True,
        "OIDC_TIMEOUT": env_float("DOCKDASH_OIDC_TIMEOUT", 10.0, minimum=0.5),
        "OIDC_CREATE_USER": env_bool("DOCKDASH_OIDC_CREATE_USERS", True),
        "OIDC_USERNAME_CLAIM": _env_claim("DOCKDASH_OIDC_USERNAME_CLAIM", "preferred_username"),
        "OIDC_EMAIL_CLAIM": _env_claim("DOCKDASH_OIDC_EMAIL_CLAIM", "email"),
        "OIDC_GROUPS_CLAIM": _env_claim("DOCKDASH_OIDC_GROUPS_CLAIM", "groups"),
        "OIDC_ROLE_GROUPS": _env_role_groups("DOCKDASH_OIDC_ROLE_GROUPS", roles),
    }
