"""The mitmproxy addon: every request of a run is checked against its policy, answered from its
recording when it replays, and written to its log with the body's sha256.

Names are resolved here and checked (loopback, private, link-local and metadata addresses are
refused unless the allow entry is that literal address); the connection then goes to exactly
the addresses that were checked (a pinned answer for mitmproxy's own lookup, PinnedResolver), so
a name cannot resolve to one address for the check and another for the connect."""

import contextvars
import hashlib
import ipaddress
import socket
import time

from mitmproxy import http

from .policy import address_problem, allow_match, literally_allowed
from .record import ALLOWED, REFUSED, REPLAY_HEADERS, REPLAYED, entry_make

PINNED: contextvars.ContextVar = contextvars.ContextVar("crownest_pinned", default=None)
REFUSED_PREFIX = "crownest egress refused: "
MARK = "crownest"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class PinnedResolver:
    """Stands in for the event loop's getaddrinfo: mitmproxy's connect gets the addresses the
    addon checked for this very connection, and any other lookup is refused."""

    def __init__(self, loop):
        self.real = loop.getaddrinfo

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):
        pinned = PINNED.get()
        if not pinned or pinned[0] != host or pinned[1] != port:
            raise socket.gaierror(socket.EAI_FAIL, "egress: lookup outside a checked connection")
        out = []
        for ip in pinned[2]:
            fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
            out.append((fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port)))
        return out


class EgressAddon:
    def __init__(self, table, resolver: PinnedResolver):
        self.table, self.resolver = table, resolver

    # --- refusing and recording ---------------------------------------------------------

    def _record(self, run, flow, decision: str, reason: str = "", body: bytes | None = None):
        req = flow.request
        resp = flow.response if decision != REFUSED else None  # a refusal is ours, not upstream's
        started = flow.metadata.get("crownest_started", time.monotonic())
        headers = {k: resp.headers[k] for k in REPLAY_HEADERS if resp and k in resp.headers}
        entry = entry_make(
            seq=run.next_seq(),
            method=req.method,
            url=req.url if req.method != "CONNECT" else f"https://{req.host}:{req.port}/",
            host=req.host,
            decision=decision,
            status=resp.status_code if resp is not None else None,
            size=len(body or b""),
            sha256=hashlib.sha256(body).hexdigest() if body is not None else "",
            content_type=headers.get("content-type", ""),
            duration_ms=int((time.monotonic() - started) * 1000),
            reason=reason,
            headers=headers,
        )
        run.write(entry)

    def _refuse(self, flow, run, reason: str) -> None:
        req = flow.request
        text = f"crownest egress: refused {req.method} {req.pretty_url}: {reason}\n"
        headers = {"content-type": "text/plain; charset=utf-8", "x-crownest-egress": "refused"}
        flow.response = http.Response.make(403, text.encode(), headers)
        flow.metadata[MARK] = REFUSED
        if run is not None:
            self._record(run, flow, REFUSED, reason)

    # --- hooks --------------------------------------------------------------------------

    def http_connect(self, flow) -> None:
        run = self.table.run_of(flow.client_conn.peername)
        if run is None:
            return self._refuse(flow, None, "the connection did not come through a run's socket")
        flow.metadata["crownest_started"] = time.monotonic()
        host, port = flow.request.host, flow.request.port
        if run.policy.mode == "replay":
            if (host, port) not in run.replay_hosts:
                run.requests += 1
                reason = f"not in the recording: nothing was fetched from {host}:{port}"
                self._refuse(flow, run, reason)
        elif not allow_match(list(run.policy.allow), host, port):
            run.requests += 1
            self._refuse(flow, run, f"{host}:{port} is not on the run's allow list")

    async def requestheaders(self, flow) -> None:
        run = self.table.run_of(flow.client_conn.peername)
        if run is None:
            return self._refuse(flow, None, "the connection did not come through a run's socket")
        flow.metadata["crownest_started"] = time.monotonic()
        run.requests += 1
        problem = self._request_problem(run, flow.request)
        if problem:
            return self._refuse(flow, run, problem)
        if run.policy.mode == "replay":
            return self._replay(run, flow)
        _ips, problem = await self._resolve(run, flow.request.host, flow.request.port)
        if problem:
            self._refuse(flow, run, problem)

    def _request_problem(self, run, req) -> str:
        policy = run.policy
        if run.requests > policy.max_requests:
            return f"the run's request cap ({policy.max_requests} requests) is reached"
        if req.method.upper() not in policy.methods:
            return f"method {req.method} is not allowed (only {', '.join(policy.methods)})"
        if req.headers.get("upgrade", "").lower() == "websocket":
            return "websockets are not allowed"
        if req.scheme not in ("http", "https"):
            return f"scheme {req.scheme} is not allowed"
        if run.bytes >= policy.max_bytes:
            return f"the run's download cap ({policy.max_bytes} bytes) is reached"
        if policy.mode == "allowlist" and not allow_match(list(policy.allow), req.host, req.port):
            return f"{req.host}:{req.port} is not on the run's allow list"
        return ""

    def _replay(self, run, flow) -> None:
        req = flow.request
        entry = run.replay_take(req.method, req.url)
        if entry is None:
            return self._refuse(
                flow,
                run,
                f"not in the recording: the original run never fetched {req.method} {req.url}",
            )
        body = run.replay_body(entry["sha256"]) if entry["sha256"] else b""
        resp = http.Response.make(entry["status"], b"", dict(entry.get("headers") or {}))
        resp.raw_content = body
        resp.headers["content-length"] = str(len(body))
        resp.headers["x-crownest-egress"] = "replayed"
        flow.response = resp
        flow.metadata[MARK] = REPLAYED

    async def _resolve(self, run, host: str, port: int) -> tuple[list[str], str]:
        allow = list(run.policy.allow)
        if _is_ip(host):
            ips = [host.strip("[]")]
        else:
            try:
                infos = await self.resolver.real(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                return [], f"{host} does not resolve ({exc})"
            ips = list(dict.fromkeys(info[4][0] for info in infos))
        for ip in ips:
            problem = address_problem(ip)
            if problem and not literally_allowed(allow, ip, port):
                return [], f"{host} {problem}; only a literal address entry allows that"
        return ips, ""

    async def server_connect(self, data) -> None:
        run = self.table.run_of(data.client.peername)
        if run is None or run.policy.mode != "allowlist":
            data.server.error = REFUSED_PREFIX + "this run may not reach an upstream"
            return
        host, port = data.server.address
        ips, problem = await self._resolve(run, host, port)
        if problem:
            data.server.error = REFUSED_PREFIX + problem
            return
        PINNED.set((host, port, ips))

    def response(self, flow) -> None:
        run = self.table.run_of(flow.client_conn.peername)
        mark = flow.metadata.get(MARK)
        if run is None or mark == REFUSED or flow.request.method == "CONNECT":
            return
        body = flow.response.raw_content or b""
        if mark == REPLAYED:
            run.bytes += len(body)
            return self._record(run, flow, REPLAYED, body=body)
        if run.bytes + len(body) > run.policy.max_bytes:
            return self._refuse(
                flow,
                run,
                f"the run's download cap ({run.policy.max_bytes} bytes) would be passed",
            )
        run.bytes += len(body)
        digest = hashlib.sha256(body).hexdigest()
        run.keep_body(digest, body)
        self._record(run, flow, ALLOWED, body=body)

    def error(self, flow) -> None:
        run = self.table.run_of(flow.client_conn.peername)
        if run is None or flow.metadata.get(MARK) == REFUSED or flow.error is None:
            return
        message = flow.error.msg
        refused = REFUSED_PREFIX in message
        reason = message.split(REFUSED_PREFIX, 1)[1] if refused else f"failed: {message}"
        if "body_size_limit" in message:
            refused, reason = True, "the response is larger than the proxy's per-response limit"
        flow.response = None
        self._record(run, flow, REFUSED if refused else ALLOWED, reason)

    def websocket_start(self, flow) -> None:
        flow.kill()  # never reached (upgrades are refused above); kept as a second lock
