"""Lambda's Runtime API for one execution environment, as ``awslambdaric`` uses it.

Each environment gets its own loopback server, as each Lambda sandbox has its own endpoint
(``AWS_LAMBDA_RUNTIME_API``):

- ``GET  /2018-06-01/runtime/invocation/next``: blocks until the platform hands the environment an
  invocation, then answers with the event and the ``Lambda-Runtime-Aws-Request-Id``, ``-Deadline-Ms``
  (epoch milliseconds), ``-Invoked-Function-Arn`` and ``-Trace-Id`` headers. The first call also says
  that the function's init (runtime start and handler import) is over.
- ``POST /2018-06-01/runtime/invocation/{id}/response`` and ``.../{id}/error``: the outcome (202).
- ``POST /2018-06-01/runtime/init/error``: the handler could not be loaded (202); the runtime then exits.

HTTP/1.1 with keep-alive: the runtime client (libcurl) holds one connection for its whole life; an
HTTP/1.0 reply made it crash with SIGSEGV. State changes are announced on ``condition``, which the
environment waits on.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import threading
import time
from dataclasses import dataclass

from .limits import RESPONSE_PAYLOAD_LIMIT_BYTES
from .loopback_http import JsonHandler, LoopbackServer

NEXT_PATH = "/2018-06-01/runtime/invocation/next"
INIT_ERROR_PATH = "/2018-06-01/runtime/init/error"
OUTCOME_PATH = re.compile(r"^/2018-06-01/runtime/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"


@dataclass(frozen=True)
class Invocation:
    request_id: str
    payload: bytes
    function_arn: str
    deadline_epoch_ms: int
    trace_id: str
    client_context: str = ""


@dataclass(frozen=True)
class Outcome:
    """What the runtime posted: ``kind`` is "response" or "error" (then ``body`` is its error document)."""

    kind: str
    body: bytes
    error_type: str = ""


class RuntimeApi:
    def __init__(self, condition: threading.Condition):
        self.condition = condition
        self.ready_at: float | None = None  # monotonic time of the first GET .../next: init is over
        self.init_error: dict | None = None
        self.outcomes: dict[str, Outcome] = {}
        self._handed: queue.Queue[Invocation | None] = queue.Queue(maxsize=1)
        self._current = ""
        self._server = LoopbackServer("127.0.0.1", 0, _handler_class(self), "runtime-api")
        self._server.start()

    @property
    def address(self) -> str:
        return self._server.url.removeprefix("http://")

    def hand(self, invocation: Invocation) -> None:
        """Give the environment its next invocation (it takes it with GET .../next)."""
        self._handed.put_nowait(invocation)

    def close(self) -> None:
        with contextlib.suppress(queue.Full):
            self._handed.put_nowait(None)  # wakes a GET .../next still waiting
        self._server.stop()

    # --- called by the request handler ---

    def next_invocation(self) -> Invocation | None:
        with self.condition:
            if self.ready_at is None:
                self.ready_at = time.monotonic()
            self.condition.notify_all()
        invocation = self._handed.get()
        self._current = invocation.request_id if invocation else ""
        return invocation

    def post_outcome(self, request_id: str, outcome: Outcome) -> bool:
        with self.condition:
            if request_id != self._current or request_id in self.outcomes:
                return False
            self.outcomes[request_id] = outcome
            self.condition.notify_all()
            return True

    def post_init_error(self, document: dict) -> None:
        with self.condition:
            self.init_error = document
            self.condition.notify_all()


def _handler_class(api: RuntimeApi):
    class RuntimeApiHandler(JsonHandler):
        def do_GET(self):
            if self.path != NEXT_PATH:
                return self.reply(404, {"errorType": "NotFound", "errorMessage": self.path})
            invocation = api.next_invocation()
            if invocation is None:  # the environment is being stopped
                self.close_connection = True
                return None
            headers = {
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_epoch_ms),
                "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                "Lambda-Runtime-Trace-Id": invocation.trace_id,
            }
            if invocation.client_context:
                headers["Lambda-Runtime-Client-Context"] = invocation.client_context
            return self.send(200, invocation.payload, headers)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == INIT_ERROR_PATH:
                api.post_init_error(_json_or_text(body))
                return self.reply(202, {"status": "OK"})
            match = OUTCOME_PATH.match(self.path)
            if not match:
                return self.reply(404, {"errorType": "NotFound", "errorMessage": self.path})
            request_id = match["id"]
            if match["kind"] == "response" and len(body) > RESPONSE_PAYLOAD_LIMIT_BYTES:
                api.post_outcome(request_id, response_too_large(len(body)))
                return self.reply(413, {"errorType": "RequestEntityTooLarge", "errorMessage": "too large"})
            outcome = Outcome(match["kind"], body, self.headers.get(ERROR_TYPE_HEADER, ""))
            if not api.post_outcome(request_id, outcome):
                return self.reply(400, {"errorType": "InvalidRequestID", "errorMessage": "not current"})
            return self.reply(202, {"status": "OK"})

        def reply(self, status: int, document: dict) -> None:
            self.send(status, json.dumps(document).encode(), {})

    return RuntimeApiHandler


def response_too_large(size_bytes: int) -> Outcome:
    document = {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": f"Response payload size ({size_bytes} bytes) exceeded maximum allowed payload size "
        f"({RESPONSE_PAYLOAD_LIMIT_BYTES} bytes).",
    }
    return Outcome("error", json.dumps(document).encode(), document["errorType"])


def _json_or_text(body: bytes) -> dict:
    try:
        document = json.loads(body)
    except ValueError:
        return {"errorType": "Runtime.Unknown", "errorMessage": body.decode(errors="replace")}
    return document if isinstance(document, dict) else {"errorMessage": str(document)}
