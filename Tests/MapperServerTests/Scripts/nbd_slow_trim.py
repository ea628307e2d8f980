"""A TRIM on a slow device must not hold back reads on other connections.

usage: nbd_slow_trim.py SLOW_URI FAST_URI

One connection sends a 4 KiB TRIM to SLOW_URI (its backend's hole punching takes seconds)
while four connections to FAST_URI read 4 KiB blocks one after another until the TRIM is
answered. With several event loops the server spreads connections over them, so some read
connections share the TRIM's loop. Prints "trim SECONDS reads N worst SECONDS".
"""
import sys
import threading
import time

import nbd

slow_uri, fast_uri = sys.argv[1], sys.argv[2]
slow = nbd.NBD()
slow.connect_uri(slow_uri)
fast = []
for _ in range(4):
    handle = nbd.NBD()
    handle.connect_uri(fast_uri)
    fast.append(handle)
result = {}


def trim():
    started = time.monotonic()
    slow.trim(4096, 0)
    result["trim"] = time.monotonic() - started


thread = threading.Thread(target=trim)
thread.start()
reads = 0
worst = 0.0
while thread.is_alive() or reads < 8:
    for handle in fast:
        started = time.monotonic()
        handle.pread(4096, (reads % 64) * 4096)
        worst = max(worst, time.monotonic() - started)
        reads += 1
thread.join()
print("trim %.3f reads %d worst %.3f" % (result["trim"], reads, worst), flush=True)
