#!/usr/bin/env python3
"""delayline.py: a packet delay line between two network namespaces.

Written from scratch for Ferry's bench/http-latency.sh, for kernels without
`tc netem` (CONFIG_NET_SCH_NETEM unset: no qdisc can delay packets).  It
opens a tun device in each namespace and forwards every IP packet from one
to the other DELAY_MS milliseconds after it was read, in order: TCP between
the namespaces sees a real round trip of twice DELAY_MS, as with netem on
both ends of a veth pair.  No loss, no reordering, no rate limit.

  delayline.py NS_A DEV_A NS_B DEV_B DELAY_MS READY_FILE

The devices exist once READY_FILE is written; the caller gives them
addresses (point-to-point), MTU and brings them up.  Runs until killed.
"""
import collections
import ctypes
import fcntl
import os
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)


def setns(name):
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns %s: %s" % (name, os.strerror(err)))
    os.close(fd)


def tun(ns, dev):
    setns(ns)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", dev.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main():
    ns_a, dev_a, ns_b, dev_b, delay_ms, ready = sys.argv[1:7]
    delay = float(delay_ms) / 1000.0
    a = tun(ns_a, dev_a)
    b = tun(ns_b, dev_b)
    with open(ready + ".tmp", "w") as f:
        f.write("ready\n")
    os.replace(ready + ".tmp", ready)
    # per direction: (release time, packet), in order (constant delay)
    queues = {a: collections.deque(), b: collections.deque()}   # keyed by destination
    other = {a: b, b: a}
    while True:
        now = time.monotonic()
        timeout = None
        for dst, q in queues.items():
            while q and q[0][0] <= now:
                try:
                    os.write(dst, q.popleft()[1])
                except BlockingIOError:
                    pass        # the device's queue is full: dropped, as a wire would
            if q:
                t = q[0][0] - now
                timeout = t if timeout is None or t < timeout else timeout
        readable, _, _ = select.select([a, b], [], [], timeout)
        now = time.monotonic()
        for src in readable:
            q = queues[other[src]]
            for _ in range(256):
                try:
                    pkt = os.read(src, 65536)
                except BlockingIOError:
                    break
                q.append((now + delay, pkt))


if __name__ == "__main__":
    sys.exit(main())
