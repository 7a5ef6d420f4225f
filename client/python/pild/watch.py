"""Watch: pild's stream of state changes, resumed when it breaks.

    with client.watch("adsp") as watch:
        for event in watch:                # pil.v1.WatchEvent
            if watch.restarted:            # pild restarted before this event
                ...
            if not event.initial and pild.state_name(event.coprocessor.state) == "running":
                break

When the stream breaks (UNAVAILABLE: pild restarted or the connection
dropped; RESOURCE_EXHAUSTED / WATCH_TOO_SLOW), the watch calls again with
the sequence and epoch of the last event it yielded, after a backoff
(0.1 s doubling to 2 s) for at most `reconnect_timeout` seconds, then
raises the last error. pild then sends what happened meanwhile, nothing
twice. When it cannot — another pild runs (the epoch changed) or more
happened than it keeps — it sends the current states again as initial
events: the first of them is yielded with `missed` True, and `restarted`
True when the epoch changed.
"""

import threading
import time
from typing import Any, Callable, Iterator, Optional

import grpc

from pild.errors import PildError

_RESUMABLE = {"UNAVAILABLE"}
_RESUMABLE_REASONS = {"WATCH_TOO_SLOW"}


class Watch:
    """An iterator of pil.v1.WatchEvent and a context manager (leaving the
    block cancels it). Ends (StopIteration) when cancelled or when its
    `timeout` passes; raises a PildError when the stream fails in a way it
    does not resume, or cannot resume within `reconnect_timeout`.

    After each event it yields:
      sequence, epoch  of that event (the resume point);
      missed           events may have been missed before it: pild sent the
                       current states again (its `initial` is True);
      restarted        pild restarted before it (another epoch); implies
                       missed;
      reconnects       how many times it called pild again so far.
    """

    def __init__(self, open_stream: Callable[[Any, Optional[float]], Any], request: Any,
                 timeout: Optional[float] = None, resume: bool = True,
                 reconnect_timeout: float = 60.0) -> None:
        self._open = open_stream
        self._request = request
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._resume = resume
        self._reconnect_timeout = reconnect_timeout
        self._lock = threading.Lock()
        self._cancelled = False
        self.sequence: Optional[int] = (
            request.after_sequence if request.HasField("after_sequence") else None)
        self.epoch: str = request.epoch
        self.missed = False
        self.restarted = False
        self.reconnects = 0
        self._resumed = False  # the next event is the first after a (re)call
        self._stream = self._call()

    def _call(self) -> Any:
        request = type(self._request)()
        request.CopyFrom(self._request)
        if self.sequence is not None:
            request.after_sequence = self.sequence
            request.epoch = self.epoch
        remaining = None
        if self._deadline is not None:
            remaining = max(self._deadline - time.monotonic(), 0.001)
        self._resumed = self.sequence is not None
        return self._open(request, remaining)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        broken_since = None
        backoff = 0.1
        while True:
            try:
                event = next(self._stream)
            except grpc.RpcError as rpc_error:
                error = PildError.from_rpc_error(rpc_error)
                if self._cancelled:
                    raise StopIteration from None
                if error.code == "DEADLINE_EXCEEDED" and not error.reason \
                        and self._deadline is not None:
                    raise StopIteration from None  # its `timeout` passed
                if not self._resume or not (error.code in _RESUMABLE or
                                            error.reason in _RESUMABLE_REASONS):
                    raise error from None
                now = time.monotonic()
                broken_since = broken_since or now
                if now - broken_since >= self._reconnect_timeout:
                    raise error from None
                time.sleep(min(backoff, self._reconnect_timeout - (now - broken_since)))
                backoff = min(backoff * 2, 2.0)
                with self._lock:
                    if self._cancelled:
                        raise StopIteration from None
                    self.reconnects += 1
                    self._stream = self._call()
                continue
            if (not event.initial and event.epoch == self.epoch and self.sequence is not None
                    and event.sequence <= self.sequence):
                continue  # yielded before the stream broke
            if self._resumed:
                self._resumed = False
                self.restarted = bool(self.epoch) and event.epoch != self.epoch
                self.missed = self.restarted or event.initial
            else:
                self.restarted = self.missed = False
            self.sequence, self.epoch = event.sequence, event.epoch
            return event

    def cancel(self) -> None:
        """Ends the watch; an iteration in another thread ends too."""
        with self._lock:
            self._cancelled = True
            self._stream.cancel()

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel()
