"""The rollup over the Cartesi machine's ``/dev/cmio`` device, without an HTTP server in between.

Speaks what machine-guest-tools' libcmt speaks, so the node sees the same bytes as from
``rollup-http-server``. Read for it (cartesi/machine-guest-tools): ``sys-utils/libcmt/src/io.c``
(setup, mmap, yield packing), ``sys-utils/libcmt/src/rollup.c`` (output encodings, advance decoding,
finish), ``sys-utils/libcmt/src/merkle.c`` and ``include/libcmt/merkle.h`` (the tree),
``include/libcmt/io.h`` (yield codes), ``rollup-http/rollup-http-server/src/rollup/mod.rs`` and
``http_service.rs`` (the JSON a request becomes; the tree is never reset), and the kernel's
``include/uapi/linux/cartesi/cmio.h`` and ``drivers/cartesi/cmio.c`` (ioctls; mmap only at the
buffer's own address). No code was copied.

- Setup: ``ioctl(IOCTL_CMIO_SETUP = _IOR(0xd3, 0, {u64 tx_start, tx_length, rx_start, rx_length}))``,
  then mmap tx read-write and rx read-only at exactly those addresses (the driver refuses others).
- Yield: ``ioctl(IOCTL_CMIO_YIELD = _IOWR(0xd3, 1, u64))`` with ``2 << 56 | cmd << 48 | reason << 32 |
  data``; the answer comes back in the same word (``reason``, ``data``). Automatic (cmd 0): reason 2 an
  output, 4 a report, ``data`` its length in tx. Manual (cmd 1): 1 accepted (tx holds the 32-byte root,
  ``data`` = 32), 2 rejected (``data`` = 0), 4 exception; the answer's reason is 0 advance or 1 inspect
  and ``data`` the length of the request in rx.
- Requests: an advance is ``EvmAdvance(uint256 chainId, address appContract, address msgSender,
  uint256 blockNumber, uint256 blockTimestamp, uint256 prevRandao, uint256 index, bytes payload)``
  (selector 0x415bf363); an inspect is the raw query. Both become the JSON the HTTP server returns.
- Outputs: ``Notice(bytes)`` 0xc258d6e5 and ``Voucher(address,uint256,bytes)`` 0x237a816f, as
  ``selector ‖ abi.encode(args)``; a report is its raw payload. Each must fit the tx buffer (2 MiB in
  the machine); libcmt answers -ENOBUFS beyond it, this raises ``OutputTooLarge`` before yielding.
- The root: libcmt keeps one tree of every output since the process started (never reset per input
  by ``rollup-http-server``; only the shell tool ``sys-utils/rollup/rollup.cpp`` resets it per advance);
  ``cmt_rollup_finish`` sends its current root with every accept, inspects included, and an output's
  index is its leaf number. A rejected input is undone by the node rolling the whole machine
  back; this adapter also goes back to the tree of the last accepted advance on a reject and after an
  inspect, so the root stays right where nobody rolls back (``cartesi-machine`` without rollback), as
  the app's own state does. With rollback the two behave the same.
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import os
import struct
from collections.abc import Mapping
from typing import Any, Protocol

import eth_abi
from eth_abi.exceptions import DecodingError
from eth_hash.auto import keccak

from dapp.codec.hexbytes import to_hex
from dapp.domain.values import Address
from dapp.rollup.merkle import OutputsMerkle

DEVICE_PATH = "/dev/cmio"


def _ioc(direction: int, kind: int, number: int, size: int) -> int:
    """Linux's ``_IOC``: direction (1 write, 2 read) << 30 | size << 16 | type << 8 | number."""
    return direction << 30 | size << 16 | kind << 8 | number


IOCTL_CMIO_SETUP = _ioc(2, 0xD3, 0, 32)
IOCTL_CMIO_YIELD = _ioc(3, 0xD3, 1, 8)

DEV_YIELD = 2
CMD_AUTOMATIC, CMD_MANUAL = 0, 1
AUTOMATIC_OUTPUT, AUTOMATIC_REPORT = 2, 4
MANUAL_ACCEPTED, MANUAL_REJECTED = 1, 2
REQUEST_ADVANCE, REQUEST_INSPECT = 0, 1

EVM_ADVANCE_TYPES = ["uint256", "address", "address", "uint256", "uint256", "uint256", "uint256", "bytes"]
EVM_ADVANCE = keccak(b"EvmAdvance(uint256,address,address,uint256,uint256,uint256,uint256,bytes)")[:4]
NOTICE = keccak(b"Notice(bytes)")[:4]
VOUCHER = keccak(b"Voucher(address,uint256,bytes)")[:4]


class CmioError(RuntimeError):
    """The device refused a call, or handed over something that is not a request."""


class OutputTooLarge(CmioError):
    """An output or report that does not fit the device's transmit buffer."""


class Device(Protocol):
    """The device as the rollup needs it: a transmit buffer to fill, a receive buffer to read, yield."""

    tx_length: int

    def write_tx(self, data: bytes) -> None:
        """Copies ``data`` to the start of the transmit buffer (``len(data) <= tx_length``)."""

    def read_rx(self, length: int) -> bytes:
        """The first ``length`` bytes of the receive buffer."""

    def yield_(self, cmd: int, reason: int, data: int) -> tuple[int, int]:
        """Yields to the host; returns the answer's ``(reason, data)``."""


def pack_yield(cmd: int, reason: int, data: int) -> int:
    """The 64-bit yield word: ``2 << 56 | cmd << 48 | reason << 32 | data``."""
    if not (0 <= cmd < 1 << 8 and 0 <= reason < 1 << 16 and 0 <= data < 1 << 32):
        raise ValueError(f"yield fields out of range: cmd={cmd} reason={reason} data={data}")
    return DEV_YIELD << 56 | cmd << 48 | reason << 32 | data


def unpack_answer(word: int) -> tuple[int, int]:
    """``(reason, data)`` of the host's answer word."""
    return word >> 32 & 0xFFFF, word & 0xFFFFFFFF


def encode_notice(payload: bytes) -> bytes:
    """``Notice(bytes)`` as the machine emits it."""
    return NOTICE + eth_abi.encode(["bytes"], [payload])


def encode_voucher(destination: Address, value: int, payload: bytes) -> bytes:
    """``Voucher(address,uint256,bytes)`` as the machine emits it."""
    return VOUCHER + eth_abi.encode(["address", "uint256", "bytes"], [destination.raw, value, payload])


def decode_request(reason: int, raw: bytes) -> dict[str, Any]:
    """The request in the rollup HTTP server's JSON (CARTESI-FACTS §1). Raises ``CmioError``."""
    if reason == REQUEST_INSPECT:
        return {"request_type": "inspect_state", "data": {"payload": to_hex(raw)}}
    if reason != REQUEST_ADVANCE:
        raise CmioError(f"the host answered with an unknown request reason {reason}")
    if raw[:4] != EVM_ADVANCE:
        raise CmioError(f"the advance request is not an EvmAdvance call (selector 0x{raw[:4].hex()})")
    try:
        chain_id, app, sender, block, timestamp, randao, index, payload = eth_abi.decode(
            EVM_ADVANCE_TYPES, raw[4:])
    except DecodingError as exc:
        raise CmioError(f"the advance request is not a valid EvmAdvance: {exc}") from exc
    metadata = {
        "chain_id": chain_id, "app_contract": app.lower(), "msg_sender": sender.lower(),
        "block_number": block, "block_timestamp": timestamp, "prev_randao": f"0x{randao:064x}",
        "input_index": index,
    }
    return {"request_type": "advance_state", "data": {"metadata": metadata, "payload": to_hex(payload)}}


class CmioRollup:
    """The ``Rollup`` interface (``dapp.rollup.api``) over a cmio ``Device``."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.tree = OutputsMerkle()
        self.accepted_tree = self.tree
        self.serving: str | None = None
        self.rooted: tuple[OutputsMerkle, bytes] | None = None  # the last root sent and its tree

    def _root(self) -> bytes:
        """The tree's root, reused while the tree is unchanged (libcmt 0.17.2 caches it too)."""
        if self.rooted is None or self.rooted[0] is not self.tree:
            self.rooted = (self.tree, self.tree.root())
        return self.rooted[1]

    @classmethod
    def open(cls, path: str = DEVICE_PATH) -> CmioRollup:
        """Over the real device."""
        return cls(CmioDevice.open(path))

    def _send(self, what: str, data: bytes, cmd: int, reason: int) -> None:
        if len(data) > self.device.tx_length:
            raise OutputTooLarge(f"{what} of {len(data):,} bytes does not fit the "
                                 f"{self.device.tx_length:,}-byte cmio transmit buffer")
        self.device.write_tx(data)
        self.device.yield_(cmd, reason, len(data))

    def _output(self, what: str, output: bytes) -> int:
        self._send(what, output, CMD_AUTOMATIC, AUTOMATIC_OUTPUT)
        index = self.tree.count
        self.tree = self.tree.push(output)
        return index

    def finish(self, accept: bool) -> dict[str, Any]:
        """Accepts (sending the outputs root) or rejects the current request; waits for the next."""
        if accept:
            root = self._root()
            if self.serving == "advance_state":
                self.accepted_tree = self.tree
            self.tree = self.accepted_tree
            self.device.write_tx(root)
            reason, length = self.device.yield_(CMD_MANUAL, MANUAL_ACCEPTED, len(root))
        else:
            self.tree = self.accepted_tree
            reason, length = self.device.yield_(CMD_MANUAL, MANUAL_REJECTED, 0)
        request = decode_request(reason, self.device.read_rx(length))
        self.serving = request["request_type"]
        return request

    def notice(self, payload: bytes) -> int:
        """Emits a notice; returns its index among all outputs."""
        return self._output("a notice", encode_notice(payload))

    def voucher(self, destination: Address, value: int, payload: bytes) -> int:
        """Emits a voucher; returns its index among all outputs."""
        return self._output("a voucher", encode_voucher(destination, value, payload))

    def report(self, payload: bytes) -> None:
        """Emits a report."""
        self._send("a report", payload, CMD_AUTOMATIC, AUTOMATIC_REPORT)


def use_cmio(environ: Mapping[str, str], device_exists: bool) -> bool:
    """Whether ``python -m dapp`` talks to ``/dev/cmio``: the device is there and no rollup HTTP
    server is configured (``ROLLUP_HTTP_SERVER_URL`` unset or empty)."""
    return device_exists and not environ.get("ROLLUP_HTTP_SERVER_URL")


class CmioDevice:
    """``/dev/cmio``: the setup ioctl, both buffers mapped at the addresses it gives, the yield ioctl."""

    def __init__(self, fd: int, tx: tuple[int, int], rx: tuple[int, int]) -> None:
        self.fd = fd
        self.tx, self.tx_length = tx
        self.rx, self.rx_length = rx

    @classmethod
    def open(cls, path: str = DEVICE_PATH) -> CmioDevice:
        """Opens and maps the device. Raises ``OSError`` (e.g. EBUSY: one user at a time)."""
        fd = os.open(path, os.O_RDWR)
        try:
            setup = bytearray(32)
            fcntl.ioctl(fd, IOCTL_CMIO_SETUP, setup, True)
            tx_start, tx_length, rx_start, rx_length = struct.unpack("<4Q", setup)
            tx = _map(fd, tx_start, tx_length, writable=True)
            rx = _map(fd, rx_start, rx_length, writable=False)
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, (tx, tx_length), (rx, rx_length))

    def write_tx(self, data: bytes) -> None:
        if len(data) > self.tx_length:
            raise OutputTooLarge(f"{len(data):,} bytes do not fit the {self.tx_length:,}-byte tx buffer")
        ctypes.memmove(self.tx, data, len(data))

    def read_rx(self, length: int) -> bytes:
        if length > self.rx_length:
            raise CmioError(f"the host announced {length:,} bytes in a {self.rx_length:,}-byte rx buffer")
        return ctypes.string_at(self.rx, length)

    def yield_(self, cmd: int, reason: int, data: int) -> tuple[int, int]:
        word = bytearray(struct.pack("<Q", pack_yield(cmd, reason, data)))
        fcntl.ioctl(self.fd, IOCTL_CMIO_YIELD, word, True)
        return unpack_answer(struct.unpack("<Q", word)[0])


def _map(fd: int, address: int, length: int, *, writable: bool) -> int:
    """mmap(address, length) of the device, shared; the driver only accepts the buffer's address."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                          ctypes.c_long]
    protection = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
    mapped = libc.mmap(address, length, protection, mmap.MAP_SHARED, fd, 0)
    if mapped is None or mapped == ctypes.c_void_p(-1).value:
        error = ctypes.get_errno()
        raise OSError(error, f"mmap of the cmio buffer at 0x{address:x} failed: {os.strerror(error)}")
    if mapped != address:
        raise OSError(f"the cmio buffer was mapped at 0x{mapped:x}, not at 0x{address:x}")
    return mapped
