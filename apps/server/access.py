"""Who may talk to the server: a Host-header allow-list and an optional bearer token.

* **Host allow-list** (against DNS rebinding: a web page of another site whose name resolves to
  this machine): a request whose ``Host`` header names a host not in the list gets 421
  ``{"error": ...}``; by default only the loopback names (:data:`LOOPBACK_HOSTS`). The list
  entries are names or addresses without a port (``[::1]`` with brackets, ``::1`` is accepted
  too); ``*`` allows every host.
* **Bearer token**: when set, every request except the web page (``/`` and ``/static/...``) needs
  ``Authorization: Bearer <token>``; else 401 ``{"error": ...}`` with ``WWW-Authenticate: Bearer``.
  The comparison takes the same time however much of the token is right.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable

from .limits import Receive, Scope, Send, send_json

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
"""The hosts a server accepts by default."""

WILDCARD_ADDRESSES = ("", "0.0.0.0", "::", "[::]")
"""Bind addresses meaning every interface (they are no name a client would send)."""

OPEN_PATHS = ("/", "/static/")
"""Paths served without the token: the web page and its files (the page asks for the token)."""


def normalize_host(host: str) -> str:
    """``host`` as the allow-list compares it: lower case, no trailing dot, IPv6 in brackets."""
    host = host.strip().lower().rstrip(".")
    try:
        if ipaddress.ip_address(host.strip("[]")).version == 6:
            return f"[{host.strip('[]')}]"
    except ValueError:
        pass
    return host


def header_host(value: str) -> str:
    """The host part of a ``Host`` header value (``name``, ``name:port``, ``[v6]:port``), normalized."""
    value = value.strip()
    if value.startswith("["):
        return normalize_host(value[: value.find("]") + 1] if "]" in value else value)
    return normalize_host(value.rsplit(":", 1)[0] if value.count(":") == 1 else value)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    host = normalize_host(host)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The allow-list of a server bound to ``bind_host``: loopback names, ``bind_host`` unless it is
    a wildcard address, and ``extra`` (``--allowed-host``)."""
    hosts = list(LOOPBACK_HOSTS)
    if bind_host not in WILDCARD_ADDRESSES:
        hosts.append(bind_host)
    hosts.extend(extra)
    return tuple(dict.fromkeys(normalize_host(host) for host in hosts))


class AccessMiddleware:
    """ASGI middleware refusing requests for other hosts (421) and without the token (401).

    Args:
        app: the wrapped ASGI app.
        hosts: allowed hosts (normalized by :func:`normalize_host`; ``*`` allows every host).
        token: the bearer token every request outside :data:`OPEN_PATHS` must carry; None: no token.
    """

    def __init__(
        self, app: Callable[[Scope, Receive, Send], Awaitable[None]], hosts: Iterable[str], token: str | None
    ) -> None:
        self.app = app
        self.hosts = frozenset(normalize_host(host) for host in hosts)
        self.token = token.encode("utf-8") if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name: value for name, value in scope.get("headers") or []}
        if "*" not in self.hosts:
            raw = headers.get(b"host")
            host = header_host(raw.decode("latin-1")) if raw else ""
            if host not in self.hosts:
                shown = f"host {host!r}" if host else "a request without a Host header"
                await send_json(
                    send,
                    421,
                    {
                        "error": f"{shown} is not served here (allowed: {', '.join(sorted(self.hosts))}; "
                        "start the server with --allowed-host to add one)"
                    },
                )
                return
        path = scope.get("path", "")
        if self.token is not None and not (path == "/" or path.startswith(OPEN_PATHS[1])):
            if not _token_matches(headers.get(b"authorization", b""), self.token):
                await send_json(
                    send,
                    401,
                    {"error": "missing or wrong token: send 'Authorization: Bearer <token>'"},
                    headers=[(b"www-authenticate", b"Bearer")],
                )
                return
        await self.app(scope, receive, send)


def _token_matches(authorization: bytes, token: bytes) -> bool:
    scheme, _, given = authorization.partition(b" ")
    return hmac.compare_digest(given.strip(), token) and scheme.lower() == b"bearer"
