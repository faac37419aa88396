"""One ESME connection: framing, bind state, one handler per command, throttling and window,
scenario faults on the response, and the deliver_sm it is sent (receipts, replies).

Reading never waits for an answer to be written: a response a scenario delays is written by
its own task, so the window (requests read but not yet answered) is real."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.model import Account
from ..core.store_outage import StoreAway
from . import codec
from .bridge import Address, Draft
from .codec import STATUS, Malformed, Pdu
from .parts import joined
from .profiles import Profile
from .text import UDHI, Part, decode_text, split_udh
from .times import BadTime, absolute, parse

if TYPE_CHECKING:
    from .server import SmppServer

log = logging.getLogger("msgemu.smpp")

BIND_MODES = {codec.BIND_TRANSMITTER: "tx", codec.BIND_RECEIVER: "rx", codec.BIND_TRANSCEIVER: "trx"}
SESSION_INIT_TIMEOUT = 60.0  # seconds a connection may stay unbound
DELIVER_WINDOW = 10  # deliver_sm sent and not yet acknowledged, per session
MAX_WRITE_BUFFER = 4 * 1024 * 1024  # an ESME that stops reading is disconnected past this
OK = STATUS["ESME_ROK"]
# deliver_sm answers that mean "not now" (SMPP 3.4 5.1.3): the deliver_sm is offered again later
RETRY_LATER = frozenset({STATUS["ESME_RX_T_APPN"], STATUS["ESME_RMSGQFUL"], STATUS["ESME_RTHROTTLED"]})


@dataclass
class Outgoing:
    """A deliver_sm the SMSC owes an ESME, about one message of the store."""

    message_id: str
    pdu: Pdu
    refusals: int = 0  # times the ESME answered "not now"


class Session:
    def __init__(self, server: "SmppServer", reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader, self.writer = reader, writer
        self.mode: str | None = None
        self.system_type = ""
        self.profile: Profile | None = None
        self.account: Account | None = None
        self.closed = False
        self.in_flight = 0  # requests read and not answered yet (delayed or hung by a scenario)
        self._sequence = 0
        self._submits: deque[float] = deque()  # clock times of recent submits (throttling)
        self._outbox: deque[Outgoing] = deque()  # deliver_sm waiting for room in the window
        self._unacked: dict[int, Outgoing] = {}
        self._tasks: set[asyncio.Task] = set()
        self._last_read = time.monotonic()
        self._idle_timer: asyncio.TimerHandle | None = None

    # -- the connection -------------------------------------------------------------------------
    @property
    def key(self) -> tuple[str, str] | None:
        return (self.profile.provider, self.account.login) if self.profile and self.account else None

    @property
    def receives(self) -> bool:
        return self.mode in ("rx", "trx")

    async def run(self) -> None:
        self._watch_idle()
        try:
            while not self.closed:
                head = await self.reader.readexactly(4)
                self._last_read = time.monotonic()
                length = codec.peek_length(head)
                if length < codec.HEADER_SIZE or length > codec.MAX_PDU_SIZE:
                    # the stream cannot be re-synchronised: say why, then hang up
                    self.write(codec.generic_nack(0, STATUS["ESME_RINVCMDLEN"]))
                    break
                data = head + await self.reader.readexactly(length - 4)
                try:
                    pdu = codec.decode(data)
                except Malformed as bad:
                    self.write(codec.generic_nack(bad.sequence, bad.status))
                    continue
                try:
                    self.handle(pdu)
                except Exception as exc:  # a bug of ours, or a shared store away too long: the ESME still gets an answer
                    if not isinstance(exc, StoreAway):  # (that one is said once, by the store)
                        log.exception("SMPP %s failed", pdu.name)
                    if not pdu.is_response:
                        self.write(codec.response(pdu, STATUS["ESME_RSYSERR"]) if pdu.command_id in codec.BODIES and pdu.command_id | codec.RESP in codec.BODIES else codec.generic_nack(pdu.sequence, STATUS["ESME_RSYSERR"]))
                if not self.closed:
                    await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.close()

    def _watch_idle(self) -> None:
        """Hang up on a connection silent for longer than the provider allows (before a bind:
        SESSION_INIT_TIMEOUT). Wall time: it guards resources, not the emulated lifecycle."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if self.closed:
            return
        timeout = float(self.profile.get("inactivity_timeout", 120)) if self.profile else SESSION_INIT_TIMEOUT
        idle = time.monotonic() - self._last_read
        if idle >= timeout:
            log.info("SMPP session idle for %.0f s; closing it", idle)
            self.writer.transport.abort()
            self.close()
            return
        self._idle_timer = asyncio.get_running_loop().call_later(timeout - idle + 0.01, self._watch_idle)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        for task in self._tasks:
            task.cancel()
        self.server.session_closed(self, list(self._unacked.values()) + list(self._outbox))
        self._unacked.clear()
        self._outbox.clear()
        try:
            self.writer.close()
        except Exception:  # pragma: no cover - already gone
            pass

    def write(self, pdu: Pdu) -> None:
        if self.closed:
            return
        transport = self.writer.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            log.warning("SMPP client stopped reading; disconnecting it")
            transport.abort()
            self.close()
            return
        self.writer.write(codec.encode(pdu))

    def next_sequence(self) -> int:
        self._sequence = self._sequence % 0x7FFFFFFF + 1
        return self._sequence

    # -- dispatch -------------------------------------------------------------------------------
    def handle(self, pdu: Pdu) -> None:
        if pdu.is_response:
            self._on_response(pdu)
            return
        cid = pdu.command_id
        if cid in BIND_MODES:
            self.write(self._bind(pdu))
        elif cid == codec.ENQUIRE_LINK:
            self.write(codec.response(pdu))
        elif cid == codec.UNBIND:
            self.write(codec.response(pdu))
            self.closed_after_write()
        elif self.mode is None:
            self.write(self._answer(pdu, STATUS["ESME_RINVBNDSTS"]))
        elif cid == codec.SUBMIT_MULTI and not self.profile.get("submit_multi"):  # type: ignore[union-attr]
            self.write(codec.generic_nack(pdu.sequence, STATUS["ESME_RINVCMDID"]))
        elif cid in (codec.SUBMIT_SM, codec.SUBMIT_MULTI, codec.QUERY_SM, codec.CANCEL_SM, codec.REPLACE_SM):
            if self.mode == "rx":
                self.write(self._answer(pdu, STATUS["ESME_RINVBNDSTS"]))
            elif cid == codec.SUBMIT_SM or cid == codec.SUBMIT_MULTI:
                self._submit(pdu)
            elif cid == codec.QUERY_SM:
                self.write(self._query(pdu))
            elif cid == codec.CANCEL_SM:
                self.write(self._cancel(pdu))
            else:
                self.write(codec.response(pdu, STATUS["ESME_RREPLACEFAIL"]))
        else:  # data_sm, deliver_sm, outbind, alert_notification from an ESME: not served here
            self.write(codec.generic_nack(pdu.sequence, STATUS["ESME_RINVCMDID"]))

    def _answer(self, pdu: Pdu, status: int) -> Pdu:
        if pdu.command_id | codec.RESP in codec.BODIES:
            return codec.response(pdu, status)
        return codec.generic_nack(pdu.sequence, status)

    def closed_after_write(self) -> None:
        async def later() -> None:
            try:
                await self.writer.drain()
            finally:
                self.close()

        self._spawn(later())

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- bind -----------------------------------------------------------------------------------
    def _bind(self, pdu: Pdu) -> Pdu:
        if self.mode is not None:
            return codec.response(pdu, STATUS["ESME_RALYBND"])
        status, profile, account = self.server.authenticate(pdu.get("system_id", ""), pdu.get("password", ""))
        if status != OK:
            log.info("SMPP bind refused for system_id %r: %s", pdu.get("system_id"), codec.STATUS_NAMES[status])
            return codec.response(pdu, status)
        assert profile is not None and account is not None
        self.profile, self.account, self.mode = profile, account, BIND_MODES[pdu.command_id]
        self.system_type = str(pdu.get("system_type", ""))
        resp = codec.response(pdu, OK, system_id=str(profile.get("server_system_id", profile.provider)))
        if int(pdu.get("interface_version", 0)) >= 0x34:
            resp.tlvs[codec.TLV["sc_interface_version"]] = bytes([0x34])
        if self.receives:
            self.server.receiver_bound(self)
        self._watch_idle()  # now the provider's inactivity limit applies
        return resp

    # -- submit ---------------------------------------------------------------------------------
    def _limits(self) -> tuple[int, int]:
        assert self.profile is not None
        scenario = self.server.scenario_limits()
        return (
            int(scenario.get("max_per_second") or self.profile.get("max_per_second") or 1_000_000),
            int(scenario.get("window") or self.profile.get("window") or 1_000_000),
        )

    def _throttled(self) -> bool:
        per_second, _ = self._limits()
        now = self.server.clock.now()
        while self._submits and now - self._submits[0] >= 1.0:
            self._submits.popleft()
        if len(self._submits) >= per_second:
            return True
        self._submits.append(now)
        return False

    def _submit(self, pdu: Pdu) -> None:
        assert self.profile is not None and self.account is not None
        _, window = self._limits()
        if self.in_flight >= window:
            self.write(codec.response(pdu, STATUS["ESME_RMSGQFUL"]))
            return
        if self._throttled():
            self.write(codec.response(pdu, STATUS["ESME_RTHROTTLED"]))
            return
        status, draft, part_id = self._draft(pdu)
        if status != OK or draft is None:
            self.write(self._submit_resp(pdu, status, part_id or ""))
            return
        result = self.server.bridge.submit(self.profile, self.account, draft)
        if pdu.command_id == codec.SUBMIT_MULTI and result.status == OK:
            resp = codec.response(pdu, OK, message_id=result.message_id, unsuccess_sme=[{"ton": a.ton, "npi": a.npi, "addr": a.addr, "error": s} for a, s in result.failed])
        else:
            resp = self._submit_resp(pdu, result.status, part_id or result.message_id)
        self._respond(resp, result.fault)

    def _submit_resp(self, pdu: Pdu, status: int, message_id: str) -> Pdu:
        if pdu.command_id == codec.SUBMIT_MULTI:
            return codec.response(pdu, status, message_id=message_id if status == OK else "", unsuccess_sme=[])
        return codec.response(pdu, status, message_id=message_id if status == OK else "")

    def _respond(self, resp: Pdu, fault: dict[str, Any] | None) -> None:
        """Write the response, as a scenario fault (if any) has it: delayed, never, garbled,
        replaced by a system error, or the connection reset."""
        if not fault:
            self.write(resp)
            return
        kind = fault.get("type")
        seconds = float(fault.get("seconds", 0))
        if kind == "reset":
            self.writer.transport.abort()
            self.close()
        elif kind == "status":
            self.write(codec.Pdu(resp.command_id, resp.sequence, STATUS["ESME_RSYSERR"]))
        elif kind == "malformed":
            self.write(codec.generic_nack(resp.sequence, STATUS["ESME_RSYSERR"]))
        elif kind in ("delay", "hang"):
            self.in_flight += 1

            async def later() -> None:
                try:
                    await asyncio.sleep(seconds if kind == "delay" else (seconds or 3600))
                    if kind == "delay":
                        self.write(resp)
                finally:
                    self.in_flight -= 1

            self._spawn(later())
        else:
            self.write(resp)

    def _draft(self, pdu: Pdu) -> tuple[int, Draft | None, str | None]:
        """(status, the complete message or None while parts are missing, this part's id)."""
        assert self.profile is not None and self.account is not None
        if pdu.command_id == codec.SUBMIT_MULTI:
            dests = pdu.get("dest_addresses") or []
            if not dests or len(dests) > 255:
                return STATUS["ESME_RINVNUMDESTS"], None, None
            if any("dl_name" in d for d in dests):
                return STATUS["ESME_RCNTSUBDL"], None, None
            destinations = [Address(d["ton"], d["npi"], d["addr"]) for d in dests]
        else:
            destinations = [Address(pdu.get("dest_addr_ton", 0), pdu.get("dest_addr_npi", 0), pdu.get("destination_addr", ""))]
        for dest in destinations:
            addr = dest.addr.lstrip("+")
            if not addr.isdigit() or not 5 <= len(addr) <= 15:
                return STATUS["ESME_RINVDSTADR"], None, None
        now = self.server.clock.now()
        try:
            scheduled_at = parse(pdu.get("schedule_delivery_time", ""), now)
        except BadTime:
            return STATUS["ESME_RINVSCHED"], None, None
        try:
            expires = parse(pdu.get("validity_period", ""), now)
        except BadTime:
            return STATUS["ESME_RINVEXPIRY"], None, None
        ttl = max(1.0, expires - (scheduled_at or now)) if expires else None
        payload = pdu.tlv_bytes("message_payload")
        raw = pdu.get("short_message", b"")
        if payload and raw:
            return STATUS["ESME_RINVPARLEN"], None, None
        raw = payload or raw
        part: Part | None = None
        if pdu.get("esm_class", 0) & UDHI:
            try:
                part, raw = split_udh(raw)
            except ValueError:
                return STATUS["ESME_RINVESMCLASS"], None, None
        elif pdu.tlv_int("sar_total_segments"):
            part = Part(pdu.tlv_int("sar_msg_ref_num") or 0, pdu.tlv_int("sar_total_segments") or 0, pdu.tlv_int("sar_segment_seqnum") or 0)
        coding = int(pdu.get("data_coding", 0))
        rd = int(pdu.get("registered_delivery", 0))
        source = Address(pdu.get("source_addr_ton", 0), pdu.get("source_addr_npi", 0), pdu.get("source_addr", ""))
        part_id = self.server.bridge.new_id(self.profile, self.account)
        ids = [part_id]
        if part is not None and part.total > 1:
            if not 1 <= part.seq <= part.total:
                return STATUS["ESME_RINVOPTPARAMVAL"], None, None
            key = (self.profile.provider, self.account.login, source.addr, destinations[0].addr, part.ref, coding)
            pending = self.server.parts.add(key, part.total, part.seq, raw, part_id, rd, now)
            if pending is None:
                return OK, None, part_id  # answered now; the message is whole with its last part
            raw, ids = joined(pending)
            rd = pending.registered_delivery
        draft = Draft(
            source=source,
            destinations=destinations,
            text=decode_text(raw, coding, self._codings()),
            data_coding=coding,
            registered_delivery=rd,
            part_ids=ids,
            scheduled_at=scheduled_at if scheduled_at and scheduled_at > now else None,
            ttl=ttl,
            command=pdu.name,
        )
        return OK, draft, part_id

    def _codings(self) -> dict[int, str]:
        """The provider's reading of data_coding values (schemas/<p>/smpp.yaml `data_coding`,
        and `data_coding_by_system_type` for the system_type the ESME bound with)."""
        assert self.profile is not None
        codings = {int(k): str(v) for k, v in (self.profile.get("data_coding") or {}).items()}
        by_type = (self.profile.get("data_coding_by_system_type") or {}).get(self.system_type) or {}
        codings.update({int(k): str(v) for k, v in by_type.items()})
        return codings

    # -- query / cancel -------------------------------------------------------------------------
    def _query(self, pdu: Pdu) -> Pdu:
        assert self.profile is not None and self.account is not None
        message = self.server.bridge.find(self.profile, self.account, pdu.get("message_id", ""))
        if message is None:
            return codec.response(pdu, STATUS["ESME_RQUERYFAIL"])
        from .receipts import MESSAGE_STATE, UNKNOWN, err_code

        status = message.status
        final = status.is_success or status.is_failure
        history = message.current.history
        error = err_code(self.profile, status, message.current.error) if status.is_failure else 0
        return codec.response(
            pdu,
            OK,
            message_id=pdu.get("message_id", ""),
            final_date=absolute(history[-1].at) if final and history else "",
            message_state=MESSAGE_STATE.get(status, UNKNOWN),
            error_code=min(error, 255),
        )

    def _cancel(self, pdu: Pdu) -> Pdu:
        assert self.profile is not None and self.account is not None
        message = self.server.bridge.find(self.profile, self.account, pdu.get("message_id", ""))
        if message is None or not self.server.engine.cancel(message):
            return codec.response(pdu, STATUS["ESME_RCANCELFAIL"])
        return codec.response(pdu, OK)

    # -- what the SMSC sends --------------------------------------------------------------------
    def deliver(self, item: Outgoing) -> None:
        """Send a deliver_sm now, or when the ESME has acknowledged earlier ones."""
        if len(self._unacked) >= DELIVER_WINDOW:
            self._outbox.append(item)
            return
        pdu = item.pdu
        pdu.sequence = self.next_sequence()
        self._unacked[pdu.sequence] = item
        self.write(pdu)

    def _on_response(self, pdu: Pdu) -> None:
        if pdu.command_id == codec.DELIVER_SM | codec.RESP or (pdu.command_id == codec.GENERIC_NACK and pdu.sequence in self._unacked):
            sent = self._unacked.pop(pdu.sequence, None)
            if sent is not None and pdu.status in RETRY_LATER:
                self.server.retry_later(self, sent)
            elif sent is not None and pdu.status != OK:
                log.info("ESME answered deliver_sm with %s; not sent again", codec.STATUS_NAMES.get(pdu.status, hex(pdu.status)))
            while self._outbox and len(self._unacked) < DELIVER_WINDOW:
                self.deliver(self._outbox.popleft())
        elif pdu.command_id == codec.UNBIND | codec.RESP:
            self.close()
