"""The KV-store proxy's bounds on its peers, tested against a real proxy process over sockets: the
secret is checked before anything else; a bad secret, an oversized or a slow hello closes the
connection within the bound; only so many peers may authenticate at once; idle connections close;
a good client keeps working through all of it. ``PROXY <case>: <seconds>`` lines (``-s``) are the
measured times that ``docs/faults.md`` quotes."""

from __future__ import annotations

import json
import socket
import time

import pytest

from wukong.errors import WukongError
from wukong.local.proxy_process import ProxyProcess
from wukong.proxy import protocol
from wukong.proxy.client import ProxyClient

AUTH_TIMEOUT_S = 1.0
IDLE_TIMEOUT_S = 2.0
MAX_UNAUTHENTICATED = 4
SLACK_S = 2.0  # a noisy shared machine; the bounds above are what is proven
COMMON = {"job": "no-such-job", "settings": {}, "py": "3"}


@pytest.fixture(scope="module")
def proxy(cluster):
    """A proxy of its own (small bounds) on the session cluster's MDS."""
    process = ProxyProcess(
        cluster.config.replace(
            proxy_auth_timeout_s=AUTH_TIMEOUT_S,
            proxy_idle_timeout_s=IDLE_TIMEOUT_S,
            proxy_max_unauthenticated=MAX_UNAUTHENTICATED,
        )
    )
    process.wait_ready()
    yield process
    process.close()


def connect(proxy) -> socket.socket:
    return socket.create_connection((proxy.host, proxy.port), timeout=10)


def read_until_closed(sock: socket.socket, timeout_s: float) -> tuple[bytes, float | None]:
    """Everything the proxy sends until it closes the connection; and when it closed (None: open)."""
    started, data = time.monotonic(), b""
    sock.settimeout(timeout_s)
    try:
        while chunk := sock.recv(1 << 16):
            data += chunk
    except TimeoutError:
        return data, None
    except ConnectionResetError:
        pass
    return data, time.monotonic() - started


def report(case: str, seconds: float) -> None:
    print(f"\nPROXY {case}: {seconds:.2f} s")


def good_client_works(proxy) -> None:
    assert ProxyClient(proxy.host, proxy.port, proxy.secret).fan_out(COMMON, []) == 0


def test_a_good_client_fans_out(proxy):
    good_client_works(proxy)


def test_a_bad_secret_is_refused_and_the_connection_closed(proxy):
    with connect(proxy) as sock:
        sock.sendall(protocol.hello("guess") + protocol.request(COMMON, []))
        data, closed_after = read_until_closed(sock, 5)
    assert closed_after is not None
    report("bad secret: closed after", closed_after)
    assert json.loads(data[protocol.LENGTH.size :]) == {"ok": False, "error": "bad secret"}
    with pytest.raises(WukongError, match="refused a fan-out: bad secret"):
        ProxyClient(proxy.host, proxy.port, "guess").fan_out(COMMON, [])
    good_client_works(proxy)


def test_an_oversized_hello_is_cut_off_unread(proxy):
    with connect(proxy) as sock:
        sock.sendall(protocol.LENGTH.pack(64 * 1024 * 1024) + b"x" * 1024)  # "my secret is 64 MiB"
        data, closed_after = read_until_closed(sock, 5)
    assert data == b"" and closed_after is not None and closed_after < SLACK_S
    report("hello claiming 64 MiB: closed after", closed_after)
    good_client_works(proxy)


@pytest.mark.parametrize("pace_s", [None, 0.2], ids=["silent", "one-byte-at-a-time"])
def test_a_slow_unauthenticated_peer_is_cut_off_within_the_bound(proxy, pace_s):
    with connect(proxy) as sock:
        started = time.monotonic()
        if pace_s is None:
            data, _ = read_until_closed(sock, AUTH_TIMEOUT_S + SLACK_S)
        else:  # a valid-looking hello, a byte at a time, never finished in time
            for byte in protocol.hello(proxy.secret + "x" * 100):
                try:
                    sock.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    break
                time.sleep(pace_s)
            data, _ = read_until_closed(sock, SLACK_S)
        took = time.monotonic() - started
    assert data == b""
    report(f"slow hello ({'silent' if pace_s is None else 'a byte per 0.2 s'}): closed after", took)
    assert AUTH_TIMEOUT_S * 0.9 <= took < AUTH_TIMEOUT_S + SLACK_S


def test_only_so_many_peers_authenticate_at_once(proxy):
    silent = [connect(proxy) for _ in range(MAX_UNAUTHENTICATED)]
    time.sleep(0.2)  # the proxy has accepted them
    extra = [connect(proxy) for _ in range(3)]
    try:
        for sock in extra:  # refused at once: the slots are full
            data, closed_after = read_until_closed(sock, SLACK_S)
            assert data == b"" and closed_after is not None
        report("a peer over the unauthenticated limit: closed after", closed_after)
        for sock in silent:  # these hold their slots until the bound
            _, closed_after = read_until_closed(sock, AUTH_TIMEOUT_S + SLACK_S)
            assert closed_after is not None
    finally:
        for sock in silent + extra:
            sock.close()
    good_client_works(proxy)  # the slots are free again


def test_idle_authenticated_connections_close_and_the_client_reconnects(proxy):
    with connect(proxy) as sock:
        sock.sendall(protocol.hello(proxy.secret) + protocol.request(COMMON, []))
        header = sock.recv(protocol.LENGTH.size)
        assert json.loads(sock.recv(protocol.LENGTH.unpack(header)[0])) == {"ok": True, "invoked": 0}
        started = time.monotonic()
        data, closed_after = read_until_closed(sock, IDLE_TIMEOUT_S + SLACK_S)
    assert data == b"" and closed_after is not None
    report("idle authenticated connection: closed after", time.monotonic() - started)
    assert IDLE_TIMEOUT_S * 0.9 <= time.monotonic() - started < IDLE_TIMEOUT_S + SLACK_S
    client = ProxyClient(proxy.host, proxy.port, proxy.secret)
    assert client.fan_out(COMMON, []) == 0
    time.sleep(IDLE_TIMEOUT_S + 0.5)  # the proxy closes the client's connection meanwhile
    assert client.fan_out(COMMON, []) == 0


def test_a_request_over_the_size_limit_is_refused_after_authentication(proxy):
    with connect(proxy) as sock:
        too_big = protocol.LENGTH.pack(protocol.MAX_REQUEST_BYTES + 1)
        sock.sendall(protocol.hello(proxy.secret) + too_big)
        data, closed_after = read_until_closed(sock, 5)
    assert closed_after is not None and b"outside 1.." in data
