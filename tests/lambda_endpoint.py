"""A loopback HTTP server that speaks Lambda's Invoke API and runs Python callables as the functions.

Enough of ``POST /2015-03-31/functions/{name}/invocations`` for boto3's ``lambda.invoke``:

- ``X-Amz-Invocation-Type: Event``: 202 and an empty body; the handler runs on a background thread.
- ``RequestResponse`` (the default): 200 with the handler's JSON result; a handler exception gives 200 with
  ``X-Amz-Function-Error: Unhandled`` and an error document, as Lambda does.
- ``DryRun``: 204.
- A body over Lambda's limit (1 MiB for Event since AWS raised it from 256 KiB, 6 MB for RequestResponse):
  413 with ``x-amzn-ErrorType: RequestEntityTooLargeException`` and a JSON error body with AWS's messages;
  the handler is not run.
- ``throttle_next=N``: the next N Invoke requests get 429 ``TooManyRequestsException`` (Reason
  ``CallerRateLimitExceeded``), as Lambda answers a request rate over the account's.
- An unknown function: 404 ``ResourceNotFoundException``.

And the two reads of Lambda's concurrency: ``GET /2016-08-19/account-settings`` (GetAccountSettings:
``AccountLimit`` from ``account_concurrency`` and the functions' ``reserved`` concurrency, as Lambda
computes ``UnreservedConcurrentExecutions``) and ``GET /2019-09-30/functions/{name}/concurrency``
(GetFunctionConcurrency: ``{}`` for a function without a reservation).

Usage::

    with LambdaEndpoint({"WukongExecutor": handler}) as endpoint:
        boto3.client("lambda", endpoint_url=endpoint.url, ...).invoke(FunctionName="WukongExecutor", ...)
        endpoint.drain()          # wait for Event invocations still running
"""

from __future__ import annotations

import json
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EVENT_PAYLOAD_LIMIT_BYTES = 1024 * 1024  # asynchronous invocations (256 KiB until October 2025)
SYNC_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024  # RequestResponse invocations
FUNCTION_TIMEOUT_S = 60.0  # what get_remaining_time_in_millis counts down from
# What Lambda sends for an oversized Invoke body. Note: botocore's model names it RequestTooLargeException,
# but the service answers RequestEntityTooLargeException (aws/aws-sdk#45), which boto3 raises as a plain
# ClientError with that code.
TOO_LARGE_ERROR = "RequestEntityTooLargeException"
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/?]+)/invocations(?:\?.*)?$")
ACCOUNT_SETTINGS_PATH = re.compile(r"^/2016-08-19/account-settings/?(?:\?.*)?$")
CONCURRENCY_PATH = re.compile(r"^/2019-09-30/functions/(?P<name>[^/?]+)/concurrency/?(?:\?.*)?$")
DEFAULT_ACCOUNT_CONCURRENCY = 1000


@dataclass
class LambdaContext:
    """The parts of Lambda's context object that handlers commonly use."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 128
    deadline: float = field(default_factory=lambda: time.monotonic() + FUNCTION_TIMEOUT_S)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Request:
    """One request as the endpoint saw it, whatever it answered."""

    function_name: str
    invocation_type: str
    body_bytes: int
    status: int


class LambdaEndpoint:
    def __init__(
        self,
        functions: Mapping[str, Callable],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        too_large_error: str = TOO_LARGE_ERROR,
        account_concurrency: int = DEFAULT_ACCOUNT_CONCURRENCY,
        reserved: Mapping[str, int] | None = None,
    ):
        self.functions = dict(functions)
        self.too_large_error = too_large_error
        self.account_concurrency = account_concurrency
        self.reserved = dict(reserved or {})  # function name -> ReservedConcurrentExecutions
        self.throttle_next = 0
        self.requests: list[Request] = []
        self.errors: list[str] = []  # tracebacks of Event handlers that raised
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler_class(self))
        self._server.daemon_threads = True
        self._serving: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LambdaEndpoint:
        self._serving = threading.Thread(
            target=self._server.serve_forever, name="lambda-endpoint", daemon=True
        )
        self._serving.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._serving:
            self._serving.join(timeout=10)

    def __enter__(self) -> LambdaEndpoint:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def take_throttle(self) -> bool:
        """True for the next ``throttle_next`` Invoke requests (each takes one)."""
        with self._lock:
            if self.throttle_next <= 0:
                return False
            self.throttle_next -= 1
            return True

    def drain(self, timeout_s: float = 30.0) -> None:
        """Wait until every Event invocation accepted so far has finished running."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                running = [t for t in self._threads if t.is_alive()]
            if not running:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(running)} Event invocation(s) still running after {timeout_s} s")
            running[0].join(timeout=remaining)

    # --- called by the request handler ---

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def run_in_background(self, function: Callable, event, context: LambdaContext) -> None:
        def run():
            try:
                function(event, context)
            except Exception:
                with self._lock:
                    self.errors.append(traceback.format_exc())

        thread = threading.Thread(target=run, name=f"event-{context.function_name}", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()


def _handler_class(endpoint: LambdaEndpoint):
    class InvokeHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects

        def log_message(self, format, *args):  # noqa: A002 - quiet; the tests read endpoint.requests
            pass

        def do_GET(self):
            self.seen = ("", "GET", 0)
            if ACCOUNT_SETTINGS_PATH.match(self.path):
                limit = {
                    "ConcurrentExecutions": endpoint.account_concurrency,
                    "UnreservedConcurrentExecutions": endpoint.account_concurrency
                    - sum(endpoint.reserved.values()),
                    "CodeSizeUnzipped": 262144000,
                    "CodeSizeZipped": 52428800,
                    "TotalCodeSize": 80530636800,
                }
                usage = {"TotalCodeSize": 0, "FunctionCount": len(endpoint.functions)}
                return self.reply(200, json.dumps({"AccountLimit": limit, "AccountUsage": usage}).encode())
            match = CONCURRENCY_PATH.match(self.path)
            if match is None:
                return self.error(404, "UnknownOperationException", f"no such operation: GET {self.path}")
            name = _function_name(match["name"])
            if name not in endpoint.functions:
                return self.error(404, "ResourceNotFoundException", f"Function not found: {name}")
            reserved = endpoint.reserved.get(name)
            document = {} if reserved is None else {"ReservedConcurrentExecutions": reserved}
            return self.reply(200, json.dumps(document).encode())

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            match = INVOKE_PATH.match(self.path)
            invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
            name = match["name"] if match else ""
            self.seen = (name, invocation_type, len(body))
            if match and endpoint.take_throttle():
                body = json.dumps(
                    {"Type": "User", "message": "Rate Exceeded.", "Reason": "CallerRateLimitExceeded"}
                )
                self.reply(429, body.encode(), {"x-amzn-ErrorType": "TooManyRequestsException"})
            elif match:
                self.answer(name, invocation_type, body)
            else:
                self.error(404, "UnknownOperationException", f"no such operation: POST {self.path}")

        def answer(self, name: str, invocation_type: str, body: bytes) -> int:
            function = endpoint.functions.get(_function_name(name))
            if function is None:
                return self.error(404, "ResourceNotFoundException", f"Function not found: {name}")
            limit = EVENT_PAYLOAD_LIMIT_BYTES if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT_BYTES
            if len(body) > limit:
                return self.error(
                    413, endpoint.too_large_error, _too_large_message(invocation_type, len(body))
                )
            try:
                event = json.loads(body or b"{}")
            except ValueError:
                return self.error(
                    400, "InvalidRequestContentException", "Could not parse request body into json"
                )
            context = LambdaContext(_function_name(name))
            if invocation_type == "DryRun":
                return self.reply(204, b"")
            if invocation_type == "Event":
                endpoint.run_in_background(function, event, context)
                return self.reply(202, b"")
            try:
                result = json.dumps(function(event, context)).encode()
            except Exception as exc:
                document = {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "stackTrace": traceback.format_tb(exc.__traceback__),
                }
                return self.reply(200, json.dumps(document).encode(), {"X-Amz-Function-Error": "Unhandled"})
            return self.reply(200, result, {"X-Amz-Executed-Version": "$LATEST"})

        def error(self, status: int, error_type: str, message: str) -> int:
            body = json.dumps({"Type": "User", "message": message}).encode()
            return self.reply(status, body, {"x-amzn-ErrorType": error_type})

        def reply(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> int:
            endpoint.record(Request(*self.seen, status))  # before answering: the client may look right after
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
            return status

    return InvokeHandler


def _too_large_message(invocation_type: str, body_bytes: int) -> str:
    if invocation_type == "Event":
        return (
            f"{body_bytes} byte payload is too large for the Event invocation type "
            f"(limit {EVENT_PAYLOAD_LIMIT_BYTES} bytes)"
        )
    return f"Request must be smaller than {SYNC_PAYLOAD_LIMIT_BYTES} bytes for the InvokeFunction operation"


def _function_name(name_or_arn: str) -> str:
    """FunctionName may be a name, a partial or a full ARN; ``name:qualifier`` is accepted too."""
    from urllib.parse import unquote

    name = unquote(name_or_arn)
    if name.startswith("arn:"):
        name = name.split(":")[6]
    return name.split(":", 1)[0]
