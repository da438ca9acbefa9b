"""Hard limits for one submission's work: a forked child under ``RLIMIT_AS`` and ``RLIMIT_CPU``.

    run = Sandbox(cpu_seconds=20, memory=352 << 20)    # or InProcess(): same mapping, no limits
    outcome = run(work, "training MLPClassifier")      # work: () -> Outcome, run in the child

The child (``os.fork``: it inherits the parent's decoded datasets and loaded modules, so nothing is
parsed or imported twice) may map ``memory`` bytes beyond the address space it starts with, and use
``cpu_seconds`` of CPU. Crossing either ends that work, never the process that asked for it:

- the CPU limit (SIGXCPU, then SIGKILL a second later) -> :class:`ResourceLimitError` ``resource_limit``;
- an allocation over the memory limit (MemoryError) -> ``resource_limit`` too;
- an :class:`MLError` -> the same class, code and message, raised again in the parent;
- any other exception -> :class:`TrainingError` ``training_failed`` naming its type and message;
- death by another signal (SIGSEGV, SIGABRT...) -> ``training_failed`` ("crashed with signal ...").

The child reports through a pipe in an explicit encoding (never pickle): one kind byte, then for a
result ``>qq`` (score, samples), one byte (1 if data follows) and the data; for an error a UTF-8 JSON
object. It leaves with ``os._exit``; the parent reads to the end of the pipe, then reaps it with
``wait4``, so no descriptor or zombie outlives a call. No threads are started.
"""

from __future__ import annotations

import faulthandler
import json
import os
import resource
import select
import signal
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from dapp.ml.errors import MLError, ResourceLimitError, TrainingError

MIB = 1 << 20
_RESULT, _ML_ERROR, _OTHER_ERROR, _NO_MEMORY = b"R", b"E", b"X", b"M"
_HEADER = struct.Struct(">qqB")
_MAX_MESSAGE = 500  # characters of a foreign exception's message kept in a TrainingError
_CPU_SIGNALS = (signal.SIGXCPU, signal.SIGKILL)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a piece of work gives back: a score, a sample count and optional bytes (a model file)."""

    score: int = 0
    samples: int = 0
    data: bytes | None = None


class Runner(Protocol):
    """Runs ``work`` and returns its outcome, or raises an MLError; ``what`` names the work in messages."""

    def __call__(self, work: Callable[[], Outcome], what: str) -> Outcome: ...


class InProcess:
    """Runs the work in this process, without hard limits, with the sandbox's mapping of errors
    (unit tests, and callers that bound the work themselves)."""

    def __call__(self, work: Callable[[], Outcome], what: str) -> Outcome:
        try:
            return work()
        except MLError:
            raise
        except MemoryError:
            raise ResourceLimitError(f"{what} ran out of memory") from None
        except Exception as exc:
            raise _foreign(what, type(exc).__name__, str(exc)) from exc


@dataclass(frozen=True, slots=True)
class Sandbox:
    """Runs the work in a forked child with at most ``cpu_seconds`` of CPU and ``memory`` bytes of
    address space beyond what the child starts with. ``wall_seconds`` (default ``10 * cpu_seconds +
    60``) only guards against a child that stops using CPU without ending (a deadlock: a bug, so a
    RuntimeError); the CPU limit ends any busy child long before."""

    cpu_seconds: int
    memory: int
    wall_seconds: float | None = None

    def __call__(self, work: Callable[[], Outcome], what: str) -> Outcome:
        if self.cpu_seconds < 1 or self.memory < 1:
            raise ValueError("the sandbox needs at least 1 s of CPU and 1 byte of memory")
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except BaseException:
            os.close(read_fd)
            os.close(write_fd)
            raise
        if pid == 0:  # the child: never returns
            os.close(read_fd)
            _child(work, write_fd, self.cpu_seconds, self.memory)
        os.close(write_fd)
        status = None
        try:
            reply = _read_all(read_fd, self.wall_seconds or 10 * self.cpu_seconds + 60)
            status = os.waitpid(pid, 0)[1]
        finally:
            os.close(read_fd)
            if status is None:  # the parent was interrupted or the watchdog fired: end and reap the child
                _kill(pid)
                os.waitpid(pid, 0)
        return self._decode(reply, status, what)

    def _decode(self, reply: bytes, status: int, what: str) -> Outcome:
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            if number in _CPU_SIGNALS:
                raise ResourceLimitError(f"{what} exceeded {self.cpu_seconds} s of CPU")
            raise TrainingError(f"{what} crashed with signal {signal.Signals(number).name}")
        kind, body = reply[:1], reply[1:]
        if os.WEXITSTATUS(status) != 0 or not kind:
            raise TrainingError(f"{what} ended without a result (exit status {os.WEXITSTATUS(status)})")
        if kind == _NO_MEMORY:
            raise ResourceLimitError(f"{what} exceeded the memory limit of {self.memory // MIB} MiB")
        if kind == _RESULT:
            return decode_outcome(body)
        fields = json.loads(body.decode("utf-8"))
        if kind == _ML_ERROR:
            raise _ml_error_class(fields["class"])(fields["message"], code=fields["code"])
        raise _foreign(what, fields["type"], fields["message"])


def encode_outcome(outcome: Outcome) -> bytes:
    """The wire form of a result (without its kind byte)."""
    header = _HEADER.pack(outcome.score, outcome.samples, outcome.data is not None)
    return header + (outcome.data or b"")


def decode_outcome(body: bytes) -> Outcome:
    """The inverse of :func:`encode_outcome` (ValueError on anything else)."""
    if len(body) < _HEADER.size:
        raise ValueError("truncated sandbox result")
    score, samples, has_data = _HEADER.unpack_from(body)
    data = body[_HEADER.size:]
    if has_data not in (0, 1) or (not has_data and data):
        raise ValueError("malformed sandbox result")
    return Outcome(score, samples, data if has_data else None)


def _child(work: Callable[[], Outcome], fd: int, cpu_seconds: int, memory: int) -> None:
    """Runs ``work`` under the limits and writes its reply to ``fd``; always ends with ``os._exit``."""
    no_memory = _NO_MEMORY + b"{}"  # built before the limit: reporting a MemoryError allocates nothing
    code = 0
    try:
        try:
            faulthandler.disable()  # a crash is reported by the parent, without a traceback dump here
            _limit(resource.RLIMIT_CORE, 0, 0)  # nor a core file
            _limit(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1)
            address_space = _address_space()
            _limit(resource.RLIMIT_AS, address_space + memory, address_space + memory)
            reply = _RESULT + encode_outcome(work())
        except MemoryError:
            reply = no_memory
        except MLError as exc:
            reply = _ML_ERROR + _json({"class": type(exc).__name__, "code": exc.code, "message": exc.message})
        except BaseException as exc:  # noqa: BLE001 - fault isolation: whatever it is, it is reported
            reply = _OTHER_ERROR + _json({"type": type(exc).__name__, "message": str(exc)[:_MAX_MESSAGE]})
        view = memoryview(reply)
        while view:
            view = view[os.write(fd, view):]
    except MemoryError:  # while encoding an error report
        os.write(fd, no_memory)
    except BaseException:  # noqa: BLE001 - the parent reports "ended without a result"
        code = 4
    finally:
        os._exit(code)


def _limit(which: int, soft: int, hard: int) -> None:
    """Lowers a resource limit (never above the hard limit already in force)."""
    _, current = resource.getrlimit(which)
    if current != resource.RLIM_INFINITY:
        soft, hard = min(soft, current), min(hard, current)
    resource.setrlimit(which, (soft, hard))


def _address_space() -> int:
    """This process's current virtual size in bytes (the first field of /proc/self/statm, in pages)."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _read_all(fd: int, wall_seconds: float) -> bytes:
    """Everything written to the pipe until the child's end closes it."""
    chunks: list[bytes] = []
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + wall_seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"a sandboxed child neither finished nor used its CPU in {wall_seconds} s")
        if not poller.poll(remaining * 1000):
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _json(value: dict) -> bytes:
    return json.dumps(value, ensure_ascii=True).encode("ascii")


def _foreign(what: str, kind: str, message: str) -> TrainingError:
    return TrainingError(f"{what} failed: {kind}: {message[:_MAX_MESSAGE]}")


def _ml_error_class(name: str) -> type[MLError]:
    """The MLError subclass called ``name`` (MLError itself if there is none: the code is kept)."""
    pending, seen = [MLError], {}
    while pending:
        cls = pending.pop()
        seen[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return seen.get(name, MLError)
