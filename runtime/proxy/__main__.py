"""``python -m wukong.proxy [--host H] [--port P]``: run the KV-store proxy with the WUKONG_* settings."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from ..config import load_config
from .server import serve


def main() -> None:
    config = load_config()
    parser = argparse.ArgumentParser(description="Wukong's KV-store proxy")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=config.proxy_port, help="port (0: any free port)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, args.host, args.port))


if __name__ == "__main__":
    main()
