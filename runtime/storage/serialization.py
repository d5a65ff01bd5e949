"""Values on the wire: cloudpickle, protocol 5, large buffers out of band.

Out-of-band pickling lets the executor learn a value's real serialized size without copying its
arrays (:func:`serialized_size`), which is what task clustering decides on. The wire form is one
``bytes``: a header with the frame lengths, the pickle stream, then each buffer.
"""

from __future__ import annotations

import pickle
import struct

import cloudpickle

PROTOCOL = 5
MAGIC = b"WK5"
_COUNT = struct.Struct("<I")
_LENGTH = struct.Struct("<Q")


class Frames:
    """A value pickled into a stream plus raw buffers; nothing is copied until :meth:`to_bytes`."""

    __slots__ = ("stream", "buffers")

    def __init__(self, stream: bytes, buffers: list[memoryview]):
        self.stream = stream
        self.buffers = buffers

    @property
    def nbytes(self) -> int:
        return (
            len(MAGIC)
            + _COUNT.size
            + _LENGTH.size * (1 + len(self.buffers))
            + len(self.stream)
            + sum(b.nbytes for b in self.buffers)
        )

    def to_bytes(self) -> bytes:
        header = [MAGIC, _COUNT.pack(len(self.buffers)), _LENGTH.pack(len(self.stream))]
        header += [_LENGTH.pack(b.nbytes) for b in self.buffers]
        return b"".join([*header, self.stream, *self.buffers])


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


def loads(data: bytes):
    if data[: len(MAGIC)] != MAGIC:
        raise ValueError("not a Wukong-serialized value (bad magic)")
    view = memoryview(data)
    offset = len(MAGIC)
    (count,) = _COUNT.unpack_from(view, offset)
    offset += _COUNT.size
    lengths = [_LENGTH.unpack_from(view, offset + i * _LENGTH.size)[0] for i in range(count + 1)]
    offset += _LENGTH.size * (count + 1)
    stream = view[offset : offset + lengths[0]]
    offset += lengths[0]
    buffers = []
    for length in lengths[1:]:
        # A writable copy: tasks (and libraries such as scikit-learn) may write into their inputs.
        buffers.append(bytearray(view[offset : offset + length]))
        offset += length
    return pickle.loads(stream, buffers=buffers)


def serialized_size(value) -> int:
    """The value's size on the wire, measured by pickling it without copying its buffers."""
    return pickle_frames(value).nbytes
