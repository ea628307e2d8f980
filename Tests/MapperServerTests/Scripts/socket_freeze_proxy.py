"""A unix-socket relay that can go silent: a network partition between one host and its
database, without touching the host's clients.

usage: socket_freeze_proxy.py LISTEN_SOCKET TARGET_SOCKET

SIGUSR1 freezes it: bytes stop moving both ways and new connections are held, with every
socket left open (as a partition looks to both ends). SIGUSR2 thaws it.
"""
import asyncio
import signal
import sys

listen_path, target_path = sys.argv[1], sys.argv[2]
thawed = asyncio.Event()


async def relay(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            await thawed.wait()
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer):
    await thawed.wait()
    try:
        server_reader, server_writer = await asyncio.open_unix_connection(target_path)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(relay(client_reader, server_writer), relay(server_reader, client_writer))


async def main():
    # A parent may start its children with these blocked.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM})
    loop = asyncio.get_running_loop()
    thawed.set()
    loop.add_signal_handler(signal.SIGUSR1, thawed.clear)
    loop.add_signal_handler(signal.SIGUSR2, thawed.set)
    server = await asyncio.start_unix_server(handle, path=listen_path)
    async with server:
        await server.serve_forever()


asyncio.run(main())
