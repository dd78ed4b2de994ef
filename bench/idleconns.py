#!/usr/bin/env python3
"""Memory per idle keep-alive downstream connection of a proxy.

Opens N client connections to ADDR, sends one GET on each and reads the
answer, then holds them all open and reports the growth of the summed RSS of
the given PIDs divided by N (KB per connection). Standard library only.
"""
import argparse
import selectors
import socket
import sys
import time


def rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--addr", required=True, help="host:port of the proxy")
    ap.add_argument("--conns", type=int, default=5000)
    ap.add_argument("--pids", required=True, help="comma-separated PIDs whose RSS is summed")
    ap.add_argument("--host", default="127.0.0.1", help="Host header")
    ap.add_argument("--timeout", type=float, default=60.0, help="overall deadline in seconds")
    args = ap.parse_args()
    host, port = args.addr.rsplit(":", 1)
    pids = [int(p) for p in args.pids.split(",") if p]
    deadline = time.monotonic() + args.timeout

    before = rss_kb(pids)
    request = f"GET / HTTP/1.1\r\nHost: {args.host}\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    socks = []
    pending = 0
    for _ in range(args.conns):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.setblocking(False)
        s.send(request)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
        pending += 1
        # Keep the number of outstanding answers bounded.
        while pending > 256 or (pending and len(socks) == args.conns):
            if time.monotonic() > deadline:
                print("deadline passed while waiting for answers", file=sys.stderr)
                return 2
            for key, _ in sel.select(timeout=1.0):
                data = key.fileobj.recv(65536)
                if not data:
                    print("proxy closed a connection", file=sys.stderr)
                    return 2
                # One short answer fits one read; keep the socket open.
                sel.unregister(key.fileobj)
                pending -= 1
    # Let the proxy settle (allocations from the last answers).
    time.sleep(1.0)
    after = rss_kb(pids)
    kb = (after - before) / args.conns
    print(f"rss_before_kb={before} rss_after_kb={after} conns={args.conns} kb_per_conn={kb:.2f}")
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
