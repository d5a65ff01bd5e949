"""The rehearsal of a deployment on this machine, with no AWS account: WukongStack deployed into moto, its
functions on the Lambda platform (``lambda_platform``), loopback ``redis-server``s for the metadata store
and the KVS nodes, the scheduler VM's config written by the VM's own code, its proxy run as its systemd
unit runs it, and the seed examples run in ``mode="aws"`` from a process that has only what the VM has.

``python -m rehearsal [--small] [EXAMPLE ...]`` (``./dev rehearse``) runs it (``run.py``). The pieces are a
component the tests and benchmarks share: ``moto.MotoServer`` and ``cdk_cli`` (the deploy tests),
``loopback.LoopbackDeployment`` (the synthesized functions on the platform without moto: the tests of jobs
on the platform, the platform benchmarks). docs/deploy.md lists every way it differs from AWS.
"""
