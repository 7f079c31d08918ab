"""Fetched record batches unpacked in one tight loop instead of kafka-python's per-record calls.

kafka-python 3.0 reads each record of a fetched batch through a generator, a method call and
one ``decode_varint`` call per field and per header; for the published events (seven headers
each) that was about a third of a view worker's time. ``LeanPartitionRecords`` reads a v2
batch's records in one loop, with the one-byte varints (nearly all of them) decoded inline,
and yields the same ``ConsumerRecord``s, field for field (tests compare both ways on varied
batches). Anything it does not cover goes the library's way: deserializers, read_committed,
message formats before v2. ``HeaderlessPartitionRecords`` yields them without their headers,
stepped over (13 % of a view worker's CPU, measured), for a reader of values only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord, Fetcher
from kafka.errors import CorruptRecordError
from kafka.protocol.consumer.offsets import IsolationLevel
from kafka.record.util import decode_varint

_LOG_APPEND_TIME = 1


def unpack_batch(batch: Any, topic: str, partition: int, headers: bool = True
                 ) -> list[ConsumerRecord]:
    """Every record of a v2 ``DefaultRecordBatch`` (its CRC checked already), as the
    library's fetcher would build them. Each varint of one byte (the usual case) is
    decoded inline; longer ones by the library's ``decode_varint``. ``headers=False``: the
    headers are stepped over, not read (each record's ``headers`` is empty, its
    ``serialized_header_size`` -1), for a reader that has no use for them."""
    batch._maybe_uncompress()  # a no-op unless compressed
    buf = bytes(batch._buffer)  # slices of bytes are bytes: one copy per field, not two
    pos: int = batch._pos
    base, epoch, ts_type = batch.base_offset, batch.leader_epoch, batch.timestamp_type
    first_ts, max_ts = batch.first_timestamp, batch.max_timestamp
    log_append = ts_type == _LOG_APPEND_TIME
    varint, new = decode_varint, tuple.__new__
    out = []
    try:
        for _ in range(batch._num_records):
            length, pos = varint(buf, pos)
            start = pos
            b = buf[pos]  # attributes, read as the library does (a varint)
            if b & 0x80:
                _, pos = varint(buf, pos)
            else:
                pos += 1
            b = buf[pos]
            if b & 0x80:
                ts_delta, pos = varint(buf, pos)
            else:
                ts_delta, pos = (b >> 1) ^ -(b & 1), pos + 1
            b = buf[pos]
            if b & 0x80:
                offset_delta, pos = varint(buf, pos)
            else:
                offset_delta, pos = (b >> 1) ^ -(b & 1), pos + 1
            b = buf[pos]
            if b & 0x80:
                key_size, pos = varint(buf, pos)
            else:
                key_size, pos = (b >> 1) ^ -(b & 1), pos + 1
            if key_size >= 0:
                key: bytes | None = buf[pos:pos + key_size]
                pos += key_size
            else:
                key = None
            value_size, pos = varint(buf, pos)
            if value_size >= 0:
                value: bytes | None = buf[pos:pos + value_size]
                pos += value_size
            else:
                value = None
            b = buf[pos]
            if b & 0x80:
                count, pos = varint(buf, pos)
            else:
                count, pos = (b >> 1) ^ -(b & 1), pos + 1
            if count < 0:
                raise CorruptRecordError(f"Found invalid number of record headers {count}")
            kept: list[tuple[str, bytes | None]] = []
            header_size = 0
            for _ in range(count):
                b = buf[pos]
                if b & 0x80:
                    name_size, pos = varint(buf, pos)
                else:
                    name_size, pos = (b >> 1) ^ -(b & 1), pos + 1
                if name_size < 0:
                    raise CorruptRecordError(f"Invalid negative header key size {name_size}")
                name_at = pos
                pos += name_size
                b = buf[pos]
                if b & 0x80:
                    size, pos = varint(buf, pos)
                else:
                    size, pos = (b >> 1) ^ -(b & 1), pos + 1
                if not headers:  # stepped over: sizes read, nothing copied
                    pos += max(size, 0)
                    continue
                name = buf[name_at:name_at + name_size].decode()
                if size >= 0:
                    kept.append((name, buf[pos:pos + size]))
                    pos += size
                    header_size += name_size + size
                else:
                    kept.append((name, None))
                    header_size += name_size
            if pos - start != length:
                raise CorruptRecordError(
                    f"Invalid record size: expected to read {length} bytes in record payload, "
                    f"but instead read {pos - start}")
            out.append(new(ConsumerRecord, (
                topic, partition, epoch, base + offset_delta,
                max_ts if log_append else first_ts + ts_delta, ts_type,
                key, value, kept, None,
                -1 if key is None else key_size, -1 if value is None else value_size,
                header_size if count and headers else -1)))
    except (ValueError, IndexError) as exc:
        raise CorruptRecordError(f"Found invalid record structure: {exc!r}") from exc
    if pos != len(buf):
        raise CorruptRecordError(f"{len(buf) - pos} unconsumed bytes after all records "
                                 "consumed")
    return out


class LeanPartitionRecords(Fetcher.PartitionRecords):  # type: ignore[misc]
    """A fetched partition's records, v2 batches unpacked by ``unpack_batch``."""

    #: Whether records carry their headers (``HeaderlessPartitionRecords``: not).
    headers = True

    def _unpack_records(self, tp: Any, records: Any, key_deserializer: Any,
                        value_deserializer: Any) -> Iterator[ConsumerRecord]:
        if (key_deserializer is not None or value_deserializer is not None
                or self.isolation_level != IsolationLevel.READ_UNCOMMITTED):
            yield from super()._unpack_records(tp, records, key_deserializer,
                                               value_deserializer)
            return
        batch = records.next_batch()
        last = None
        while batch is not None:
            if batch.magic != 2:  # an older format (a log written before an upgrade, even
                # after v2 batches): the library's own way, from this batch on
                yield from super()._unpack_records(tp, _Prepended(batch, records),
                                                   key_deserializer, value_deserializer)
                return
            last = batch
            if self.check_crcs and not batch.validate_crc():
                raise CorruptRecordError(f"Record batch for partition {self.topic_partition} "
                                         f"at offset {batch.base_offset} failed crc check")
            self.leader_epoch = batch.leader_epoch
            if batch.is_control_batch:  # transaction markers: not for the consumer
                self.next_fetch_offset = batch.next_offset
            else:
                unpacked = unpack_batch(batch, tp.topic, tp.partition, self.headers)
                self.records_read += len(unpacked)
                self.bytes_read += batch.size_in_bytes
                for record in unpacked:
                    self.next_fetch_offset = record.offset + 1
                    yield record
            batch = records.next_batch()
        if last is not None:
            self.next_fetch_offset = last.next_offset
        self.drain()


class HeaderlessPartitionRecords(LeanPartitionRecords):
    """``LeanPartitionRecords`` whose records come without their headers."""

    headers = False


class _Prepended:
    """``records`` with one batch read off it already put back in front."""

    def __init__(self, first: Any, records: Any) -> None:
        self.first, self.records = first, records

    def next_batch(self) -> Any:
        if self.first is not None:
            first, self.first = self.first, None
            return first
        return self.records.next_batch()


def lean_fetch(consumer: Any, headers: bool = True) -> None:
    """Have ``consumer`` unpack fetched batches with ``LeanPartitionRecords`` (the fetcher
    builds them as ``self.PartitionRecords``; ``headers=False``: records without their
    headers, ``HeaderlessPartitionRecords``); a library without that hook keeps its own."""
    fetcher = getattr(consumer, "_fetcher", None)
    if isinstance(fetcher, Fetcher) and getattr(fetcher, "PartitionRecords", None) is \
            Fetcher.PartitionRecords:
        fetcher.PartitionRecords = (LeanPartitionRecords if headers
                                    else HeaderlessPartitionRecords)
