"""Where a callback may go: the address policy, applied to the address actually connected to.

A callback URL comes from the client under test (or from whoever can reach the emulator), so
it is checked after resolution, on every address the name resolves to, by the resolver the
HTTP client then connects with: no second lookup can swap the address (DNS rebinding), and a
name like `127.0.0.1.example.com` is judged by what it resolves to, not by how it reads.
Loopback, private addresses and compose service names stay allowed: that is where the
application under test lives. Link-local and cloud metadata endpoints are refused by default.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# names of cloud instance-metadata services (the addresses are refused as link-local or below)
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "metadata.tencentyun.com",
        "metadata.oraclecloud.com",
    }
)
# metadata addresses outside 169.254.0.0/16 and fe80::/10: AWS IPv6 IMDS, Alibaba Cloud
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")})
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(Exception):
    """The callback's target is not allowed by the policy; the callback is not sent."""


def _embedded_v4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one stands for (::ffff:a.b.c.d, 64:ff9b::a.b.c.d), else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


VERDICTS_KEPT = 1024  # hosts whose verdict is remembered (a test run calls back a handful)


class TargetPolicy:
    def __init__(self, loopback_only: bool = False, allow_link_local: bool = False) -> None:
        self.loopback_only = loopback_only
        self.allow_link_local = allow_link_local
        self._verdicts: dict[str, IPAddress | TargetRefused | None] = {}

    def check_host(self, host: str) -> IPAddress | None:
        """A URL's host judged before connecting: its address when it is a literal one (checked
        here; a name's addresses are checked by the resolver). The verdict is remembered: the
        policy never changes, and every callback of a run goes to the same few hosts, so parsing
        the address again cost each callback more than its own journaling."""
        verdict = self._verdicts.get(host, self)
        if verdict is self:
            try:
                verdict = literal_address(host)
                if verdict is None:
                    self.check_name(host)
                else:
                    self.check_address(verdict)
            except TargetRefused as refused:
                verdict = refused
            if len(self._verdicts) >= VERDICTS_KEPT:
                self._verdicts.clear()
            self._verdicts[host] = verdict
        if isinstance(verdict, TargetRefused):
            raise TargetRefused(str(verdict))
        return verdict  # type: ignore[return-value]

    def check_name(self, host: str) -> None:
        name = host.lower().rstrip(".")
        if not name:
            raise TargetRefused("the URL has no host")
        if self.loopback_only and name != "localhost" and not name.endswith(".localhost"):
            # not even looked up: the lookup itself would leave this machine
            raise TargetRefused(f"{host} is not loopback: --callback-loopback-only allows 127.0.0.0/8, ::1 and localhost only")
        if name in METADATA_NAMES and not self.allow_link_local:
            raise TargetRefused(f"{host} is a cloud metadata service (--callback-allow-link-local to allow)")

    def check_address(self, address: IPAddress | str, host: str = "") -> None:
        address = _embedded_v4(ipaddress.ip_address(address) if isinstance(address, str) else address)
        shown = f"{host} ({address})" if host and host != str(address) else str(address)
        if self.loopback_only and not address.is_loopback:
            raise TargetRefused(f"{shown} is not loopback: --callback-loopback-only allows 127.0.0.0/8 and ::1 only")
        if address.is_unspecified or address.is_multicast:
            raise TargetRefused(f"{shown} is not an address a callback can go to")
        if not self.allow_link_local and (address.is_link_local or address in METADATA_ADDRESSES):
            raise TargetRefused(f"{shown} is link-local or a metadata endpoint (--callback-allow-link-local to allow)")


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """Resolves with the default resolver, then refuses the whole name when any of its
    addresses is refused: the connector connects only to addresses this returned."""

    def __init__(self, policy: TargetPolicy) -> None:
        self.policy = policy
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        self.policy.check_name(host)
        results = await self._inner.resolve(host, port, family)
        for result in results:
            self.policy.check_address(result["host"], host)
        return results

    async def close(self) -> None:
        await self._inner.close()


async def local_addresses(bound_host: str) -> set[Any]:
    """This machine's own addresses (loopback aside): the bound one, and its hostname's."""
    found: set[Any] = set()
    bound = literal_address(bound_host)
    if bound is not None and not bound.is_unspecified:
        found.add(bound)
    try:
        infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(socket.gethostname(), None), 5)
    except (OSError, asyncio.TimeoutError):
        infos = []
    for info in infos:
        address = literal_address(str(info[4][0]))
        if address is not None:
            found.add(address)
    return found
