"""Registration's vocabulary, once: what a registration answers, what a lease says, and the MDS scripts
that carry both out.

Readiness is a set per task (which dependencies registered), never a bare counter, so a registration
delivered twice counts once. The registration that completes a set also claims the task for the
registering invocation (``owner``). An owner runs what it claims, or hands it to a new invocation by
*delegating* the claim (to ``I<task>``) before invoking it; a retry carries the same owner, so it finds
its own claims (and runs them again: ``OURS``) and its delegations (and invokes them again:
``DELEGATED``). A big output is registered in *withhold* mode: only where it completes the set; elsewhere
it is *held* (delayed I/O) and later registrations wake its holder.

The Lua below gets the statuses as named locals formatted from :class:`Status`, and names every
``KEYS``/``ARGV`` slot once at its top; :func:`register_call` lays the slots out in the same order. The
register script is three jobs, each a local function: mark done, register and claim, hold and wake.
This module formats no Redis key (``storage/keys.py`` does) and does no I/O (``storage/metadata.py``
runs the scripts).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum, StrEnum


class Status(IntEnum):
    """What a registration says about one dependent."""

    NOT_READY = 0  # registered; other dependencies are still missing
    READY = 1  # registered, the set is complete, and the caller's invocation just claimed the task
    TAKEN = 2  # the set is complete but another invocation owns the task
    WITHHELD = 3  # (withhold mode) not registered: it would not complete the set; marked as held
    WRITE_NOW = 4  # (withhold mode) not registered; every missing input is held and this holder is lowest
    OURS = 5  # complete, and the caller's invocation claimed it before (a retry): run it here
    DELEGATED = 6  # the caller's invocation claimed it before and delegated it: invoke it again
    CANCELLED = -1  # the job ended: nothing was registered; the caller stops


class LeaseState(StrEnum):
    """A run lease: which delivery of an invocation runs it (see ``executor/lease.py``)."""

    OK = "ok"  # this delivery holds it: run
    HELD = "held"  # another live delivery holds it: this one is a duplicate
    DONE = "done"  # a delivery finished the invocation: stop
    CANCELLED = "cancelled"  # the job ended: stop, run nothing


def lua_constants(enum: type[IntEnum] | type[StrEnum]) -> str:
    """``local NOT_READY, READY = 0, 1``: an enum's members as Lua locals."""
    names = ", ".join(member.name for member in enum)
    values = ", ".join(str(m.value) if isinstance(m, IntEnum) else f"'{m.value}'" for m in enum)
    return f"local {names} = {values}\n"


# Every write of an executor refuses an ended job (its cancel flag is set): a straggler (a late
# duplicate, a retry, a task that outlived its job) must not recreate keys the client deleted.
MARK_DONE = """
local function mark_done(done_key, done_csv, ttl_s)
  if done_csv == '' then return end
  for id in string.gmatch(done_csv, '[^,]+') do redis.call('SADD', done_key, id) end
  redis.call('EXPIRE', done_key, ttl_s)
end
"""

# --- register: KEYS = done, cancelled, then per dependent (registered, claim, held) ----------------
# ARGV = task, owner, ttl_s, withhold, done_csv, wake_prefix, then per dependent its dependency count,
# then per dependent its delegate owner.

REGISTER_SCRIPT = (
    lua_constants(Status)
    + MARK_DONE
    + """
local DONE_KEY, CANCELLED_KEY = KEYS[1], KEYS[2]
local TASK, OWNER, TTL_S = ARGV[1], ARGV[2], tonumber(ARGV[3])
local WITHHOLD, DONE_CSV, WAKE_PREFIX = ARGV[4] == '1', ARGV[5], ARGV[6]
local N = (#ARGV - 6) / 2
local function dependent_keys(i) return KEYS[3 * i], KEYS[3 * i + 1], KEYS[3 * i + 2] end
local function needed(i) return tonumber(ARGV[6 + i]) end
local function delegate_of(i) return ARGV[6 + N + i] end

-- Job 1, mark done (MARK_DONE): the tasks this invocation completed since it last told the MDS.

-- Job 2, register and claim: add TASK to the set; the registration that completes it claims it.
local function register(registered)
  redis.call('SADD', registered, TASK)
  redis.call('EXPIRE', registered, TTL_S)
end

local function claim_if_complete(claim, registered_count, need, delegate)
  if registered_count < need then return NOT_READY end
  local current = redis.call('GET', claim)
  if not current then
    redis.call('SET', claim, OWNER, 'EX', TTL_S)
    return READY
  elseif current == OWNER then return OURS
  elseif current == delegate then return DELEGATED
  end
  return TAKEN
end

-- Job 3, hold and wake: a withheld output marks the dependent's held set; when every missing input is
-- held, the holder of the lowest task id must write now (else two holders would wait for each other).
-- A real registration wakes the executors that hold the dependent's other inputs back.
local function hold(registered, held, registered_count, need)
  redis.call('SADD', held, TASK)
  redis.call('EXPIRE', held, TTL_S)
  local others, lowest = 0, tonumber(TASK)
  for _, h in ipairs(redis.call('SMEMBERS', held)) do
    if h ~= TASK and redis.call('SISMEMBER', registered, h) == 0 then
      others = others + 1
      if tonumber(h) < lowest then lowest = tonumber(h) end
    end
  end
  if registered_count + others >= need and lowest == tonumber(TASK) then return WRITE_NOW end
  return WITHHELD
end

local function wake_holders(registered, held)
  if redis.call('SCARD', held) == 0 then return end
  for _, h in ipairs(redis.call('SMEMBERS', held)) do
    if h ~= TASK and redis.call('SISMEMBER', registered, h) == 0 then
      redis.call('RPUSH', WAKE_PREFIX .. h, '1')
      redis.call('EXPIRE', WAKE_PREFIX .. h, TTL_S)
    end
  end
end

if redis.call('EXISTS', CANCELLED_KEY) == 1 then return {CANCELLED} end
mark_done(DONE_KEY, DONE_CSV, TTL_S)
local out = {}
for i = 1, N do
  local registered, claim, held = dependent_keys(i)
  local member = redis.call('SISMEMBER', registered, TASK)
  local registered_count = redis.call('SCARD', registered) + 1 - member
  if WITHHOLD and registered_count < needed(i) then
    out[i] = hold(registered, held, registered_count, needed(i))
  else
    if member == 0 then
      register(registered)
      wake_holders(registered, held)
    end
    out[i] = claim_if_complete(claim, registered_count, needed(i), delegate_of(i))
  end
end
return out
"""
)


def register_call(
    *,
    done_key: str,
    cancelled_key: str,
    dependents: Sequence[tuple[str, str, str, int, str]],
    task: int,
    owner: str,
    ttl_s: int,
    withhold: bool,
    done: Sequence[int],
    wake_prefix: str,
) -> tuple[list, list]:
    """(KEYS, ARGV) of the register script; ``dependents``: (registered key, claim key, held key,
    dependency count, delegate owner) per dependent."""
    keys = [done_key, cancelled_key]
    for registered, claim, held, _, _ in dependents:
        keys += [registered, claim, held]
    args = [task, owner, ttl_s, "1" if withhold else "0", ",".join(map(str, done)), wake_prefix]
    args += [count for *_, count, _ in dependents]
    args += [delegate for *_, delegate in dependents]
    return keys, args


def parse_statuses(reply: Sequence) -> list[Status] | None:
    """The register script's answer per dependent; None when the job was cancelled."""
    if reply and int(reply[0]) == Status.CANCELLED:
        return None
    return [Status(int(s)) for s in reply]


# --- lease: KEYS = lease, running set, cancel flag, attempts; ARGV = delivery, ttl_ms, owner, ttl_s -------
# Answers {state, attempt}: a delivery that takes the lease fresh is attempt 1, 2, ... of its invocation
# (a retry takes over an expired lease); a renewal answers attempt 0.
LEASE_SCRIPT = (
    lua_constants(LeaseState)
    + """
local LEASE_KEY, RUNNING_KEY, CANCELLED_KEY, ATTEMPTS_KEY = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local DELIVERY, TTL_MS, OWNER, TTL_S = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', CANCELLED_KEY) == 1 then return {CANCELLED, 0} end
local current = redis.call('GET', LEASE_KEY)
if not current then
  redis.call('SET', LEASE_KEY, DELIVERY, 'PX', TTL_MS)
  redis.call('SADD', RUNNING_KEY, OWNER)
  redis.call('EXPIRE', RUNNING_KEY, TTL_S)
  local attempt = redis.call('INCR', ATTEMPTS_KEY)
  redis.call('EXPIRE', ATTEMPTS_KEY, TTL_S)
  return {OK, attempt}
end
if current == DONE then return {DONE, 0} end
if current == DELIVERY then
  redis.call('PEXPIRE', LEASE_KEY, TTL_MS)
  return {OK, 0}
end
return {HELD, 0}
"""
)


# --- stats: KEYS = stats, timings, done, lease, running, cancel flag --------------------------------
# ARGV = ttl_s, counters JSON, timings JSON, done_csv, finished ('1'/'0'), owner. Answers 0 if cancelled.
STATS_SCRIPT = (
    lua_constants(LeaseState)
    + MARK_DONE
    + """
local STATS_KEY, TIMINGS_KEY, DONE_KEY, LEASE_KEY, RUNNING_KEY = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local CANCELLED_KEY = KEYS[6]
local TTL_S, COUNTERS, TIMINGS, DONE_CSV = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local FINISHED, OWNER = ARGV[5] == '1', ARGV[6]
if redis.call('EXISTS', CANCELLED_KEY) == 1 then return 0 end
for name, value in pairs(cjson.decode(COUNTERS)) do redis.call('HINCRBY', STATS_KEY, name, value) end
redis.call('EXPIRE', STATS_KEY, TTL_S)
if TIMINGS ~= '' then
  redis.call('RPUSH', TIMINGS_KEY, TIMINGS)
  redis.call('EXPIRE', TIMINGS_KEY, TTL_S)
end
mark_done(DONE_KEY, DONE_CSV, TTL_S)
if FINISHED then
  redis.call('SET', LEASE_KEY, DONE, 'EX', TTL_S)
  redis.call('SREM', RUNNING_KEY, OWNER)
end
return 1
"""
)

# --- result: KEYS = result, done, cancel flag; ARGV = value, ttl_s, done_csv, channel, announcement --
# The first value stored wins (a retry re-uses it). Answers 0 if cancelled, 1 if stored, 2 if a value
# was there already.
RESULT_SCRIPT = (
    MARK_DONE
    + """
local RESULT_KEY, DONE_KEY, CANCELLED_KEY = KEYS[1], KEYS[2], KEYS[3]
local VALUE, TTL_S, DONE_CSV, CHANNEL, ANNOUNCEMENT = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', CANCELLED_KEY) == 1 then return 0 end
local stored = redis.call('SET', RESULT_KEY, VALUE, 'NX', 'EX', TTL_S)
mark_done(DONE_KEY, DONE_CSV, TTL_S)
redis.call('PUBLISH', CHANNEL, ANNOUNCEMENT)
if stored then return 1 end
return 2
"""
)

# --- error: KEYS = error, cancel flag, done; ARGV = record, ttl_s, done_csv, channel, announcement ---
# The first error of a job is kept, and it ends the job (sets the cancel flag). Answers 0 if cancelled.
ERROR_SCRIPT = (
    MARK_DONE
    + """
local ERROR_KEY, CANCELLED_KEY, DONE_KEY = KEYS[1], KEYS[2], KEYS[3]
local RECORD, TTL_S, DONE_CSV, CHANNEL, ANNOUNCEMENT = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', CANCELLED_KEY) == 1 then return 0 end
redis.call('SET', ERROR_KEY, RECORD, 'NX', 'EX', TTL_S)
redis.call('SET', CANCELLED_KEY, 1, 'EX', TTL_S)
mark_done(DONE_KEY, DONE_CSV, TTL_S)
redis.call('PUBLISH', CHANNEL, ANNOUNCEMENT)
return 1
"""
)
