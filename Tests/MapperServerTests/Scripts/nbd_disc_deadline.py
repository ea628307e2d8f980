"""Sends one write and then DISC on a raw NBD connection, and times the server's close.

usage: nbd_disc_deadline.py HOST PORT EXPORT

Fixed newstyle with NO_ZEROES, OPT_GO for EXPORT, a 512-byte write of 0x5a at offset 0
(handle 1), then NBD_CMD_DISC at once. Reads until the server closes the connection and prints
"closed SECONDS replies N" (SECONDS from the DISC to the close, N simple replies received).
Prints "timeout" after 20 s without a close. A raw socket, so that nothing in a client library
decides when to close.
"""
import socket
import struct
import sys
import time

host, port, export = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
s = socket.create_connection((host, port))
s.settimeout(20)


def recv_exactly(count):
    data = b""
    while len(data) < count:
        chunk = s.recv(count - len(data))
        if not chunk:
            raise SystemExit("server closed during the handshake")
        data += chunk
    return data


recv_exactly(18)  # NBDMAGIC, IHAVEOPT, handshake flags
s.sendall(struct.pack(">I", 1 | 2))  # FIXED_NEWSTYLE | NO_ZEROES
go = struct.pack(">I", len(export)) + export + struct.pack(">H", 0)
s.sendall(struct.pack(">QII", 0x49484156454F5054, 7, len(go)) + go)
while True:
    _, _, reply_type, length = struct.unpack(">QIII", recv_exactly(20))
    recv_exactly(length)
    if reply_type == 1:
        break
    if reply_type & 0x80000000:
        raise SystemExit("GO refused: 0x%x" % reply_type)
request_magic = 0x25609513
s.sendall(struct.pack(">IHHQQI", request_magic, 0, 1, 1, 0, 512) + b"\x5a" * 512)
s.sendall(struct.pack(">IHHQQI", request_magic, 0, 2, 2, 0, 0))
sent = time.monotonic()
received = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        received += chunk
except socket.timeout:
    print("timeout", flush=True)
    sys.exit(1)
print("closed %.3f replies %d" % (time.monotonic() - sent, len(received) // 16), flush=True)
