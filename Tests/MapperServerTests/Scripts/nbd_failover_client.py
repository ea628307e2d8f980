"""An NBD client (libnbd, python3-libnbd) whose write is unanswered when its server dies, for the
failover test.

usage: nbd_failover_client.py URI_OF_OWNER GO_FILE

Writes one 4 KiB block (bytes 0xA5) at offset 0 of the owner's export without waiting, prints
"issued", then waits for the reply or the connection's end and prints "write ok" or
"write failed". It then waits until GO_FILE exists (the test writes the new owner's export URI
into it), connects there, reads the block and prints "landed" when it holds the bytes written,
"absent" otherwise.
"""
import os
import sys
import time

import nbd

owner, go_file = sys.argv[1], sys.argv[2]
block = bytearray([0xA5]) * 4096

handle = nbd.NBD()
handle.connect_uri(owner)
cookie = handle.aio_pwrite(nbd.Buffer.from_bytearray(block), 0)
print("issued", flush=True)
outcome = "failed"
try:
    while True:
        if handle.aio_command_completed(cookie):
            outcome = "ok"
            break
        handle.poll(-1)
except nbd.Error:
    outcome = "failed"
print("write", outcome, flush=True)

while not os.path.exists(go_file) or os.path.getsize(go_file) == 0:
    time.sleep(0.02)
with open(go_file) as f:
    new_owner = f.read().strip()
reader = nbd.NBD()
reader.connect_uri(new_owner)
data = reader.pread(4096, 0)
print("landed" if bytes(data) == bytes(block) else "absent", flush=True)
