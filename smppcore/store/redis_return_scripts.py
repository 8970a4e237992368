"""The Lua scripts of the Redis store's return path: receipts, replies, delivery queues.

Owns the scripts of the return path's records: making MT messages final together with the
receipt their client gets (``FINALISE_MT``), segment states, the receipt look-up through the
id maps, receipts waiting for their id map (pending receipts), parts of long replies, and the
per-account delivery queue with node-owned leases.

Each script starts with the shared library :data:`smppcore.store.redis_scripts.LIB`, which
also holds the Lua helpers for these records (``dlv_put``, ``drop_dlv``, ``drop_rp``,
``drop_reply``, ``drop_pending``: purge and erase drop the same records), so
:func:`smppcore.store.redis_scripts.multi` makes a batch variant of any of them. The
conventions (key prefix in ``ARGV[1]``, numbers as Python formatted them) are described in
:mod:`smppcore.store.redis_scripts`.
"""

from __future__ import annotations

from typing import Final

from smppcore.store.redis_scripts import LIB, lease_script

# --- receipts -----------------------------------------------------------------------------
# ARGV: P, then per entry: id, state, at, error_code ('0' = keep), has_receipt ('1'/'0'),
# then (when it has one) the receipt's dlv_put arguments. Returns one result per entry:
# 0 finalised (receipt queued), 1 already final, 2 missing.
FINALISE_MT: Final = (
    LIB
    + r"""
local out = {}
local i = 2
while i <= #ARGV do
  local id, state, at, err, has = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  i = i + 5
  local key = P .. 'mt:' .. id
  local f = redis.call('HMGET', key, 'connector', 'account', '_qm', 'state')
  local result = 2
  if f[1] then
    result = 1
    if not FINAL[f[4]] then
      result = 0
      mt_unqueue(id, f)
      mt_set_state(key, id, state, at, '1')
      if err ~= '0' then redis.call('HSET', key, 'error_code', err) end
      mt_valindex(key, id)
    end
  end
  if has == '1' then
    if result == 0 then
      i = dlv_put(ARGV, i)
    else
      i = i + 10 + 2 * tonumber(ARGV[i + 9])
    end
  end
  out[#out + 1] = result
end
return out
"""
)

# ARGV: P, id, segment, state. Returns {repeated (0/1), flat HGETALL of the segments}; a
# segment already recorded keeps its state.
RECORD_SEGMENT: Final = (
    LIB
    + r"""
local id = ARGV[2]
if redis.call('EXISTS', P .. 'mt:' .. id) == 0 then return {0, {}} end
local added = redis.call('HSETNX', P .. 'mtseg:' .. id, ARGV[3], ARGV[4])
return {1 - added, redis.call('HGETALL', P .. 'mtseg:' .. id)}
"""
)

# ARGV: P, connector, candidates (best first). Returns false, or {id map, message,
# segments}, each packed, for the first candidate that has a map whose message exists.
MATCH_RECEIPT: Final = (
    LIB
    + r"""
for k = 3, #ARGV do
  local map = P .. 'idmap:' .. ARGV[2] .. ':' .. ARGV[k]
  local mid = redis.call('HGET', map, 'message_id')
  if mid and redis.call('EXISTS', P .. 'mt:' .. mid) == 1 then
    return {packed(redis.call('HGETALL', map)), packed(redis.call('HGETALL', P .. 'mt:' .. mid)),
            packed(redis.call('HGETALL', P .. 'mtseg:' .. mid))}
  end
end
return false
"""
)

# --- receipts waiting for their id map ----------------------------------------------------
# ARGV: P, then per receipt: id, next_try_at, expires_at, unmatched ('1'/'0'), nfields, pairs
HOLD_RECEIPTS: Final = (
    LIB
    + r"""
local i = 2
while i <= #ARGV do
  local id, nxt, expires, gone, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
    tonumber(ARGV[i + 4])
  local key = P .. 'pend:' .. id
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(ARGV, i + 5, i + 4 + 2 * n))
  if gone == '1' then redis.call('ZREM', P .. 'pendq', id)
  else redis.call('ZADD', P .. 'pendq', nxt, id) end
  if positive(expires) then redis.call('ZADD', P .. 'exp:pend', expires, id)
  else redis.call('ZREM', P .. 'exp:pend', id) end
  i = i + 5 + 2 * n
end
return 1
"""
)

# ARGV: P, now, limit. Returns the packed records of the due pending receipts.
DUE_PENDING: Final = (
    LIB
    + r"""
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'pendq', '-inf', ARGV[2], 'LIMIT', 0,
                               tonumber(ARGV[3]))) do
  local flat = redis.call('HGETALL', P .. 'pend:' .. id)
  if #flat > 0 then out[#out + 1] = packed(flat) else redis.call('ZREM', P .. 'pendq', id) end
end
return out
"""
)

# ARGV: P, ids
DROP_PENDING: Final = (
    LIB
    + r"""
local n = 0
for k = 2, #ARGV do n = n + drop_pending(ARGV[k]) end
return n
"""
)

# --- parts of long replies ----------------------------------------------------------------
# ARGV: P, then per part: message key, seq, idx, expires_at, nfields, pairs
PUT_REPLY_PARTS: Final = (
    LIB
    + r"""
local i = 2
while i <= #ARGV do
  local mk, seq, idx, expires, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
    tonumber(ARGV[i + 4])
  local key = P .. 'rp:' .. mk .. ':' .. seq
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, unpack(ARGV, i + 5, i + 4 + 2 * n))
    index(key, idx)
    redis.call('SADD', P .. 'rpm:' .. mk, key)
    redis.call('ZADD', P .. 'rpq', redis.call('INCR', P .. 'rpseq'), key)
    if positive(expires) then redis.call('ZADD', P .. 'exp:rp', expires, key) end
  end
  i = i + 5 + 2 * n
end
return 1
"""
)

# ARGV: P, limit. Returns the packed parts, oldest first.
REPLY_PARTS: Final = (
    LIB
    + r"""
local out = {}
for _, key in ipairs(redis.call('ZRANGE', P .. 'rpq', 0, tonumber(ARGV[2]) - 1)) do
  local flat = redis.call('HGETALL', key)
  if #flat > 0 then out[#out + 1] = packed(flat) else redis.call('ZREM', P .. 'rpq', key) end
end
return out
"""
)

# ARGV: P, message keys
DROP_REPLY_PARTS: Final = LIB + "\ndrop_reply(ARGV, 2, #ARGV - 1)\nreturn 1\n"

# --- delivery queues ----------------------------------------------------------------------
# ARGV: P, the number k of reply message keys whose parts go, those k keys, then per item
# the arguments of dlv_put
ENQUEUE_DELIVERY: Final = (
    LIB
    + r"""
local k = tonumber(ARGV[2])
local i = 3 + k
while i <= #ARGV do i = dlv_put(ARGV, i) end
drop_reply(ARGV, 3, k)
return 1
"""
)

# ARGV: P, owner (account), limit, now, lease_until, the node id the lease goes to
# ('' for none)
LEASE_DELIVERY: Final = lease_script("dlv:", "dlvs:", "dlvq:", "dlvl:", mt=False)

# ARGV: P, id
ACK_DELIVERY: Final = LIB + "\nreturn drop_dlv(ARGV[2])\n"

# ARGV: P, id, retry_at
NACK_DELIVERY: Final = (
    LIB
    + r"""
local id, retry = ARGV[2], ARGV[3]
local key = P .. 'dlv:' .. id
local f = redis.call('HMGET', key, 'account', '_qm', 'lease_owner')
if not f[1] then return 0 end
redis.call('ZREM', P .. 'dlvl:' .. f[1], id)
if f[2] then redis.call('ZREM', P .. 'dlvq:' .. f[1], f[2]) end
if f[3] and f[3] ~= '' then redis.call('SREM', P .. 'dlvo:' .. f[3], id) end
redis.call('HSET', key, 'not_before', retry, 'lease_until', '0', 'lease_owner', '')
redis.call('ZADD', P .. 'dlvs:' .. f[1], retry, id)
return 1
"""
)

# ARGV: P, owner. Frees every item still leased to owner (ready at once); returns how many.
RELEASE_DELIVERIES: Final = (
    LIB
    + r"""
local set = P .. 'dlvo:' .. ARGV[2]
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', set)) do
  local key = P .. 'dlv:' .. id
  local f = redis.call('HMGET', key, 'account', '_qm', 'lease_owner')
  if f[1] and f[3] == ARGV[2] then
    redis.call('ZREM', P .. 'dlvl:' .. f[1], id)
    if f[2] then redis.call('ZREM', P .. 'dlvq:' .. f[1], f[2]) end
    redis.call('HSET', key, 'lease_until', '0', 'lease_owner', '')
    redis.call('ZADD', P .. 'dlvs:' .. f[1], 0, id)
    n = n + 1
  end
end
redis.call('DEL', set)
return n
"""
)
