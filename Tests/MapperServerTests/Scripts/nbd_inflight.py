"""Drives a mapperd NBD export with libnbd (python3-libnbd) for the end-to-end tests.

usage: nbd_inflight.py URI COUNT

Connection A submits COUNT 4 KiB writes at once (asynchronously, each with its own pattern)
and prints "submitted N" with the number libnbd has in flight; it then waits for every reply
and prints "replies N errors E". Connection B sends a flush (CAN_MULTI_CONN: it covers A's
answered writes) and connection C reads every block back and checks the patterns. Prints
"verified N" and exits 0 when everything matched.
"""
import sys

import nbd

uri, count = sys.argv[1], int(sys.argv[2])
a = nbd.NBD()
a.connect_uri(uri)
assert a.can_multi_conn(), "CAN_MULTI_CONN not advertised"
buffers = []
cookies = []
for i in range(count):
    buffer = nbd.Buffer.from_bytearray(bytearray([i % 251 + 1]) * 4096)
    buffers.append(buffer)
    cookies.append(a.aio_pwrite(buffer, i * 4096))
print("submitted", a.aio_in_flight(), flush=True)
while a.aio_in_flight() > 0:
    a.poll(-1)
errors = 0
done = 0
for cookie in cookies:
    try:
        a.aio_command_completed(cookie)
    except nbd.Error:
        errors += 1
    done += 1
print("replies", done, "errors", errors, flush=True)

b = nbd.NBD()
b.connect_uri(uri)
b.flush()

c = nbd.NBD()
c.connect_uri(uri)
for i in range(count):
    data = c.pread(4096, i * 4096)
    assert data == bytes([i % 251 + 1]) * 4096, "block %d differs" % i
print("verified", count, flush=True)
for handle in (a, b, c):
    handle.shutdown()
