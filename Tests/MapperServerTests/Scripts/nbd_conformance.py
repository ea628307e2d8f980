"""Probes an NBD server's corner cases with libnbd (python3-libnbd), for NBDConformanceTests.

usage: nbd_conformance.py --nbdkit FILE MAPPERD_URI
       nbd_conformance.py MAPPERD_URI NBDKIT_URI

With --nbdkit, starts `nbdkit file FILE` on a private unix socket and runs the probe under it
(`--run`), so nbdkit exits with the probe: no port, no wait for readiness. Signals blocked by
the caller (a test runner) are unblocked first, since nbdkit needs them.

Both URIs name an export of the same size (SIZE bytes, a writable file underneath): mapperd's
is a linear device over a file backend, nbdkit's is `nbdkit file`. Every case runs against
both servers on fresh connections and records each one's answer ("ok", an errno name such as
"EINVAL", "refused" for a handshake error, or a short value). `SPEC` says which answers the
NBD protocol (doc/proto.md of NetworkBlockDevice/nbd) accepts from mapperd; `DIFFERENCES`
lists, with the reason, each case where mapperd answers otherwise than nbdkit 1.32. Prints
one JSON object: {"cases": [{"case", "spec", "mapperd", "nbdkit", "difference"}], "size"}.
Exits 0 whatever the answers; the Swift test judges them.
"""
import errno
import json
import os
import signal
import subprocess
import sys

import nbd

SIZE = 4 << 20

# case -> the answers the spec accepts (from mapperd, as configured by the test).
SPEC = {
    "meta SET base: (bare namespace) selects nothing": ["False"],
    "meta LIST base: lists the base: contexts": ["base:allocation"],
    "meta SET base:allocation": ["True"],
    "READ with REQ_ONE": ["EINVAL"],
    "READ with NO_HOLE": ["EINVAL"],
    "WRITE with NO_HOLE": ["EINVAL"],
    "TRIM with NO_HOLE": ["EINVAL"],
    "READ with DF (SEND_DF not advertised)": ["EINVAL"],
    "unknown command flag bit 9": ["EINVAL"],
    "unaligned write+read, no block size negotiated": ["ok"],
    "unaligned WRITE_ZEROES, no block size negotiated": ["ok"],
    "unaligned TRIM, no block size negotiated": ["ok"],
    "64 parallel unaligned writes sharing sectors": ["ok"],
    "unaligned READ after agreeing to block sizes": ["EINVAL"],
    "handshake GO": ["ok"],
    "handshake INFO then GO": ["ok"],
    "default export (empty name)": ["refused", "ok"],
    "LIST names the export": ["ok"],
    "INFO on an unknown export": ["refused"],
    "GO on an unknown export": ["refused"],
    "WRITE past the end": ["ENOSPC"],
    "WRITE straddling the end": ["ENOSPC"],
    "READ past the end": ["EINVAL"],
    "TRIM past the end": ["EINVAL"],
    "WRITE_ZEROES past the end": ["ENOSPC"],
    "BLOCK_STATUS past the end": ["EINVAL"],
    "zero-length READ": ["EINVAL", "ok"],
    "zero-length WRITE": ["EINVAL", "ok"],
    "FLUSH after writes": ["ok"],
    "256 parallel writes then reads (aio)": ["ok"],
    "WRITE with FUA": ["ok"],
    "TRIM": ["ok"],
    "TRIM with FUA": ["ok"],
    "WRITE_ZEROES with NO_HOLE": ["ok"],
    "WRITE_ZEROES without NO_HOLE": ["ok"],
    "WRITE_ZEROES with FAST_ZERO": ["ENOTSUP", "ok"],
    "BLOCK_STATUS with REQ_ONE": ["ok"],
}

# case -> why mapperd's answer differs from nbdkit's (both within the spec).
DIFFERENCES = {
    "READ with DF (SEND_DF not advertised)":
        "nbdkit advertises NBD_FLAG_SEND_DF and honours DF on reads; mapperd does not advertise it",
    "unaligned READ after agreeing to block sizes":
        "nbdkit's file plugin advertises no block sizes, so 1-byte requests are valid there; "
        "mapperd advertises a 512-byte minimum to clients that ask and holds them to it",
    "default export (empty name)":
        "nbdkit serves its one export under every name; mapperd has no default export unless configured",
    "INFO on an unknown export": "nbdkit serves its one export under every name",
    "GO on an unknown export": "nbdkit serves its one export under every name",
    "WRITE_ZEROES with FAST_ZERO":
        "nbdkit's file plugin does not advertise NBD_FLAG_SEND_FAST_ZERO here and refuses the flag; "
        "mapperd advertises it and answers ENOTSUP (zeroing costs a write), as the spec allows",
    "zero-length WRITE":
        "the spec leaves zero-length requests open; nbdkit answers a zero-length write with its "
        "out-of-range error (ENOSPC), mapperd with EINVAL for every zero-length request",
}


def error_name(e):
    if e.errno:
        return errno.errorcode.get(e.errno, str(e.errno))
    return "error"


def connect(uri, request_block_size=True, meta=None, strict=True):
    h = nbd.NBD()
    h.set_request_block_size(request_block_size)
    if meta is not None:
        h.add_meta_context(meta)
    if not strict:
        h.set_strict_mode(0)
    h.connect_uri(uri)
    return h


def command(uri, action, **options):
    """Runs action(h) on a fresh connection; 'ok' or the errno's name."""
    h = connect(uri, **options)
    try:
        action(h)
        return "ok"
    except nbd.Error as e:
        return error_name(e)
    finally:
        h.shutdown()


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def pattern(seed, count):
    return bytes((seed * 31 + i * 7) % 251 + 1 for i in range(count))


# MARK: cases, each f(uri) -> answer

def meta_set_bare(uri):
    h = connect(uri, meta="base:")
    try:
        return str(h.can_meta_context("base:allocation"))
    finally:
        h.shutdown()


def meta_set_allocation(uri):
    h = connect(uri, meta="base:allocation")
    try:
        return str(h.can_meta_context("base:allocation"))
    finally:
        h.shutdown()


def meta_list_bare(uri):
    h = nbd.NBD()
    h.set_opt_mode(True)
    h.connect_uri(uri)
    names = []
    try:
        h.add_meta_context("base:")
        h.opt_list_meta_context(lambda name: names.append(name) or 0)
        return ",".join(sorted(names))
    except nbd.Error as e:
        return error_name(e)
    finally:
        h.opt_abort()


def flagged(kind, flags):
    def run(uri):
        def act(h):
            if kind == "read":
                h.pread(512, 0, flags)
            elif kind == "write":
                h.pwrite(bytes(512), 0, flags)
            elif kind == "trim":
                h.trim(512, 0, flags)
        return command(uri, act, strict=False)
    return run


def unaligned_roundtrip(uri):
    def act(h):
        h.pwrite(pattern(1, 1536), 0)
        h.pwrite(b"ABCDEFG", 1001)
        data = h.pread(20, 995)
        expect(data == pattern(1, 1536)[995:1001] + b"ABCDEFG" + pattern(1, 1536)[1008:1015], "unaligned data")
        expect(h.pread(1, 1535) == pattern(1, 1536)[1535:], "last byte")
    return command(uri, act, request_block_size=False)


def unaligned_zero(uri):
    def act(h):
        before = pattern(2, 2048)
        h.pwrite(before, 0)
        h.zero(1000, 300)
        expected = before[:300] + bytes(1000) + before[1300:]
        expect(h.pread(2048, 0) == expected, "zeroed range or its neighbours")
    return command(uri, act, request_block_size=False)


def unaligned_trim(uri):
    def act(h):
        before = pattern(3, 2048)
        h.pwrite(before, 0)
        h.trim(1000, 300)
        data = h.pread(2048, 0)
        # Bytes outside the trimmed range keep their contents.
        expect(data[:300] == before[:300] and data[1300:] == before[1300:], "trim neighbours")
    return command(uri, act, request_block_size=False)


def unaligned_parallel(uri):
    def act(h):
        h.pwrite(bytes(4096), 0)
        expected = bytearray(4096)
        buffers = []
        for i in range(64):
            offset = i * 64 + (i % 5)
            data = pattern(i + 10, 13)
            expected[offset:offset + 13] = data
            buffer = nbd.Buffer.from_bytearray(bytearray(data))
            buffers.append(buffer)
            h.aio_pwrite(buffer, offset)
        while h.aio_in_flight() > 0:
            h.poll(-1)
        expect(h.pread(4096, 0) == bytes(expected), "a read-modify-write lost a neighbouring write")
    return command(uri, act, request_block_size=False)


def unaligned_bound(uri):
    return command(uri, lambda h: h.pread(100, 1), strict=False)


def handshake_go(uri):
    return command(uri, lambda h: expect(h.get_size() == SIZE, "size"))


def handshake_info(uri):
    h = nbd.NBD()
    h.set_opt_mode(True)
    h.connect_uri(uri)
    try:
        h.opt_info()
        expect(h.get_size() == SIZE, "size from INFO")
        h.opt_go()
        expect(h.pread(512, 0) is not None, "read after GO")
        return "ok"
    except nbd.Error as e:
        return error_name(e)
    finally:
        h.shutdown()


def with_name(uri, name, go):
    base = uri.split("?")[0]
    prefix, _, _ = base.rpartition("/")
    query = "?" + uri.split("?", 1)[1] if "?" in uri else ""
    h = nbd.NBD()
    h.set_opt_mode(True)
    h.connect_uri(prefix + "/" + query)
    h.set_export_name(name)
    try:
        if go:
            h.opt_go()
        else:
            h.opt_info()
        return "ok"
    except nbd.Error:
        return "refused"
    finally:
        if go and h.aio_is_ready():
            h.shutdown()
        elif not h.aio_is_closed() and not h.aio_is_dead():
            h.opt_abort()


def default_export(uri):
    return with_name(uri, "", True)


def unknown_info(uri):
    return with_name(uri, "nosuch", False)


def unknown_go(uri):
    return with_name(uri, "nosuch", True)


def list_exports(uri):
    base = uri.split("?")[0]
    prefix, _, name = base.rpartition("/")
    query = "?" + uri.split("?", 1)[1] if "?" in uri else ""
    h = nbd.NBD()
    h.set_opt_mode(True)
    h.connect_uri(prefix + "/" + query)
    names = []
    try:
        h.opt_list(lambda n, description: names.append(n) or 0)
        return "ok" if name in names else "missing " + repr(name) + " in " + repr(names)
    except nbd.Error as e:
        return error_name(e)
    finally:
        h.opt_abort()


def past_end(kind, offset, count):
    def run(uri):
        def act(h):
            if kind == "write":
                h.pwrite(bytes(count), offset)
            elif kind == "read":
                h.pread(count, offset)
            elif kind == "trim":
                h.trim(count, offset)
            elif kind == "zero":
                h.zero(count, offset)
            elif kind == "status":
                h.block_status(count, offset, lambda *args: 0)
        return command(uri, act, strict=False, meta="base:allocation")
    return run


def flush_after_writes(uri):
    def act(h):
        for i in range(8):
            h.pwrite(pattern(i, 4096), i * 4096)
        h.flush()
        for i in range(8):
            expect(h.pread(4096, i * 4096) == pattern(i, 4096), "data after flush")
    return command(uri, act)


def parallel(uri):
    def act(h):
        buffers = [nbd.Buffer.from_bytearray(bytearray(pattern(i, 4096))) for i in range(256)]
        for i, buffer in enumerate(buffers):
            h.aio_pwrite(buffer, (i + 16) * 4096)
        while h.aio_in_flight() > 0:
            h.poll(-1)
        reads = [nbd.Buffer(4096) for _ in range(256)]
        for i, buffer in enumerate(reads):
            h.aio_pread(buffer, (i + 16) * 4096)
        while h.aio_in_flight() > 0:
            h.poll(-1)
        for i, buffer in enumerate(reads):
            expect(buffer.to_bytearray() == pattern(i, 4096), "aio read %d" % i)
    return command(uri, act)


def fua_write(uri):
    def act(h):
        h.pwrite(pattern(5, 4096), 8192, nbd.CMD_FLAG_FUA)
        expect(h.pread(4096, 8192) == pattern(5, 4096), "FUA data")
    return command(uri, act)


def zero(flags):
    def run(uri):
        def act(h):
            h.pwrite(pattern(6, 8192), 65536)
            h.zero(8192, 65536, flags)
            expect(h.pread(8192, 65536) == bytes(8192), "zeros")
        return command(uri, act)
    return run


def trim(flags):
    def run(uri):
        return command(uri, lambda h: h.trim(8192, 131072, flags))
    return run


def status_req_one(uri):
    def act(h):
        extents = []
        h.block_status(SIZE, 0, lambda ctx, offset, entries, err: extents.append(entries) or 0,
                       nbd.CMD_FLAG_REQ_ONE)
        expect(len(extents) == 1 and len(extents[0]) == 2, "one extent")
    return command(uri, act, meta="base:allocation")


CASES = [
    ("meta SET base: (bare namespace) selects nothing", meta_set_bare),
    ("meta LIST base: lists the base: contexts", meta_list_bare),
    ("meta SET base:allocation", meta_set_allocation),
    ("READ with REQ_ONE", flagged("read", nbd.CMD_FLAG_REQ_ONE)),
    ("READ with NO_HOLE", flagged("read", nbd.CMD_FLAG_NO_HOLE)),
    ("WRITE with NO_HOLE", flagged("write", nbd.CMD_FLAG_NO_HOLE)),
    ("TRIM with NO_HOLE", flagged("trim", nbd.CMD_FLAG_NO_HOLE)),
    ("READ with DF (SEND_DF not advertised)", flagged("read", nbd.CMD_FLAG_DF)),
    ("unknown command flag bit 9", flagged("read", 1 << 9)),
    ("unaligned write+read, no block size negotiated", unaligned_roundtrip),
    ("unaligned WRITE_ZEROES, no block size negotiated", unaligned_zero),
    ("unaligned TRIM, no block size negotiated", unaligned_trim),
    ("64 parallel unaligned writes sharing sectors", unaligned_parallel),
    ("unaligned READ after agreeing to block sizes", unaligned_bound),
    ("handshake GO", handshake_go),
    ("handshake INFO then GO", handshake_info),
    ("default export (empty name)", default_export),
    ("LIST names the export", list_exports),
    ("INFO on an unknown export", unknown_info),
    ("GO on an unknown export", unknown_go),
    ("WRITE past the end", past_end("write", SIZE, 512)),
    ("WRITE straddling the end", past_end("write", SIZE - 512, 1024)),
    ("READ past the end", past_end("read", SIZE, 512)),
    ("TRIM past the end", past_end("trim", SIZE, 512)),
    ("WRITE_ZEROES past the end", past_end("zero", SIZE, 512)),
    ("BLOCK_STATUS past the end", past_end("status", SIZE, 512)),
    ("zero-length READ", past_end("read", 0, 0)),
    ("zero-length WRITE", past_end("write", 0, 0)),
    ("FLUSH after writes", flush_after_writes),
    ("256 parallel writes then reads (aio)", parallel),
    ("WRITE with FUA", fua_write),
    ("TRIM", trim(0)),
    ("TRIM with FUA", trim(nbd.CMD_FLAG_FUA)),
    ("WRITE_ZEROES with NO_HOLE", zero(nbd.CMD_FLAG_NO_HOLE)),
    ("WRITE_ZEROES without NO_HOLE", zero(0)),
    ("WRITE_ZEROES with FAST_ZERO", zero(nbd.CMD_FLAG_FAST_ZERO)),
    ("BLOCK_STATUS with REQ_ONE", status_req_one),
]


def answer(probe, uri):
    try:
        return probe(uri)
    except AssertionError as e:
        return "wrong data: %s" % e
    except nbd.Error as e:
        return "failed: %s" % e


def main():
    if sys.argv[1] == "--nbdkit":
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        image, mapperd = sys.argv[2], sys.argv[3]
        probe = "%s %s '%s' \"$uri\"" % (sys.executable, os.path.abspath(__file__), mapperd)
        run = subprocess.run(
            ["nbdkit", "--exit-with-parent", "-U", "-", "file", "file=" + image, "--run", probe],
            stdin=subprocess.DEVNULL, timeout=100)
        sys.exit(run.returncode)
    mapperd, nbdkit = sys.argv[1], sys.argv[2]
    results = []
    for name, probe in CASES:
        results.append({
            "case": name,
            "spec": SPEC[name],
            "mapperd": answer(probe, mapperd),
            "nbdkit": answer(probe, nbdkit),
            "difference": DIFFERENCES.get(name),
        })
    print(json.dumps({"cases": results, "size": SIZE}))


if __name__ == "__main__":
    main()
