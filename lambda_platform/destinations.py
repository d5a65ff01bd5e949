"""OnFailure destinations: the invocation record Lambda sends when it drops an asynchronous event.

The record is AWS's documented format ("Asynchronous invocation", destinations)::

    {"version": "1.0", "timestamp": "2019-11-14T18:16:05.568Z",
     "requestContext": {"requestId": "...", "functionArn": "arn:...:function:my-function:$LATEST",
                        "condition": "RetriesExhausted", "approximateInvokeCount": 3},
     "requestPayload": {...the event...},
     "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
     "responsePayload": {...the last attempt's error document...}}

For an SQS queue the record is the message body, sent with boto3 to the SQS endpoint the caller gives
(moto in the rehearsal). An event that never ran (``EventAgeExceeded`` before its first attempt) has no
response parts. Other destination types (SNS, Lambda, EventBridge, S3) are not modelled.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping

SQS_ARN_PREFIX = "arn:aws:sqs:"
CONNECT_TIMEOUT_S = 2  # a missing SQS endpoint must not hold up the event queue for botocore's 60 s
READ_TIMEOUT_S = 10


class DestinationError(Exception):
    """The destination is of a type this platform cannot send to, or no endpoint was given for it."""


def invocation_record(
    *, request_id: str, function_arn: str, condition: str, attempts: int, payload: bytes, error: bytes
) -> dict:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record = {
        "version": "1.0",
        "timestamp": now,
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function_arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": _json_or_text(payload),
    }
    if attempts:
        record["responseContext"] = {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        }
        record["responsePayload"] = _json_or_text(error)
    return record


class Destinations:
    def __init__(self, *, sqs_endpoint_url: str = "", credentials: Mapping[str, str] | None = None):
        self.sqs_endpoint_url = sqs_endpoint_url
        self.credentials = dict(credentials or {})
        self._queue_urls: dict[str, str] = {}

    def send(self, destination_arn: str, record: dict) -> None:
        if not destination_arn.startswith(SQS_ARN_PREFIX):
            raise DestinationError(f"destination {destination_arn}: only SQS queues are modelled")
        if not self.sqs_endpoint_url:
            raise DestinationError(
                f"destination {destination_arn}: no SQS endpoint was given to the platform"
            )
        region, account, name = destination_arn.split(":")[3:6]
        client = self._client(region)
        if destination_arn not in self._queue_urls:
            answer = client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
            self._queue_urls[destination_arn] = answer["QueueUrl"]
        client.send_message(QueueUrl=self._queue_urls[destination_arn], MessageBody=json.dumps(record))

    def _client(self, region: str):
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S, retries={"max_attempts": 2}
        )
        return boto3.client(
            "sqs",
            region_name=region,
            endpoint_url=self.sqs_endpoint_url,
            aws_access_key_id=self.credentials.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=self.credentials.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=self.credentials.get("AWS_SESSION_TOKEN"),
            config=config,
        )


def _json_or_text(data: bytes):
    try:
        return json.loads(data)
    except ValueError:
        return data.decode(errors="replace")
