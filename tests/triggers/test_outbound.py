"""The SSRF-safe outbound client: which addresses are refused (IPv6 forms included), the
allowlist, names resolving to loopback, redirects never followed, TLS checked by name."""

from __future__ import annotations

import ipaddress
import re
import ssl
from pathlib import Path

import pytest

from core.errors import ConfigError
from tests.receiver import receiver, self_signed
from triggers.outbound import (
    OutboundClient,
    Refused,
    Unreachable,
    allowed_networks,
    check,
    forbidden,
)

LOOPBACK = allowed_networks(["127.0.0.0/8"])

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.1.2", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("100.64.0.1", "shared (CGNAT)"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "private"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "private"),
    ("255.255.255.255", "private"),
    ("198.18.0.1", "private"),  # benchmarking
    ("192.0.2.1", "private"),  # documentation
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("2001:db8::1", "private"),
    ("100::1", "private"),  # discard-only
    ("::127.0.0.1", "reserved"),  # IPv4-compatible (deprecated)
    ("::ffff:0:7f00:1", "reserved"),  # IPv4-translated
    ("64:ff9b:1::a00:1", "reserved"),  # NAT64 local use
]
CARRIED = [  # IPv6 forms judged by the IPv4 address inside
    ("::ffff:127.0.0.1", "127.0.0.1"),
    ("::ffff:10.0.0.1", "10.0.0.1"),
    ("::ffff:169.254.169.254", "169.254.169.254"),
    ("::ffff:100.64.1.1", "100.64.1.1"),
    ("2002:7f00:1::", "127.0.0.1"),  # 6to4
    ("2002:a9fe:a9fe::1", "169.254.169.254"),
    ("64:ff9b::7f00:1", "127.0.0.1"),  # NAT64
    ("64:ff9b::c0a8:101", "192.168.1.1"),
]
PUBLIC = ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_internal_addresses_are_refused(address: str, why: str) -> None:
    ip = ipaddress.ip_address(address)
    assert forbidden(ip) == why
    with pytest.raises(Refused, match=re.escape(f"{ip} is {why}")):
        check(ip, [])


@pytest.mark.parametrize(("address", "inner"), CARRIED)
def test_ipv6_forms_are_judged_by_the_ipv4_address_they_carry(address: str, inner: str) -> None:
    why = forbidden(ipaddress.ip_address(address))
    assert why is not None and why.startswith(f"it carries {inner}, which is ")


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert forbidden(ipaddress.ip_address(address)) is None
    check(ipaddress.ip_address(address), [])


def test_the_allowlist_admits_its_networks_and_their_mapped_forms_only() -> None:
    check(ipaddress.ip_address("127.0.0.1"), LOOPBACK)
    check(ipaddress.ip_address("::ffff:127.0.0.1"), LOOPBACK)
    check(ipaddress.ip_address("fd00::5"), allowed_networks(["fd00::/8"]))
    with pytest.raises(Refused, match=r"10\.0\.0\.1 is private"):
        check(ipaddress.ip_address("10.0.0.1"), LOOPBACK)
    with pytest.raises(Refused, match="::1 is loopback"):
        check(ipaddress.ip_address("::1"), LOOPBACK)


def test_a_bad_allowlist_entry_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="AUTOGLM_CALLBACK_ALLOW_NETWORKS"):
        allowed_networks(["10.0.0.0/33"])


def client(allow: list[str] | None = None, verify: ssl.SSLContext | None = None) -> OutboundClient:
    return OutboundClient(
        allowed_networks(allow or []), 5.0, user_agent="autoglm-callbacks/test", verify=verify
    )


def test_a_name_resolving_to_loopback_is_refused_before_any_connection() -> None:
    with receiver() as got:
        port = got.url.rsplit(":", 1)[1]
        for url in (f"http://localhost:{port}/hook", f"{got.url}/hook"):
            with pytest.raises(Refused, match=r"127\.0\.0\.1 is loopback"):
                client().post(url, b"{}", {})
        assert got.received == []


def test_only_http_and_https_are_spoken() -> None:
    for url in ("ftp://example.com/x", "file:///etc/passwd", "gopher://127.0.0.1/"):
        with pytest.raises(Refused, match="only http:// and https://"):
            client().post(url, b"{}", {})


def test_an_allowed_request_goes_to_the_checked_address_with_the_name_as_host() -> None:
    with receiver() as got:
        port = got.url.rsplit(":", 1)[1]
        answer = client(["127.0.0.0/8"]).post(
            f"http://localhost:{port}/hook?x=1", b'{"a":1}', {"Content-Type": "application/json"}
        )
        [request] = got.received
    assert (answer.status_code, answer.snippet) == (200, "answer 200")
    assert (request.method, request.path, request.body) == ("POST", "/hook?x=1", b'{"a":1}')
    assert request.headers["Host"] == f"localhost:{port}"
    assert request.headers["User-Agent"] == "autoglm-callbacks/test"


def test_a_redirect_is_reported_and_never_followed() -> None:
    with receiver() as target, receiver([(302, {"Location": f"{target.url}/stolen"})]) as got:
        answer = client(["127.0.0.0/8"]).post(f"{got.url}/hook", b"{}", {})
        assert len(got.received) == 1
        assert target.received == []
    assert (answer.status_code, answer.location) == (302, f"{target.url}/stolen")


def test_no_listener_is_unreachable_not_refused() -> None:
    with receiver() as got:
        url = got.url
    with pytest.raises(Unreachable, match="ConnectError"):
        client(["127.0.0.0/8"]).post(url, b"{}", {})
    with pytest.raises(Unreachable, match="cannot resolve"):
        client().post("http://no-such-host.invalid/", b"{}", {})


def test_tls_is_checked_against_the_name_not_the_address(tmp_path: Path) -> None:
    """The connection goes to 127.0.0.1, yet the certificate must name `localhost` (SNI)."""
    cert, key = self_signed(tmp_path, "localhost")
    trusted = ssl.create_default_context(cafile=cert)
    with receiver(tls=(cert, key)) as got:
        answer = client(["127.0.0.0/8"], trusted).post(f"{got.url}/hook", b"{}", {})
        assert answer.status_code == 200 and len(got.received) == 1
    other, other_key = self_signed(tmp_path, "elsewhere.test")
    with receiver(tls=(other, other_key)) as got:
        wrong = ssl.create_default_context(cafile=other)
        with pytest.raises(Unreachable, match="certificate"):
            client(["127.0.0.0/8"], wrong).post(f"{got.url}/hook", b"{}", {})
        assert got.received == []
