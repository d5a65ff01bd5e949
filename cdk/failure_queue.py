"""The executor's on-failure destination: an SQS queue of the events Lambda gave up on.

Lambda retries a failed asynchronous invocation (twice at most) and drops an event older than the maximum
event age; either way it then sends a record of the event to this queue (``wukong.aws.failures`` reads
it). The client watches the queue while a job runs, so such a job fails at once, naming the task.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# A record matters only while its job runs (at most the maximum event age plus the executor's timeout
# after the invoke); an hour keeps it for a client that polls late, and drops it before anyone would care.
RETENTION = Duration.hours(1)
# SQS' largest message (1 MiB): a record holds the event (up to 1 MB) and Lambda's response; one over the
# limit arrives without its payload, naming no job (the client then waits for the job's deadline).
MAX_MESSAGE_BYTES = 1024 * 1024


class FailureQueue(Construct):
    """``queue``: standard (Lambda's destinations refuse FIFO queues), SSE with SQS-managed keys, TLS only."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            retention_period=RETENTION,
            max_message_size_bytes=MAX_MESSAGE_BYTES,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
