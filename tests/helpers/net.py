"""Ports, and a proxy that cuts streams the way a flaky network does."""

import socket
import threading


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class CutProxy:
    """A TCP proxy to the stack that cuts an SSE response after `cut_after` bytes, `cuts` times:
    the way a load balancer or a flaky network drops a long-lived stream mid-event."""

    def __init__(self, target: str, *, cut_after=700, cuts=2):
        host, port = target.split("//")[1].split(":")
        self.target = (host, int(port))
        self.cut_after, self.cuts_left, self.cuts = cut_after, cuts, 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            up = socket.create_connection(self.target)
            state = {"streaming": False, "sent": 0}
            threading.Thread(target=self._up, args=(conn, up, state), daemon=True).start()
            threading.Thread(target=self._down, args=(up, conn, state), daemon=True).start()

    def _up(self, conn, up, state):
        try:
            while data := conn.recv(65536):
                if b"/events/stream" in data:
                    state["streaming"], state["sent"] = True, 0
                up.sendall(data)
        except OSError:
            pass

    def _down(self, up, conn, state):
        try:
            while data := up.recv(65536):
                with self.lock:
                    cutting = state["streaming"] and self.cuts_left > 0
                    if cutting and state["sent"] + len(data) >= self.cut_after:
                        conn.sendall(data[: self.cut_after - state["sent"]])
                        self.cuts_left -= 1
                        self.cuts += 1
                        break
                state["sent"] += len(data)
                conn.sendall(data)
        except OSError:
            pass
        for s in (conn, up):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.sock.close()
