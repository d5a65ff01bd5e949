"""How many executors Lambda runs at once for this deployment: the account's quota, or the function's own.

A function with reserved concurrency gets exactly that many; one without shares the account's
unreserved pool (``GetAccountSettings``: ``AccountLimit.UnreservedConcurrentExecutions``). New accounts
often have far less than the default 1,000, and task grouping must know the real figure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .. import aws_sdk as sdk
from ..config import LAMBDA_DEFAULT_CONCURRENCY, WukongConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LambdaConcurrency:
    account_limit: int  # AccountLimit.ConcurrentExecutions: every function of the account and region
    unreserved: int  # AccountLimit.UnreservedConcurrentExecutions: what functions without a reservation share
    reserved: int | None  # the function's ReservedConcurrentExecutions; None when it has none

    @property
    def executors(self) -> int:
        """Executors of this function that can run at once."""
        return self.reserved if self.reserved is not None else self.unreserved


def read_concurrency(client, function_name: str) -> LambdaConcurrency:
    """Two read-only calls with a boto3 Lambda ``client``; raises what botocore raises."""
    limits = client.get_account_settings()["AccountLimit"]
    reserved = client.get_function_concurrency(FunctionName=function_name).get("ReservedConcurrentExecutions")
    return LambdaConcurrency(
        account_limit=int(limits["ConcurrentExecutions"]),
        unreserved=int(limits["UnreservedConcurrentExecutions"]),
        reserved=None if reserved is None else int(reserved),
    )


def executor_concurrency(config: WukongConfig, client=None) -> int:
    """The executor function's concurrency, or LAMBDA_DEFAULT_CONCURRENCY (with a warning) when the
    account cannot be read: grouping then assumes the default quota, as it did before it could ask."""
    client = client or sdk.client("lambda", region=config.aws_region, endpoint_url=config.lambda_endpoint_url)
    from botocore.exceptions import (  # after the SDK check: botocore comes with boto3
        BotoCoreError,
        ClientError,
    )

    try:
        found = read_concurrency(client, config.executor_function_name)
    except (BotoCoreError, ClientError) as exc:
        log.warning(
            "could not read Lambda's concurrency for %s (%s); assuming %d. The scheduler VM's role needs "
            "lambda:GetAccountSettings and lambda:GetFunctionConcurrency.",
            config.executor_function_name,
            exc,
            LAMBDA_DEFAULT_CONCURRENCY,
        )
        return LAMBDA_DEFAULT_CONCURRENCY
    if found.executors < 1:
        log.warning(
            "%s has reserved concurrency 0: Lambda runs none of its events (they go to the failure queue)",
            config.executor_function_name,
        )
    return max(1, found.executors)
