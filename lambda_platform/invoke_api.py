"""Lambda's Invoke API on loopback, HTTP/1.1 with keep-alive (botocore pools its connections).

``POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=...]`` with ``X-Amz-Invocation-Type``:

- ``Event``: 202, queued (see :mod:`event_queue`);
- ``RequestResponse`` (the default): 200 with the function's response, or with
  ``X-Amz-Function-Error: Unhandled`` and its error document; ``X-Amz-Log-Type: Tail`` adds
  ``X-Amz-Log-Result`` (the invocation's log, last 4 KB, base64);
- ``DryRun``: 204.

Errors, as the service sends them (JSON ``{"Type": "User", "message": ...}``, ``x-amzn-ErrorType``):
413 ``RequestEntityTooLargeException`` over the payload limit, 404 ``ResourceNotFoundException`` for an
unknown function or qualifier, 429 ``TooManyRequestsException`` when a RequestResponse finds no
concurrency left (``ConcurrentInvocationLimitExceeded``, or ``ReservedFunction...`` for a function's own
reservation) or when the request rate is over ``invoke_rate_per_s`` (any invocation type:
``FunctionInvocationRateLimitExceeded``), 400 ``InvalidRequestContentException`` for a body that is not JSON.

``GET /2016-08-19/account-settings`` and ``GET /2019-09-30/functions/{FunctionName}/concurrency`` are
GetAccountSettings and GetFunctionConcurrency (:mod:`account`). ``GET /_platform/reports[?function=NAME]``, ``/_platform/dropped`` and ``/_platform/stats`` return the
REPORT records with their billed GB-s, the dropped events, and the counters, as JSON.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from .account import RATE_LIMIT_REASON, account_settings, function_concurrency
from .limits import EVENT_PAYLOAD_LIMIT_BYTES, LOG_TAIL_BYTES, REQUEST_RESPONSE_PAYLOAD_LIMIT_BYTES
from .loopback_http import JsonHandler, LoopbackServer
from .names import LATEST, parse_function_name
from .pool import Throttled

if TYPE_CHECKING:
    from .platform import LambdaPlatform

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
ACCOUNT_SETTINGS_PATH = re.compile(r"^/2016-08-19/account-settings/?$")
CONCURRENCY_PATH = re.compile(r"^/2019-09-30/functions/(?P<name>[^/]+)/concurrency/?$")
PAYLOAD_LIMITS_BYTES = {
    "Event": EVENT_PAYLOAD_LIMIT_BYTES,
    "RequestResponse": REQUEST_RESPONSE_PAYLOAD_LIMIT_BYTES,
    "DryRun": REQUEST_RESPONSE_PAYLOAD_LIMIT_BYTES,
}


class InvokeError(Exception):
    def __init__(self, status: int, error_type: str, message: str, **extra):
        super().__init__(message)
        self.status, self.error_type, self.message, self.extra = status, error_type, message, extra


def invoke_server(platform: LambdaPlatform, host: str, port: int) -> LoopbackServer:
    """The Invoke API's server, listening already; ``start()`` serves it."""
    return LoopbackServer(host, port, _handler_class(platform), "invoke-api")


def _handler_class(platform: LambdaPlatform):
    class InvokeHandler(JsonHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if platform.settings.invoke_latency_s:
                time.sleep(platform.settings.invoke_latency_s)
            url = urlsplit(self.path)
            match = INVOKE_PATH.match(url.path)
            try:
                if not match:
                    raise InvokeError(404, "UnknownOperationException", f"Unknown operation POST {url.path}")
                qualifier = parse_qs(url.query).get("Qualifier", [""])[0]
                platform.count_call("Invoke")
                if not platform.request_rate.take():
                    raise InvokeError(
                        429, "TooManyRequestsException", "Rate Exceeded.", Reason=RATE_LIMIT_REASON
                    )
                self.invoke(unquote(match["name"]), qualifier, body)
            except InvokeError as error:
                document = {"Type": "User", "message": error.message, **error.extra}
                self.send(error.status, json.dumps(document).encode(), {"x-amzn-ErrorType": error.error_type})
            except Exception as exc:  # the platform failed (an environment would not start, it is stopping)
                document = {"Type": "Service", "message": f"{type(exc).__name__}: {exc}"}
                self.send(500, json.dumps(document).encode(), {"x-amzn-ErrorType": "ServiceException"})

        def invoke(self, name: str, qualifier: str, body: bytes) -> None:
            spec = find_function(platform, name, qualifier)
            invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
            if invocation_type not in PAYLOAD_LIMITS_BYTES:
                raise InvokeError(
                    400, "InvalidParameterValueException", f"invalid InvocationType {invocation_type}"
                )
            check_payload(invocation_type, body)
            if invocation_type == "DryRun":
                return self.send(204, b"", {})
            if invocation_type == "Event":
                request_id = platform.invoke_async(spec, body or b"{}")
                return self.send(202, b"", {"x-amzn-RequestId": request_id})
            try:
                result = platform.invoke_sync(
                    spec, body or b"{}", self.headers.get("X-Amz-Client-Context", "")
                )
            except Throttled as throttled:
                raise InvokeError(
                    429, "TooManyRequestsException", "Rate Exceeded.", Reason=throttled.reason
                ) from None
            headers = {"X-Amz-Executed-Version": LATEST, "x-amzn-RequestId": result.report.request_id}
            if result.function_error:
                headers["X-Amz-Function-Error"] = result.function_error
            if self.headers.get("X-Amz-Log-Type") == "Tail":
                headers["X-Amz-Log-Result"] = base64.b64encode(result.log.encode()[-LOG_TAIL_BYTES:]).decode()
            return self.send(200, result.payload, headers)

        def do_GET(self):
            url = urlsplit(self.path)
            if ACCOUNT_SETTINGS_PATH.match(url.path):
                platform.count_call("GetAccountSettings")
                return self.send(200, json.dumps(account_settings(platform)).encode(), {})
            match = CONCURRENCY_PATH.match(url.path)
            if match:
                platform.count_call("GetFunctionConcurrency")
                try:
                    spec = find_function(platform, unquote(match["name"]), "")
                except InvokeError as error:
                    document = {"Type": "User", "message": error.message}
                    return self.send(
                        error.status, json.dumps(document).encode(), {"x-amzn-ErrorType": error.error_type}
                    )
                return self.send(200, json.dumps(function_concurrency(platform, spec.name)).encode(), {})
            function = parse_qs(url.query).get("function", [""])[0]
            answers = {
                "/_platform/reports": lambda: {
                    "reports": [report.as_dict() for report in platform.reports(function)],
                    "billed_gb_s": platform.billed_gb_s(function),
                },
                "/_platform/dropped": lambda: {"dropped": platform.dropped_as_dicts()},
                "/_platform/stats": platform.stats,
            }
            if url.path not in answers:
                return self.send(404, json.dumps({"message": f"no such path {url.path}"}).encode(), {})
            return self.send(200, json.dumps(answers[url.path]()).encode(), {})

        def send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            super().send(status, body, {"x-amzn-RequestId": str(uuid.uuid4()), **headers})

    return InvokeHandler


def find_function(platform: LambdaPlatform, text: str, qualifier: str):
    parsed = parse_function_name(text)
    if parsed is None:
        raise InvokeError(
            400,
            "ValidationException",
            f"1 validation error detected: Value '{text}' at 'functionName' failed to satisfy constraint",
        )
    if parsed.qualifier and qualifier and parsed.qualifier != qualifier:
        raise InvokeError(
            400,
            "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the specified qualifier.",
        )
    qualifier = parsed.qualifier or qualifier
    settings = platform.settings
    spec = platform.function(parsed.name)
    elsewhere = parsed.region not in ("", settings.region) or parsed.account not in ("", settings.account_id)
    if spec is None or elsewhere or qualifier not in ("", LATEST):
        arn = platform.function_arn(parsed.name) + (f":{qualifier}" if qualifier else "")
        raise InvokeError(404, "ResourceNotFoundException", f"Function not found: {arn}")
    return spec


def check_payload(invocation_type: str, body: bytes) -> None:
    limit = PAYLOAD_LIMITS_BYTES[invocation_type]
    if len(body) > limit:
        message = (
            f"{len(body)} byte payload is too large for the Event invocation type (limit {limit} bytes)"
            if invocation_type == "Event"
            else f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
        )
        raise InvokeError(413, "RequestEntityTooLargeException", message)
    if body:
        try:
            json.loads(body)
        except ValueError as exc:
            raise InvokeError(
                400, "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
            ) from None
