"""A Unix socket in front of pild's whose connections a test can cut, as a
network drop or a dead peer does, while pild keeps running."""

import os
import socket
import threading


class Relay:
    """Forwards every connection on `path` to the socket `target`."""

    def __init__(self, target, path):
        self.target, self.path = target, path
        self.lock = threading.Lock()
        self.pairs = []
        self.listener = None
        self.listen()

    def listen(self):
        """Accepts (again) on `path`."""
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(16)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                downstream, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.target)
            except OSError:
                downstream.close()
                continue
            with self.lock:
                self.pairs.append((downstream, upstream))
            for a, b in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def break_all(self):
        """Drops every connection it carries; returns how many. New ones
        are still forwarded."""
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
        return len(pairs)

    def cut(self):
        """Refuses new connections (until listen()) and drops the open ones."""
        self.listener.close()
        os.unlink(self.path)
        return self.break_all()

    def close(self):
        self.listener.close()
        self.break_all()
