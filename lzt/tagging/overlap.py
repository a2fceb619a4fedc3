"""Overlapping work on a CUDA device: JPEG decoding of the next batch on its own stream while the
previous batch encodes, and results copied back to pinned host memory without stopping the
device. On a CPU device every step here runs in order, unchanged, so the code path that CI tests
is the one a GPU runs, but for the streams and events.

    overlap = DeviceOverlap(device)
    with overlap.decoding():             # batch n+1's nvJPEG work, on the side stream
        pixels = decode(...)
    overlap.hand_over(pixels)            # the compute stream waits for it, not the host
    ...encode, map, score, top-k on the compute stream...
    host = overlap.to_host(values)       # queued copy into pinned memory
    done = overlap.mark()                # an event after the copies
    ...launch the next batch...
    overlap.wait(done)                   # the host waits for this batch alone
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


class DeviceOverlap:
    """A decoding stream and host hand-over for one device (no-ops on a CPU device)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"
        self._decode_stream = torch.cuda.Stream(device) if self.cuda else None

    @contextlib.contextmanager
    def decoding(self) -> Iterator[None]:
        """Work queued inside runs on the decoding stream, after what that stream already holds."""
        if self._decode_stream is None:
            yield
            return
        with torch.cuda.stream(self._decode_stream):
            yield

    def hand_over(self, tensor: torch.Tensor) -> None:
        """The compute (current) stream waits for the decoding stream's work so far; the caching
        allocator learns that the compute stream uses `tensor`, so its memory is not reused by
        the decoding stream while compute still reads it."""
        if self._decode_stream is None:
            return
        current = torch.cuda.current_stream(self.device)
        current.wait_stream(self._decode_stream)
        if tensor.is_cuda:
            tensor.record_stream(current)

    def to_host(self, tensor: torch.Tensor) -> torch.Tensor:
        """A host copy of a device tensor, queued behind the work that makes it (pinned memory,
        so the copy does not stop the host); the host must `wait` for the next `mark` before
        reading it. A host tensor is returned as it is; another device's (MPS) is copied now."""
        if tensor.device.type == "cpu":
            return tensor
        if not tensor.is_cuda:
            return tensor.cpu()
        host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
        host.copy_(tensor, non_blocking=True)
        return host

    def mark(self) -> torch.cuda.Event | None:
        """An event after everything queued so far on the compute stream (None on a CPU)."""
        if not self.cuda:
            return None
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(self.device))
        return event

    @staticmethod
    def wait(event: torch.cuda.Event | None) -> None:
        """Block the host until `event` (from `mark`) has passed; the device keeps working on what
        was queued after it."""
        if event is not None:
            event.synchronize()
