"""Keep passwords out of messages: URIs and error texts are redacted before they are shown."""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["redact", "redact_uri", "uri_secrets", "userinfo_problem"]

# The user info runs to the last "@" of the authority (a password may hold an unescaped one).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/\s]*):[^/\s]*@")
_PASSWORD_PARAM = re.compile(r"(?i)(password\s*=\s*)('[^']*'|[^\s&]*)")
_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?P<authority>[^/?#]*)")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def uri_secrets(uri: str) -> list[str]:
    """Every form of the password in `uri` (as written and percent-decoded), if any."""
    secrets: list[str] = []
    match = _AUTHORITY.match(uri)
    if match:
        userinfo = match.group("authority").rpartition("@")[0]
        if ":" in userinfo:
            secrets.append(userinfo.split(":", 1)[1])
    param = _PASSWORD_PARAM.search(uri)
    if param and param.group(2):
        secrets.append(param.group(2).strip("'"))
    decoded = [unquote(secret) for secret in secrets]
    return [secret for secret in dict.fromkeys(secrets + decoded) if secret]


def userinfo_problem(uri: str) -> str | None:
    """Why the user name or password of `uri` cannot be read, never quoting them; else None.

    An "@" in the user info must be written %40, and a "%" must start an escape.
    """
    match = _AUTHORITY.match(uri)
    if not match:
        return None
    authority = match.group("authority")
    if authority.count("@") > 1:
        return "the URI's user name or password holds an unescaped '@': write it as %40"
    if _BAD_ESCAPE.search(authority.rpartition("@")[0]):
        return (
            "the URI's user name or password holds a '%' that starts no escape "
            "(like %40): write a '%' itself as %25"
        )
    param = _PASSWORD_PARAM.search(uri)
    if param and _BAD_ESCAPE.search(param.group(2)):
        return "the URI's password parameter holds a '%' that starts no escape: write it as %25"
    return None


def redact_uri(uri: str) -> str:
    """`uri` with any password replaced by `***`."""
    redacted = _USERINFO.sub(r"\g<scheme>\g<user>:***@", uri)
    return _PASSWORD_PARAM.sub(r"\1***", redacted)


def redact(text: str, *secrets: str | None) -> str:
    """`text` with each secret, and any password in a URI or key=value pair, replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return redact_uri(text)
