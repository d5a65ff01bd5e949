"""Values on the wire: cloudpickle, protocol 5, large buffers out of band.

Out-of-band pickling lets the executor learn a value's real serialized size without copying its
arrays (:func:`serialized_size`), which is what task clustering decides on. The wire form is one
``bytes``: a header with the frame lengths, the pickle stream, then each buffer at an offset aligned to
``ALIGN_BYTES`` (so arrays viewed in place are aligned, as BLAS wants them).

:func:`loads` of a writable buffer (a ``bytearray``, or the ``memoryview`` that ``storage.bulk`` reads
from Redis) gives arrays that use it in place, writable; of ``bytes`` (read-only), arrays on a
writable copy of each buffer:
tasks and libraries such as scikit-learn may write into their inputs either way.
"""

from __future__ import annotations

import pickle
import struct

import cloudpickle

PROTOCOL = 5
MAGIC = b"WK6"
ALIGN_BYTES = 64
_COUNT = struct.Struct("<I")
_LENGTH = struct.Struct("<Q")


class Frames:
    """A value pickled into a stream plus raw buffers; nothing is copied until :meth:`to_bytes`.

    The stores take a ``Frames`` wherever they take ``bytes``: ``storage.connect``'s packer sends its
    :meth:`parts` to the socket one after another, so a big array is never joined into one ``bytes``
    on its way to Redis (for 8 MB, ~2.5 ms of copying and page faults saved per write)."""

    __slots__ = ("stream", "buffers")

    def __init__(self, stream: bytes, buffers: list[memoryview]):
        self.stream = stream
        self.buffers = buffers

    def __len__(self) -> int:
        return self.nbytes

    @property
    def nbytes(self) -> int:
        offset = header_bytes(len(self.buffers)) + len(self.stream)
        for buffer in self.buffers:
            offset = aligned(offset) + buffer.nbytes
        return offset

    def parts(self) -> list:
        """The wire form as a list of pieces (the buffers themselves, uncopied)."""
        parts = [MAGIC, _COUNT.pack(len(self.buffers)), _LENGTH.pack(len(self.stream))]
        parts += [_LENGTH.pack(b.nbytes) for b in self.buffers]
        parts.append(self.stream)
        offset = header_bytes(len(self.buffers)) + len(self.stream)
        for buffer in self.buffers:
            padding = aligned(offset) - offset
            parts += [bytes(padding), buffer]
            offset += padding + buffer.nbytes
        return parts

    def to_bytes(self) -> bytes:
        return b"".join(self.parts())


def header_bytes(buffer_count: int) -> int:
    return len(MAGIC) + _COUNT.size + _LENGTH.size * (1 + buffer_count)


def aligned(offset: int) -> int:
    return -(-offset // ALIGN_BYTES) * ALIGN_BYTES


def pickle_frames(value) -> Frames:
    buffers: list[memoryview] = []

    def keep(buffer: pickle.PickleBuffer):
        view = buffer.raw()
        buffers.append(view)
        return False  # out of band

    stream = cloudpickle.dumps(value, protocol=PROTOCOL, buffer_callback=keep)
    return Frames(stream, buffers)


def dumps(value) -> bytes:
    return pickle_frames(value).to_bytes()


def as_bytes(data: bytes | Frames) -> bytes:
    return data.to_bytes() if isinstance(data, Frames) else data


def loads(data: bytes | bytearray | memoryview):
    if data[: len(MAGIC)] != MAGIC:
        raise ValueError("not a Wukong-serialized value (bad magic)")
    view = memoryview(data)
    in_place = not view.readonly
    (count,) = _COUNT.unpack_from(view, len(MAGIC))
    lengths = [
        _LENGTH.unpack_from(view, len(MAGIC) + _COUNT.size + i * _LENGTH.size)[0] for i in range(count + 1)
    ]
    offset = header_bytes(count)
    stream = view[offset : offset + lengths[0]]
    offset += lengths[0]
    buffers = []
    for length in lengths[1:]:
        offset = aligned(offset)
        buffer = view[offset : offset + length]
        buffers.append(buffer if in_place else bytearray(buffer))
        offset += length
    return pickle.loads(stream, buffers=buffers)


def serialized_size(value) -> int:
    """The value's size on the wire, measured by pickling it without copying its buffers."""
    return pickle_frames(value).nbytes
