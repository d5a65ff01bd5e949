"""A client's session: its futures' states, how many Futures refer to each key, and their values in
the KV store.

The session has an id; each future's value is the KVS key ``wk:session:<id>:<digest of its dask key>``
(``keys.session_value``), written with the TTL ``session_ttl_s``. The state, guarded by one lock::

  states:   {key: FutureState}  the current state of each key with live Futures (or computing)
  refs:     {FutureState: int}  how many Future objects refer to each state
  released: deque of states     references dropped (``Future.__del__`` appends without the lock)

A background thread, the *keeper*, applies released references (a key no Future refers to is
forgotten and its value deleted), and renews the TTL of every value every ``session_ttl_s / 4``: a
live session's values never expire, and those of a session whose process died without ``close()``
are gone at most ``session_ttl_s`` after the last renewal. ``close()`` deletes every value of the
session, and sweeps the nodes for any a late store task wrote.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Hashable, Iterable

from ..errors import FutureCancelledError, FutureLostError
from ..futures import Stored
from ..storage import keys, serialization
from .future import CANCELLED, ERROR, FINISHED, Future, FutureState

log = logging.getLogger("wukong.futures")

RENEWALS_PER_TTL = 4


class Session:
    def __init__(self, client, kvs, ttl_s: int, check=lambda: None):
        """``check()`` raises when the cluster cannot be used (closed, or a process of it died)."""
        self.id = uuid.uuid4().hex[:12]
        self.client, self.kvs, self.ttl_s, self.check = client, kvs, ttl_s, check
        self.lock = threading.RLock()
        self.states: dict[Hashable, FutureState] = {}
        self.refs: dict[FutureState, int] = {}
        self.released: deque[FutureState] = deque()
        self.wake = threading.Event()
        self.closed = False
        self.keeper = threading.Thread(target=self.keep, name=f"wukong-session-{self.id}", daemon=True)
        self.keeper.start()

    def name(self, key: Hashable) -> str:
        return keys.session_value(self.id, key)

    # --- states and references ---
    def claim(self, key: Hashable) -> tuple[FutureState, bool]:
        """``key``'s state, and whether it is new (then the caller has it computed): a key known already
        shares its state, as distributed's futures of one key do, unless it was cancelled."""
        with self.lock:
            state = self.states.get(key)
            if state is not None and state.status != CANCELLED:
                return state, False
            state = self.states[key] = FutureState(key)
            return state, True

    def future(self, key: Hashable) -> Future:
        """A new Future of ``key`` (claimed before), counted."""
        with self.lock:
            state = self.states[key]
            self.refs[state] = self.refs.get(state, 0) + 1
            return Future(key, self.client, state)

    def current(self, state: FutureState) -> bool:
        return not self.closed and self.states.get(state.key) is state

    def release(self, state: FutureState) -> None:
        """A Future of ``state`` is gone; no lock here: this runs in ``__del__``, in any thread."""
        self.released.append(state)
        self.wake.set()

    def finish(self, stored: Iterable[tuple[FutureState, Stored]]) -> None:
        """Their values are stored: finish the states still current; delete the values of the others
        (released or cancelled while their job ran, or the session closed)."""
        done, orphans = [], {}
        with self.lock:
            for state, marker in stored:
                if not self.current(state):
                    orphans[marker.name] = marker.parts
                elif state.mark(FINISHED, stored=marker):
                    done.append(state)
                elif state.status == FINISHED:  # finished early (its store task was done): now with its size
                    state.stored = marker
        self.delete(orphans)
        for state in done:
            state.run_callbacks()

    def fail(self, states: Iterable[FutureState], error: BaseException) -> None:
        """Their task (or one they depend on) raised ``error``."""
        with self.lock:
            moved = [state for state in states if state.mark(ERROR, exception=error)]
        for state in moved:
            state.run_callbacks()

    def depend(self, state: FutureState, needs: Iterable[Hashable]) -> None:
        """Under the lock: ``state`` is computed from the futures ``needs`` (it is cancelled with them)."""
        for need in needs:
            if need in self.states:  # else cancelled or unknown: the batch settles it
                self.states[need].dependents.add(state)

    def cancel(self, states: Iterable[FutureState], reason: str = "it was cancelled") -> None:
        """Cancel them and what is computed from them, finished ones too (their values are deleted),
        and forget them."""
        orphans, moved = {}, []
        with self.lock:
            for state, why in with_dependents(states, reason):
                if state.stored is not None:
                    orphans[state.stored.name] = state.stored.parts
                was_done = state.done()
                state.mark(CANCELLED, exception=FutureCancelledError(state.key, why), force=True)
                if not was_done:
                    moved.append(state)
                if self.states.get(state.key) is state:
                    del self.states[state.key]
        self.delete(orphans)
        for state in moved:
            state.run_callbacks()

    def forget_released(self) -> None:
        """Apply the dropped references; delete the values no Future refers to any more."""
        orphans = {}
        with self.lock:
            while self.released:
                state = self.released.popleft()
                count = self.refs.get(state, 0) - 1
                if count > 0:
                    self.refs[state] = count
                    continue
                self.refs.pop(state, None)
                if self.states.get(state.key) is state:
                    del self.states[state.key]
                    if state.stored is not None:
                        orphans[state.stored.name] = state.stored.parts
        self.delete(orphans)

    # --- values in the KV store ---
    def values(self, states: list[FutureState]) -> list:
        """The values of finished states, read in one MGET per KVS node."""
        self.check()
        stored = [state.stored for state in states]
        assert all(marker is not None for marker in stored), "values of states not finished"
        names = list(dict.fromkeys(marker.name for marker in stored))  # type: ignore[union-attr]
        found = self.kvs.get_values(names)
        values = []
        for state, marker in zip(states, stored, strict=True):
            data = found.get(marker.name)  # type: ignore[union-attr]
            if data is None:
                raise FutureLostError(state.key, self.ttl_s)
            values.append(serialization.loads(data))
        return values

    def scatter(self, data: dict[Hashable, object]) -> list[Future]:
        """Store each value under its key, as a finished future (a key finished already is kept)."""
        self.check()
        fresh = {}
        with self.lock:
            for key in data:
                state, new = self.claim(key)
                if new or state.status != FINISHED:
                    fresh[key] = state
        frames = {key: serialization.pickle_frames(data[key]) for key in fresh}
        items = [(self.name(key), frames[key]) for key in fresh]
        parts = self.kvs.put_values(items, self.ttl_s, key_names=list(fresh))
        markers = [
            Stored(self.name(key), len(frames[key]), count, type(data[key]).__name__)
            for key, count in zip(fresh, parts, strict=True)
        ]
        self.finish(zip(fresh.values(), markers, strict=True))
        return [self.future(key) for key in data]

    def delete(self, values: dict[str, int]) -> None:
        if values:
            try:
                self.kvs.delete_values(values)
            except Exception as exc:  # the values expire anyway (session_ttl_s)
                log.warning("could not delete %d future value(s): %s", len(values), exc)

    # --- the keeper: releases and renewals ---
    def keep(self) -> None:
        interval = self.ttl_s / RENEWALS_PER_TTL
        next_renewal = time.monotonic() + interval
        while not self.closed:
            self.wake.wait(max(0.0, next_renewal - time.monotonic()))
            self.wake.clear()
            try:
                self.forget_released()
                if time.monotonic() >= next_renewal:
                    next_renewal = time.monotonic() + interval
                    self.renew()
            except Exception as exc:  # best effort: the cluster may be gone; close() cleans up
                log.warning("session %s: %s", self.id, exc)

    def renew(self) -> None:
        with self.lock:
            stored = {s.stored.name: s.stored.parts for s in self.states.values() if s.stored is not None}
        if stored:
            self.kvs.renew_values(stored, self.ttl_s)

    def close(self) -> None:
        """Cancel what is pending, delete every value of the session (a scan of each KVS node catches
        those a store task wrote late), stop the keeper."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            states = list(self.states.values())
        self.cancel(states, reason="its client was closed")
        self.wake.set()
        try:
            self.kvs.delete_matching_values(keys.session_pattern(self.id))
        except Exception as exc:
            log.warning("session %s: could not sweep its values: %s", self.id, exc)


def with_dependents(states: Iterable[FutureState], reason: str) -> list[tuple[FutureState, str]]:
    """``states`` and every state computed from them, transitively, each with why it is cancelled."""
    found: dict[FutureState, str] = dict.fromkeys(states, reason)
    stack = list(found)
    while stack:
        state = stack.pop()
        for dependent in state.dependents:
            if dependent not in found:
                found[dependent] = f"it depends on {state.key!r}, which was cancelled"
                stack.append(dependent)
    return list(found.items())
