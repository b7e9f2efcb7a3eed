"""paho's client, whose packets the publishing thread writes itself when it can, instead of waking the network thread.

With ``loop_start()``, paho queues every outgoing packet and wakes its network thread (a byte on a socket pair) to
write it: a thread hand-off on every publish from any other thread — e.g. the LMS's event loop sending a command, a
dispatcher thread answering one — and, on the network thread itself (a handler answering inline, a PUBACK), one
more turn of its ``select`` loop before the packet leaves. On a busy two-core site those wake-ups are a share of a
command's round trip (docs/architecture.md#the-on-site-round-trip-and-what-keeps-it-near-1-ms).
:class:`DirectWriteClient` writes the queued packets at once from the thread that queues them, and leaves them to
the network thread (woken as paho does) whenever that would not be safe or simple:

* only on a plain TCP socket (an SSL object must not be read by one thread while another writes it; a websocket
  wrapper keeps its own state), only while connected (CONNACK seen), and only when no other thread is writing;
* packets are written in their queue order, by whoever holds the write lock (the network thread's own writes and its
  reconnects take it too, so two writers never interleave bytes and nothing reaches a fresh socket before its
  CONNECT; the lock is reentrant, so a callback run while the network thread writes may write the packets after);
* the calling thread stops at the first packet that is not fully written, at a QoS 0 PUBLISH (paho runs the
  ``on_publish`` callback when one is written: that stays on the network thread) and at a DISCONNECT; the
  network thread, woken, writes the rest.

The lock is only ever tried (never waited for) by a publishing thread, which may hold paho's message lock: so no
thread that waits for it can be waiting, in turn, for that thread.

Packets ready together leave together: the writer joins the run of writable packets at the head of the queue into
one ``send`` (up to :data:`MAX_JOINED_BYTES`), and a thread may hold its packets back while it makes many
(:meth:`DirectWriteClient.corked`: the LMS sending a batch's commands). The network thread holds back what it
queues while it reads (the PUBACKs of a burst of messages, the answers of inline handlers) and writes it when the
burst is read: one system call, and one TCP segment for the broker, instead of one per packet.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt
from paho.mqtt.client import MQTTMessageInfo
from paho.mqtt.enums import MessageType, MQTTErrorCode, _ConnectionState

from shared.mqtt import paho_properties

if TYPE_CHECKING:
    from paho.mqtt.client import _OutPacket  # a TypedDict paho defines for type checkers only

#: the private parts of paho's client this class relies on (paho 2.1-2.2); if a release lacks one, the client
#: writes nothing itself and behaves as paho's own (a test checks the installed paho has them all)
PAHO_PARTS = ("_out_packet", "_state", "_sock", "_sockpairW", "_msgtime_mutex", "_last_msg_out", "_thread",
              "_call_socket_register_write", "_packet_write", "_packet_queue")  # fmt: skip
#: at most this many bytes of queued packets are joined into one ``send``
MAX_JOINED_BYTES = 256 * 1024


class DirectWriteClient(mqtt.Client):
    """A paho client (threaded loop) whose publishing threads write their packets themselves (module docstring)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        paho_properties.install()  # MQTT 5 properties decoded without rebuilding paho's tables each time
        self._write_lock = threading.RLock()  # reentrant: a connect() without the thread writes inside reconnect()
        #: packets written at once by the thread that queued them (the rest were left to the network thread loop)
        self.direct_writes = 0
        #: ``send`` calls the direct writes made (packets joined: fewer than ``direct_writes``)
        self.sends = 0
        #: whether this paho has every part :data:`PAHO_PARTS` names (else: paho's own path, unchanged)
        self.direct = all(hasattr(self, name) for name in PAHO_PARTS)
        self._corked_by: int | None = None  # the thread whose packets wait for the end of :meth:`corked`

    @contextlib.contextmanager
    def corked(self) -> Iterator[None]:
        """Packets this thread queues meanwhile are written when the block ends, together (one ``send`` where the
        socket takes them all), instead of one ``send`` each. Nested, or while another thread holds its packets
        back: no effect (that thread's writes, or the network thread, carry them)."""
        me = threading.get_ident()
        if not self.direct or self._corked_by is not None:
            yield
            return
        self._corked_by = me
        try:
            yield
        finally:
            self._corked_by = None
            self._flush()

    def _flush(self) -> None:
        """Write what the queue holds (after :meth:`corked`), or leave it to the network thread."""
        if not self._out_packet:
            return
        if self._thread is not None and self._write_lock.acquire(blocking=False):
            try:
                written = self._write_queued()
            finally:
                self._write_lock.release()
            if written:
                return
        self._wake_network_thread()

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """The network thread holds back what it queues while it reads a burst (module docstring)."""
        if self._thread is None or threading.current_thread() is not self._thread:
            return super().loop_read(max_packets)
        with self.corked():
            return super().loop_read(max_packets)

    def reconnect(self) -> MQTTErrorCode:
        with self._write_lock:  # no direct write between the new socket and its CONNECT
            return super().reconnect()

    def _packet_write(self) -> MQTTErrorCode:
        with self._write_lock:
            return super()._packet_write()

    def _packet_queue(
        self, command: int, packet: bytes | bytearray, mid: int, qos: int, info: MQTTMessageInfo | None = None
    ) -> MQTTErrorCode:
        if self._corked_by is not None and self._corked_by == threading.get_ident():
            self._out_packet.append(
                {"command": command, "mid": mid, "qos": qos, "pos": 0, "to_process": len(packet), "packet": packet,
                 "info": info}
            )  # fmt: skip
            return MQTTErrorCode.MQTT_ERR_SUCCESS  # written (or handed to the network thread) when the block ends
        if not self.direct or self._thread is None or not self._write_lock.acquire(blocking=False):
            return super()._packet_queue(command, packet, mid, qos, info)
        try:
            self._out_packet.append(
                {"command": command, "mid": mid, "qos": qos, "pos": 0, "to_process": len(packet), "packet": packet,
                 "info": info}
            )  # fmt: skip
            written = self._write_queued()
        finally:
            self._write_lock.release()
        if not written:  # the rest is the network thread's, as paho does it
            self._wake_network_thread()
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _write_queued(self) -> bool:
        """Write queued packets in order (write lock held), runs of them joined into one ``send``. True when the
        queue is empty."""
        sock = self._sock
        if type(sock) is not socket.socket or self._state != _ConnectionState.MQTT_CS_CONNECTED:
            return not self._out_packet
        out = self._out_packet
        sent = False
        while out:
            run: list[_OutPacket] = []  # taken off the queue's head (only writers, under the lock, take)
            size = 0
            while out and size < MAX_JOINED_BYTES:
                packet = out[0]
                kind = packet["command"] & 0xF0
                if kind == MessageType.DISCONNECT or (kind == MessageType.PUBLISH and packet["qos"] == 0):
                    break
                run.append(out.popleft())
                size += packet["to_process"]
            if not run:
                break
            data = b"".join(p["packet"][p["pos"] :] for p in run)
            try:
                count = sock.send(data)
            except OSError:  # BlockingIOError (a full buffer) included: the network thread finds out and carries on
                out.extendleft(reversed(run))
                break
            sent = sent or count > 0
            self.sends += 1
            for at, packet in enumerate(run):
                step = min(count, packet["to_process"])
                count -= step
                packet["to_process"] -= step
                packet["pos"] += step
                if packet["to_process"] > 0:  # the socket took part of the run: the rest waits, in order
                    out.extendleft(reversed(run[at:]))
                    break
                self.direct_writes += 1
            else:
                continue
            break
        if sent:
            with self._msgtime_mutex:
                self._last_msg_out = time.monotonic()
        return not out

    def _wake_network_thread(self) -> None:
        if self._sockpairW is not None:
            with contextlib.suppress(BlockingIOError):
                self._sockpairW.send(b"0")
        self._call_socket_register_write()
