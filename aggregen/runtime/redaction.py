"""Keep passwords out of messages: URIs and error texts are redacted before they are shown."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

__all__ = ["redact", "redact_uri", "uri_password"]

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/]*):[^@/]*@")
_PASSWORD_PARAM = re.compile(r"(?i)(password\s*=\s*)('[^']*'|[^\s&]*)")


def uri_password(uri: str) -> str | None:
    """The password in `uri`, in the userinfo part or a `password` parameter, if any."""
    try:
        parts = urlsplit(uri)
        if parts.password:
            return unquote(parts.password)
    except ValueError:
        pass
    match = _PASSWORD_PARAM.search(uri)
    if match and match.group(2):
        return unquote(match.group(2).strip("'"))
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
