"""Requests to URLs that users name (completion callbacks), safe from server-side forgery.

A user's URL must not reach what only this server can reach: loopback, private and
link-local networks (a cloud's metadata service), multicast, reserved and unspecified
addresses, CGNAT, nor those hidden in IPv6 forms (IPv4-mapped, 6to4, NAT64). The host is
resolved once, every address it resolves to is checked, and the request goes to the checked
address itself with the name in `Host` and in TLS (SNI and certificate checks): a second
resolution could answer something else (DNS rebinding). Redirects are never followed, and
no proxy or `.netrc` from the environment is used.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from core.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# IPv6 forms that carry an IPv4 address: judged by the address they carry.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
SNIPPET_BYTES = 300


class Refused(Exception):
    """The URL may not be requested (a forbidden address or scheme): final, not retried."""


class Unreachable(Exception):
    """No answer came (the name did not resolve, no connection, a timeout): worth a retry."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    location: str | None  # a redirect's target, reported and never followed
    snippet: str  # the start of the body, for the record


def allowed_networks(cidrs: Iterable[str]) -> list[IPNetwork]:
    """The allowlist from settings; a bad entry is the operator's to fix."""
    try:
        return [ipaddress.ip_network(c.strip(), strict=False) for c in cidrs]
    except ValueError as exc:
        raise ConfigError(f"AUTOGLM_CALLBACK_ALLOW_NETWORKS: {exc}") from None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden(address: IPAddress) -> str | None:
    """Why `address` is not a public unicast address, or None when it is one."""
    carried = embedded_ipv4(address)
    if carried is not None:
        why = forbidden(carried)
        return f"it carries {carried}, which is {why}" if why else None
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("shared (CGNAT)", address in CGNAT),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def is_allowed(address: IPAddress, allow: Sequence[IPNetwork]) -> bool:
    """The allowlist admits the address itself or the IPv4 address it carries."""
    candidates = [a for a in (address, embedded_ipv4(address)) if a is not None]
    return any(a in network for a in candidates for network in allow)


def check(address: IPAddress, allow: Sequence[IPNetwork]) -> None:
    why = forbidden(address)
    if why is not None and not is_allowed(address, allow):
        raise Refused(
            f"{address} is {why}; callbacks may not reach it "
            "(AUTOGLM_CALLBACK_ALLOW_NETWORKS admits networks)"
        )


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an address literal resolves to itself)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unreachable(f"cannot resolve {host}: {exc}") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Unreachable(f"{host} resolves to no address")
    return addresses


class OutboundClient:
    """POSTs to user-named URLs: one checked address, one request, no redirects, no pooling
    (a pooled TLS connection made for one name must not carry another name's request)."""

    def __init__(
        self,
        allow: Sequence[IPNetwork],
        timeout: float,
        *,
        user_agent: str,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self.allow = list(allow)
        self.timeout = timeout
        self.user_agent = user_agent
        self.verify: ssl.SSLContext | bool = verify if verify is not None else True

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """Send `body` to `url`; `Refused` before any connection when it may not go there."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Refused(f"only http:// and https:// URLs with a host are allowed, not {url!r}")
        host = parts.hostname
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise Refused(f"bad port in {url!r}: {exc}") from None
        addresses = resolve(host, port)
        for address in addresses:  # every one: a resolver may answer any of them next time
            check(address, self.allow)
        target = addresses[0]
        literal = f"[{target}]" if target.version == 6 else str(target)
        direct = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        sent = {
            **headers,
            "Host": parts.netloc.rsplit("@", 1)[-1],
            "User-Agent": self.user_agent,
        }
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        try:
            with (
                httpx.Client(
                    timeout=self.timeout,
                    verify=self.verify,
                    follow_redirects=False,
                    trust_env=False,
                ) as client,
                client.stream(
                    "POST", direct, content=body, headers=sent, extensions=extensions
                ) as response,
            ):
                return Answer(
                    status_code=response.status_code,
                    location=response.headers.get("location"),
                    snippet=_start_of(response),
                )
        except httpx.HTTPError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc or 'no detail'} ({target})") from None


def _start_of(response: httpx.Response) -> str:
    """The first bytes of the body, decoded leniently (the rest is not read)."""
    chunk = b""
    for part in response.iter_bytes():
        chunk += part
        if len(chunk) >= SNIPPET_BYTES:
            break
    return chunk[:SNIPPET_BYTES].decode("utf-8", "replace")
