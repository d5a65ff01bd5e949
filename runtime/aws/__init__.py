"""What ``mode="aws"`` needs beyond the executors: the SDK check, Lambda's concurrency, the failure watcher,
and the scheduler VM's config writer. Modules import boto3 only through :func:`sdk.boto3_module`, so a
``pip install wukong`` without the ``aws`` extra fails with an error that names the extra."""
