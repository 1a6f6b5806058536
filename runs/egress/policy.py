"""Egress policy: allow entries (validated strictly), host matching, and which addresses a name
may resolve to. Standard library only: the proxy process and the template recipe share it."""

import ipaddress
import re
from dataclasses import dataclass

DEFAULT_PORTS = (80, 443)  # an entry without a port allows plain HTTP and HTTPS
MAX_ENTRY_LENGTH = 260
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Cloud metadata services (AWS/GCP/Azure/OpenStack, Alibaba, Oracle, AWS IPv6): never a
# dependency host, whatever the allow list says, unless listed literally.
METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("100.100.100.200"),
    ipaddress.ip_address("192.0.0.192"),
    ipaddress.ip_address("fd00:ec2::254"),
}


class AllowEntryError(ValueError):
    """An allow entry that is not a host name, host:port, *.suffix or IP literal."""


@dataclass(frozen=True)
class AllowEntry:
    text: str  # the normalised entry, as stored and shown
    host: str  # a lowercase name, a suffix (without "*."), or an IP literal's text
    port: int | None
    wildcard: bool = False
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None

    def ports(self) -> tuple[int, ...]:
        return (self.port,) if self.port else DEFAULT_PORTS

    def matches(self, host: str, port: int) -> bool:
        if port not in self.ports():
            return False
        if self.ip is not None:
            return _ip(host) == self.ip
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host


def _ip(text: str):
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or len(text) > 5 or not 1 <= int(text) <= 65535:
        raise AllowEntryError(f"{entry!r}: the port must be a number from 1 to 65535")
    return int(text)


def _split(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [v6] or [v6]:port
        inside, closed, rest = entry[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise AllowEntryError(f"{entry!r}: text after the bracketed address")
        return inside, _port(rest[1:], entry) if rest else None
    if entry.count(":") > 1:  # a bare IPv6 literal, no port
        return entry, None
    host, sep, port = entry.partition(":")
    return host, _port(port, entry) if sep else None


def _check_name(name: str, entry: str, *, min_labels: int = 1) -> None:
    labels = name.split(".")
    if len(labels) < min_labels:
        raise AllowEntryError(f"{entry!r}: a wildcard needs a suffix of two labels at least")
    if len(name) > 253 or not all(_LABEL.match(x) for x in labels):
        raise AllowEntryError(
            f"{entry!r}: not a host name (letters, digits and hyphens in dot-separated labels)"
        )
    if labels[-1].isdigit():
        raise AllowEntryError(f"{entry!r}: a name cannot end in a number (an IP address?)")


def allow_entry_parse(text: str) -> AllowEntry:
    """One entry: `host`, `host:port`, `*.suffix[:port]`, an IPv4 literal[:port], or an IPv6
    literal (`::1`, `[::1]`, `[::1]:8443`). No scheme, path, user, CIDR range or bare `*`."""
    if not isinstance(text, str):
        raise AllowEntryError("an allow entry must be a string")
    entry = text.strip().lower()
    if not entry or len(entry) > MAX_ENTRY_LENGTH:
        raise AllowEntryError(f"{text!r}: empty or longer than {MAX_ENTRY_LENGTH} characters")
    if not entry.isascii() or any(c in entry for c in " \t/@?#%\\,;"):
        raise AllowEntryError(
            f"{text!r}: only a host, host:port, *.suffix or IP address (no scheme, path or user)"
        )
    host, port = _split(entry)
    shown = f"{host}:{port}" if port else host
    ip = _ip(host)
    if ip is not None:
        if ip.version == 6:
            shown = f"[{ip.compressed}]:{port}" if port else ip.compressed
        else:
            shown = f"{ip}:{port}" if port else str(ip)
        return AllowEntry(text=shown, host=str(ip), port=port, ip=ip)
    if host.startswith("*."):
        suffix = host[2:]
        # "*.com" would open a whole top-level domain: a suffix needs two labels at least.
        _check_name(suffix, text, min_labels=2)
        return AllowEntry(text=shown, host=suffix, port=port, wildcard=True)
    if "*" in host:
        raise AllowEntryError(f"{text!r}: a wildcard is only allowed as a leading '*.'")
    _check_name(host, text)
    return AllowEntry(text=shown, host=host, port=port)


def egress_allow_validate(entries, *, max_entries: int = 200) -> list[str]:
    """The normalised, de-duplicated list (order kept), or AllowEntryError naming the first bad
    entry. What a template recipe stores and a run pins."""
    if not isinstance(entries, list | tuple):
        raise AllowEntryError("egressAllow must be a list of strings")
    if len(entries) > max_entries:
        raise AllowEntryError(f"egressAllow has more than {max_entries} entries")
    out: list[str] = []
    for text in entries:
        normal = allow_entry_parse(text).text
        if normal not in out:
            out.append(normal)
    return out


def allow_match(entries: list[AllowEntry], host: str, port: int) -> AllowEntry | None:
    host = host.strip("[]").lower().rstrip(".")
    for entry in entries:
        if entry.matches(host, port):
            return entry
    return None


def address_problem(address: str) -> str:
    """Why a resolved address may not be reached by name ("" when it may): loopback, private,
    link-local, metadata, and anything else that is not a global unicast address."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for kind, test in (
        ("a metadata", lambda: ip in METADATA),
        ("an unspecified", lambda: ip.is_unspecified),
        ("a loopback", lambda: ip.is_loopback),
        ("a link-local", lambda: ip.is_link_local),
        ("a private", lambda: ip.is_private),
        ("a multicast", lambda: ip.is_multicast),
        ("a non-global", lambda: not ip.is_global),
    ):
        if test():
            return f"resolves to {kind} address ({ip})"
    return ""


def literally_allowed(entries: list[AllowEntry], address: str, port: int) -> bool:
    """A non-global address is reachable only through an entry that is that literal address."""
    ip = _ip(address.split("%")[0])
    return any(e.ip is not None and e.ip == ip and port in e.ports() for e in entries)


@dataclass(frozen=True)
class Policy:
    """What one run may do, sent by the worker when it opens the run at the proxy."""

    mode: str  # "allowlist" | "replay"
    allow: tuple[AllowEntry, ...] = ()
    methods: tuple[str, ...] = ("GET", "HEAD")
    max_bytes: int = 1 << 30
    max_requests: int = 5000

    @classmethod
    def from_dict(cls, data: dict) -> "Policy":
        return cls(
            mode=data["mode"],
            allow=tuple(allow_entry_parse(e) for e in data.get("allow", [])),
            methods=tuple(m.upper() for m in data.get("methods", ["GET", "HEAD"])),
            max_bytes=int(data.get("maxBytes", 1 << 30)),
            max_requests=int(data.get("maxRequests", 5000)),
        )

    def as_dict(self) -> dict:
        return {
            "mode": self.mode,
            "allow": [e.text for e in self.allow],
            "methods": list(self.methods),
            "maxBytes": self.max_bytes,
            "maxRequests": self.max_requests,
        }
