"""AWS transport: asynchronous (``Event``) Lambda invocations with boto3."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from ..config import LAMBDA_ASYNC_PAYLOAD_BYTES
from ..errors import PayloadTooLargeError, WukongError
from .base import encode_payload

INVOKE_ATTEMPTS = 4  # botocore retries throttling itself; these cover connection resets
# HTTP 413 from Invoke: the service sends RequestEntityTooLargeException; botocore's model calls it
# RequestTooLargeException (aws/aws-sdk#45). Either means the payload is over the function's limit.
PAYLOAD_TOO_LARGE_CODES = frozenset({"RequestEntityTooLargeException", "RequestTooLargeException"})
# Invoke's answer when the request rate is over the account's (Lambda queues Event invocations it cannot
# run yet, so this is about calls per second, not running executors); botocore retries it with back-off.
THROTTLE_CODES = frozenset({"TooManyRequestsException"})


class LambdaInvoker:
    """Invoke ``function_name`` once per payload, ``concurrency`` calls at a time. ``throttled_calls``
    counts the answers Lambda throttled (each was retried by botocore, or raised once retries ran out)."""

    def __init__(
        self,
        function_name: str,
        *,
        region: str,
        endpoint_url: str = "",
        concurrency: int = 8,
        max_payload_bytes: int = LAMBDA_ASYNC_PAYLOAD_BYTES,
        client=None,
    ):
        self.function_name = function_name
        self.max_payload_bytes = max_payload_bytes
        self.concurrency = max(1, concurrency)
        self.client = client or make_lambda_client(region, endpoint_url, self.concurrency)
        self.throttled_calls = 0
        self._count_lock = threading.Lock()
        # Every attempt, retried or not, passes through needs-retry; returning None leaves the decision
        # to botocore's own retry handler.
        self.client.meta.events.register("needs-retry.lambda.Invoke", self._count_throttle)

    @classmethod
    def for_executors(cls, config, concurrency: int = 8) -> LambdaInvoker:
        """The invoker of the configured executor function, as every platform component builds it."""
        return cls(
            config.executor_function_name,
            region=config.aws_region,
            endpoint_url=config.lambda_endpoint_url,
            concurrency=concurrency,
            max_payload_bytes=config.max_payload_bytes,
        )

    def invoke(self, payloads: list[dict]) -> None:
        bodies = [encode_payload(p) for p in payloads]
        for body in bodies:
            self.check_size(body)
        if len(bodies) <= 1:
            for body in bodies:
                self.invoke_one(body)
            return
        with ThreadPoolExecutor(min(self.concurrency, len(bodies))) as pool:
            list(pool.map(self.invoke_one, bodies))

    def check_size(self, body: bytes) -> None:
        if len(body) > self.max_payload_bytes:
            raise PayloadTooLargeError(
                f"an invocation payload is {len(body)} bytes, over the {self.max_payload_bytes}-byte limit of "
                "asynchronous Lambda invocations. Wukong moves big schedules and inputs to Redis by itself, so "
                "this is a bug: please report it with the graph that caused it."
            )

    def invoke_one(self, body: bytes) -> None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.invoke(
                FunctionName=self.function_name, InvocationType="Event", Payload=body
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in PAYLOAD_TOO_LARGE_CODES:
                raise PayloadTooLargeError(
                    f"Lambda refused a {len(body)}-byte payload for {self.function_name} as too large; "
                    "lower max_payload_bytes to the function's limit."
                ) from exc
            raise WukongError(f"invoking Lambda function {self.function_name} failed: {exc}") from exc
        status = response.get("StatusCode")
        if status != 202:
            raise WukongError(
                f"Lambda function {self.function_name} answered {status} to an Event invocation"
            )

    def _count_throttle(self, response=None, **kwargs) -> None:
        parsed = response[1] if response else {}
        if parsed.get("Error", {}).get("Code") in THROTTLE_CODES:
            with self._count_lock:
                self.throttled_calls += 1


def make_lambda_client(region: str, endpoint_url: str, pool_size: int):
    from .. import aws_sdk as sdk

    boto3 = sdk.boto3_module()  # names the wukong[aws] extra when the SDK is missing
    from botocore.config import Config

    config = Config(
        max_pool_connections=max(10, pool_size), retries={"max_attempts": INVOKE_ATTEMPTS, "mode": "standard"}
    )
    return boto3.client("lambda", region_name=region, endpoint_url=endpoint_url or None, config=config)
