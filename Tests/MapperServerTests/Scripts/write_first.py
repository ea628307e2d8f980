"""Sends a body before reading the answer, as Python's urllib does (it also sends
"Connection: close" and no "Expect"), for the end-to-end tests.

usage: write_first.py URL MEBIBYTES

Prints "status N" with the HTTP status the server answered; exits 1 if the client's own
20 s timeout passed first (the server never read the body).
"""
import sys
import urllib.error
import urllib.request

url, size = sys.argv[1], int(sys.argv[2]) << 20
request = urllib.request.Request(
    url, data=bytes(size), method="PUT", headers={"Content-Type": "application/octet-stream"})
try:
    with urllib.request.urlopen(request, timeout=20) as response:
        print("status", response.status)
except urllib.error.HTTPError as error:
    print("status", error.code)
except OSError as error:
    print("failed", error)
    sys.exit(1)
