"""The scheduler VM's config file, written and checked by the same code on the VM and in a rehearsal.

    python -m wukong.aws.vm_config write --settings SETTINGS.json [--proxy-address IP] [--output PATH]
    python -m wukong.aws.vm_config check

``write`` takes the ``wukong:`` settings the stack rendered into the VM's user data (JSON), puts the VM's
own private IP in ``proxy_address`` (the user data cannot name it: a cycle), read from IMDSv2 unless
``--proxy-address`` is given, and writes /etc/dask/wukong.yaml (JSON, which is YAML) readable by all.
``check`` is the VM's readiness check before it signals CloudFormation: the settings load, the metadata
store answers with the configured password, Cloud Map lists KVS nodes that answer, and the proxy
accepts connections. It prints what it checked and exits 1 with the reason on the first failure.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import urllib.request
from pathlib import Path

CONFIG_PATH = Path("/etc/dask/wukong.yaml")  # dask reads /etc/dask/*.yaml by itself
IMDS_URL = "http://169.254.169.254/latest"
IMDS_TOKEN_TTL_S = 300
IMDS_TIMEOUT_S = 5.0
PROXY_CONNECT_TIMEOUT_S = 5.0


def write_config(settings: dict, *, proxy_address: str, path: Path = CONFIG_PATH) -> dict:
    """Write ``{"wukong": settings}`` with ``proxy_address`` filled in; returns the section written."""
    section = {**settings, "proxy_address": proxy_address}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"wukong": section}, indent=2, sort_keys=True) + "\n")
    path.chmod(0o644)
    return section


def private_ip_from_imds(timeout_s: float = IMDS_TIMEOUT_S) -> str:
    """The instance's private IPv4 address through IMDSv2 (the instances require tokens)."""
    token_request = urllib.request.Request(
        f"{IMDS_URL}/api/token",
        method="PUT",
        headers={"X-aws-ec2-metadata-token-ttl-seconds": str(IMDS_TOKEN_TTL_S)},
    )
    with urllib.request.urlopen(token_request, timeout=timeout_s) as response:
        token = response.read().decode()
    request = urllib.request.Request(
        f"{IMDS_URL}/meta-data/local-ipv4", headers={"X-aws-ec2-metadata-token": token}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return response.read().decode().strip()


def check_deployment(config=None, out=print) -> None:
    """Raise ``WukongError`` (or ``OSError``) with the reason unless the deployment answers."""
    from ..config import load_config
    from ..errors import WukongError
    from ..storage.connect import connect
    from .kvs_nodes import deployment_kvs_nodes

    config = config or load_config()
    if config.mode != "aws":
        raise WukongError(f"the settings say mode={config.mode!r}, not 'aws': is {CONFIG_PATH} there?")
    out(f"settings: mode=aws, metadata store {config.host}, KVS {config.kvs_service_name or 'on the MDS'}")
    stores = connect(config)  # pings the MDS (password from Secrets Manager)
    maxmemory = stores.mds.redis.config_get("maxmemory").get("maxmemory")
    out(f"metadata store answers with the configured password (maxmemory {maxmemory} bytes)")
    nodes = deployment_kvs_nodes(config)  # Cloud Map, as a job's client asks it (KvsDiscoveryError)
    stores.for_job(nodes, check=True)  # pings every node
    out(f"KVS: {len(nodes)} node(s) answer: {', '.join(nodes) or 'the MDS'}")
    with socket.create_connection((config.proxy_address, config.proxy_port), PROXY_CONNECT_TIMEOUT_S):
        out(f"proxy accepts connections at {config.proxy_address}:{config.proxy_port}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wukong.aws.vm_config", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="write the VM's config file from the stack's settings")
    write.add_argument("--settings", type=Path, required=True, help="JSON of the wukong: settings")
    write.add_argument("--proxy-address", default="", help="default: this instance's private IP (IMDSv2)")
    write.add_argument("--output", type=Path, default=CONFIG_PATH)
    commands.add_parser("check", help="check that the deployment answers (the boot's readiness check)")
    args = parser.parse_args(argv)
    if args.command == "write":
        settings = json.loads(args.settings.read_text())
        written = write_config(
            settings, proxy_address=args.proxy_address or private_ip_from_imds(), path=args.output
        )
        print(f"wrote {args.output} ({len(written)} settings, proxy_address {written['proxy_address']})")
        return 0
    try:
        check_deployment()
    except Exception as exc:  # noqa: BLE001 - the boot log needs the reason, whatever raised it
        print(f"not ready: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
