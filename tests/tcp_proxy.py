"""A real TCP proxy the tests put in front of a service (PostgreSQL, S3) to make it fail on cue.

``pause()`` holds every byte in flight (a stalled service), ``resume()`` lets them through,
``stop()`` closes the listener and every connection (a service that is gone: connections are
reset, new ones refused), ``start()`` listens again on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from launchers.triton_server import free_port

_CHUNK_BYTES = 65536


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._flowing = threading.Event()
        self._flowing.set()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def __enter__(self) -> TcpProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        self._flowing.set()
        if self._listener is not None:
            _close(self._listener)
            self._listener = None
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            _close(connection)

    def pause(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._connections += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, destination: socket.socket) -> None:
        try:
            while data := source.recv(_CHUNK_BYTES):
                self._flowing.wait()
                destination.sendall(data)
        except OSError:
            pass
        _close(source)
        _close(destination)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
