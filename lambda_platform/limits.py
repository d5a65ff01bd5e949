"""Lambda's numbers, as AWS documents them, and this platform's own defaults. Units are in the names.

Sources: the Invoke API reference (payload limits), "Asynchronous invocation" (retries, event age, throttle
back-off), AWS::Lambda::EventInvokeConfig and AWS::Lambda::Function (defaults), "Lambda quotas".
"""

from __future__ import annotations

# Invoke request bodies. AWS raised the asynchronous limit from 256 KB to 1 MB; both are binary units,
# as the service's messages show ("limit 262144 bytes", "smaller than 6291456 bytes").
EVENT_PAYLOAD_LIMIT_BYTES = 1024 * 1024
REQUEST_RESPONSE_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024
RESPONSE_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024

# AWS::Lambda::Function defaults when the template leaves a property out.
DEFAULT_MEMORY_SIZE_MB = 128
DEFAULT_TIMEOUT_S = 3

# Asynchronous invocation, when no EventInvokeConfig says otherwise: two retries, events kept six hours.
DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2
DEFAULT_MAXIMUM_EVENT_AGE_S = 6 * 3600
# After a function error Lambda waits one minute before the first retry and two before the second.
RETRY_DELAYS_S = (60.0, 120.0)
# A throttled event goes back to the queue; the interval grows exponentially from 1 s to at most 5 min.
THROTTLE_BACKOFF_INITIAL_S = 1.0
THROTTLE_BACKOFF_MAX_S = 300.0

# GetAccountSettings' code-size quotas (AccountLimit): 250 MB unzipped per function with its layers, 50 MB
# per zipped upload, 75 GB for the region's functions and layers together.
CODE_SIZE_UNZIPPED_BYTES = 262144000
CODE_SIZE_ZIPPED_BYTES = 52428800
TOTAL_CODE_SIZE_BYTES = 80530636800

# An account's concurrency is 1000 on AWS; this machine (2 cores shared) runs a few dozen processes well.
DEFAULT_CONCURRENCY = 32
# Lambda bills in 1 ms steps (since Dec 2020) and, since Aug 2025, a cold start's Init Duration too.
BILLING_GRANULARITY_MS = 1
# What X-Amz-Log-Type: Tail returns: the end of the invocation's log, base64-encoded.
LOG_TAIL_BYTES = 4 * 1024

# This platform's own timings.
MEMORY_POLL_S = 0.05  # how often each environment's RSS is read; an allocation may overshoot this long
IDLE_ENVIRONMENT_S = 300.0  # Lambda reclaims idle environments after minutes; so does this platform
ENVIRONMENT_STOP_S = 5.0  # how long stop() waits for a killed environment to be reaped
