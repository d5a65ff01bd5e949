"""What both of the platform's HTTP servers share: HTTP/1.1 keep-alive JSON replies on loopback."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer(ThreadingHTTPServer):
    """A thread per connection, served from a thread of its own; quiet when a peer goes away."""

    daemon_threads = True
    # The listen backlog: socketserver's default of 5 refused connections when invoker functions opened
    # hundreds at once (their batches were retried as failures); Lambda's API takes them all.
    request_queue_size = 1024

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler], name: str):
        super().__init__((host, port), handler)
        self._thread = threading.Thread(target=self.serve_forever, name=name, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which must have started
            self.shutdown()
            self._thread.join(timeout=10)
        self.server_close()

    def handle_error(self, request, client_address) -> None:
        # A killed environment or a client that hung up resets its connection: not an error of ours.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: botocore pools connections, libcurl holds one
    # Headers and body are two writes: with Nagle and the peer's delayed ACK, each reply waited ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - the platform's logs are the REPORT records
        pass

    def send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
