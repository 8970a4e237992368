"""The Lua scripts of the Redis store: every operation two daemons could race on.

Owns the library every script starts with (:data:`LIB`), the lease script builder
(:func:`lease_script`), the scripts of the MT queue, id maps, conversations, suppression,
purge and erase, and :func:`multi`, the batch variant of any script. The scripts of the
return path's records (receipts, pending receipts, reply parts, the delivery queue) are in
:mod:`smppcore.store.redis_return_scripts`.

Redis runs a script atomically, so a lease, an ack, a cancel or an erase sees and leaves a
consistent state without WATCH/retry loops. Scripts take the key prefix as ``ARGV[1]`` and
build record keys from it (the key layout is described in :mod:`smppcore.store.redis_codec`);
they therefore need one Redis server (or a primary with replicas), not Redis Cluster.

Numbers that end up in a hash or a score are passed as the strings Python formatted
(``repr(float)``); Lua's own number formatting keeps only 14 digits, so a script never writes
a number it computed, except counters (``HINCRBY``/``INCR``).
"""

from __future__ import annotations

from typing import Final

from smppcore.store.base import MtState

#: Entries a lease call moves from the scheduled/leased sets to the ready queue at most.
#: Beyond that, priority order holds among what has been moved (the oldest due first).
MOVE_PER_LEASE: Final = 10_000

#: Shared helpers, prepended to every script (of this module and of redis_return_scripts).
LIB: Final = r"""
local P = ARGV[1]
local QUEUED, LEASED = '100', '101'
local FINAL = {FINAL_STATES}

local function unindex(key)
  local idx = redis.call('HGET', key, '_idx')
  if idx then
    for h in string.gmatch(idx, '%S+') do redis.call('SREM', P .. 'idx:' .. h, key) end
  end
end

local function index(key, idx)
  if idx ~= '' then
    redis.call('HSET', key, '_idx', idx)
    for h in string.gmatch(idx, '%S+') do redis.call('SADD', P .. 'idx:' .. h, key) end
  end
end

-- the index list of the MT message a record refers to (id maps, receipts)
local function linked_idx(message_id)
  if message_id == '' then return '' end
  local idx = redis.call('HGET', P .. 'mt:' .. message_id, '_idx')
  if idx then return idx end
  return ''
end

local function positive(s)
  return s and s ~= '' and tonumber(s) > 0
end

-- f = {connector, account, _qm}: take an MT id out of every queue stage
local function mt_unqueue(id, f)
  redis.call('ZREM', P .. 'mts:' .. f[1], id)
  redis.call('ZREM', P .. 'mtl:' .. f[1], id)
  if f[3] then redis.call('ZREM', P .. 'mtq:' .. f[1], f[3]) end
  redis.call('SREM', P .. 'mtacct:' .. f[2], id)
end

-- put an MT id where its (non-final) state says it belongs
local function mt_place(key, id, f, state)
  if state == QUEUED then
    redis.call('ZADD', P .. 'mts:' .. f[1], redis.call('HGET', key, 'not_before'), id)
    redis.call('SADD', P .. 'mtacct:' .. f[2], id)
  elseif state == LEASED then
    redis.call('ZADD', P .. 'mtl:' .. f[1], redis.call('HGET', key, 'lease_until'), id)
    redis.call('SADD', P .. 'mtacct:' .. f[2], id)
  end
end

-- keep val:mt right: when a message still holding text must lose it (validity/retention)
local function mt_valindex(key, id)
  local v = redis.call('HMGET', key, 'validity_until', 'expires_at')
  local best = nil
  for _, s in ipairs(v) do
    if positive(s) and (best == nil or tonumber(s) < tonumber(best)) then best = s end
  end
  if best and redis.call('HSTRLEN', key, 'payload') > 0 then
    redis.call('ZADD', P .. 'val:mt', best, id)
  else
    redis.call('ZREM', P .. 'val:mt', id)
  end
end

local function mt_set_state(key, id, state, now, final)
  if final == '1' then
    redis.call('HSET', key, 'state', state, 'lease_until', '0', 'final_at', now, 'payload', '')
    redis.call('ZREM', P .. 'val:mt', id)
    local expires = redis.call('HGET', key, 'expires_at')
    if positive(expires) then redis.call('ZADD', P .. 'exp:mt', expires, id) end
  else
    redis.call('HSET', key, 'state', state, 'lease_until', '0')
    redis.call('ZREM', P .. 'exp:mt', id)
  end
end

local function drop_mt(id)
  local key = P .. 'mt:' .. id
  local f = redis.call('HMGET', key, 'connector', 'account', '_qm')
  if not f[1] then return 0 end
  mt_unqueue(id, f)
  redis.call('ZREM', P .. 'exp:mt', id)
  redis.call('ZREM', P .. 'val:mt', id)
  unindex(key)
  redis.call('DEL', key, P .. 'mtseg:' .. id)
  return 1
end

local function drop_dlv(id)
  local key = P .. 'dlv:' .. id
  local f = redis.call('HMGET', key, 'account', '_qm', 'lease_owner')
  if not f[1] then return 0 end
  redis.call('ZREM', P .. 'dlvs:' .. f[1], id)
  redis.call('ZREM', P .. 'dlvl:' .. f[1], id)
  if f[2] then redis.call('ZREM', P .. 'dlvq:' .. f[1], f[2]) end
  if f[3] and f[3] ~= '' then redis.call('SREM', P .. 'dlvo:' .. f[3], id) end
  redis.call('ZREM', P .. 'exp:dlv', id)
  unindex(key)
  redis.call('DEL', key)
  return 1
end

-- queue one delivery item from ARGV[i..]: id, account, ready_at, qm_head, expires, idx,
-- message_id, lease_owner, lease_until, nfields, pairs. An item with an owner goes in leased
-- to it. Returns the index after the item.
local function dlv_put(A, i)
  local id, account, ready_at, qm_head = A[i], A[i + 1], A[i + 2], A[i + 3]
  local expires, idx, message_id = A[i + 4], A[i + 5], A[i + 6]
  local owner, untl, n = A[i + 7], A[i + 8], tonumber(A[i + 9])
  local key = P .. 'dlv:' .. id
  if redis.call('EXISTS', key) == 0 then
    local seq = redis.call('INCR', P .. 'dlvseq')
    redis.call('HSET', key, unpack(A, i + 10, i + 9 + 2 * n))
    redis.call('HSET', key, '_qm', qm_head .. string.format('%012d', seq) .. '|' .. id)
    local link = linked_idx(message_id)
    if link ~= '' then idx = idx .. ' ' .. link end
    index(key, idx)
    if owner ~= '' then
      redis.call('ZADD', P .. 'dlvl:' .. account, untl, id)
      redis.call('SADD', P .. 'dlvo:' .. owner, id)
    else
      redis.call('ZADD', P .. 'dlvs:' .. account, ready_at, id)
    end
    if positive(expires) then redis.call('ZADD', P .. 'exp:dlv', expires, id) end
  end
  return i + 10 + 2 * n
end

local function drop_rp(key)
  local f = redis.call('HMGET', key, 'message_key')
  if not f[1] then return 0 end
  redis.call('SREM', P .. 'rpm:' .. f[1], key)
  redis.call('ZREM', P .. 'rpq', key)
  redis.call('ZREM', P .. 'exp:rp', key)
  unindex(key)
  redis.call('DEL', key)
  return 1
end

-- every part of the replies named by A[i .. i + n - 1] (message keys)
local function drop_reply(A, i, n)
  for k = i, i + n - 1 do
    local set = P .. 'rpm:' .. A[k]
    for _, key in ipairs(redis.call('SMEMBERS', set)) do drop_rp(key) end
    redis.call('DEL', set)
  end
end

local function drop_pending(id)
  redis.call('ZREM', P .. 'pendq', id)
  redis.call('ZREM', P .. 'exp:pend', id)
  return redis.call('DEL', P .. 'pend:' .. id)
end

local function drop_plain(key, expkey)
  redis.call('ZREM', expkey, key)
  if redis.call('EXISTS', key) == 0 then return 0 end
  unindex(key)
  redis.call('DEL', key)
  return 1
end

-- a flat HGETALL reply as one string, '<len>,<len>,...;' then the items back to back: one
-- bulk string to parse instead of sixty (see redis_codec.unpack_pairs)
local function packed(flat)
  local lens = {}
  for i, item in ipairs(flat) do lens[i] = #item end
  return table.concat(lens, ',') .. ';' .. table.concat(flat)
end

local function starts(s, head)
  return string.sub(s, 1, #head) == head
end
""".replace(
    "{FINAL_STATES}",
    "{" + ", ".join(f"['{int(s)}'] = true" for s in MtState if s.is_final) + "}",
)

# ARGV: P, then per message: id, connector, account, qm_head, idx, nfields, f1, v1, ...,
# nsegments, segment, state, ...
ENQUEUE_MT: Final = (
    LIB
    + r"""
local i = 2
while i <= #ARGV do
  local id, qm_head, idx, n = ARGV[i], ARGV[i + 3], ARGV[i + 4], tonumber(ARGV[i + 5])
  local f = {ARGV[i + 1], ARGV[i + 2], nil}
  local nseg = tonumber(ARGV[i + 6 + 2 * n])
  local key = P .. 'mt:' .. id
  if redis.call('EXISTS', key) == 0 then
    local seq = redis.call('INCR', P .. 'mtseq')
    f[3] = qm_head .. string.format('%012d', seq) .. '|' .. id
    redis.call('HSET', key, unpack(ARGV, i + 6, i + 5 + 2 * n))
    redis.call('HSET', key, '_qm', f[3])
    if nseg > 0 then
      redis.call('HSET', P .. 'mtseg:' .. id, unpack(ARGV, i + 7 + 2 * n, i + 6 + 2 * n + 2 * nseg))
    end
    index(key, idx)
    local state = redis.call('HGET', key, 'state')
    mt_place(key, id, f, state)
    if FINAL[state] then
      local expires = redis.call('HGET', key, 'expires_at')
      if positive(expires) then redis.call('ZADD', P .. 'exp:mt', expires, id) end
    end
    mt_valindex(key, id)
  end
  i = i + 7 + 2 * n + 2 * nseg
end
return 1
"""
)


def lease_script(record: str, sched: str, ready: str, leases: str, *, mt: bool) -> str:
    """The lease script of one queue: MT messages (``mt``) or delivery items, whose records,
    scheduled, ready and leased sets have the given key heads."""
    move = MOVE_PER_LEASE
    check = "local ok = (st == QUEUED or st == LEASED)" if mt else "local ok = true"
    state_get = "local st = redis.call('HGET', key, 'state')" if mt else "local st = nil"
    set_leased = (
        "redis.call('HSET', key, 'state', LEASED)"
        if mt
        else "local was = redis.call('HGET', key, 'lease_owner')\n"
        "      if was and was ~= '' then redis.call('SREM', P .. 'dlvo:' .. was, id) end\n"
        "      redis.call('HSET', key, 'lease_owner', ARGV[6])\n"
        "      if ARGV[6] ~= '' then redis.call('SADD', P .. 'dlvo:' .. ARGV[6], id) end"
    )
    # A delivery item's attempts count its leases; an MT message's count failed submits
    # (NACK_MT), a lease alone is not an attempt.
    count_attempt = "" if mt else "redis.call('HINCRBY', key, 'attempts', 1)"
    result = (
        "{packed(redis.call('HGETALL', key)), packed(redis.call('HGETALL', P .. 'mtseg:' .. id))}"
        if mt
        else "{packed(redis.call('HGETALL', key))}"
    )
    return (
        LIB
        + f"""
local owner, limit, now, untl = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local S, Q, L = P .. '{sched}' .. owner, P .. '{ready}' .. owner, P .. '{leases}' .. owner
local function requeue(id)
  local qm = redis.call('HGET', P .. '{record}' .. id, '_qm')
  if qm then redis.call('ZADD', Q, 0, qm) end
end
-- scheduled entries whose time has come, and leases that expired (their holder died or
-- stalled), join the ready queue in their original order; at most {move} of each per call,
-- so a huge backlog falling due at once cannot block the server for long
for _, id in ipairs(redis.call('ZRANGEBYSCORE', S, '-inf', now, 'LIMIT', 0, {move})) do
  requeue(id)
  redis.call('ZREM', S, id)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', L, '-inf', now, 'LIMIT', 0, {move})) do
  requeue(id)
  redis.call('ZREM', L, id)
end
local out = {{}}
while #out < limit do
  local batch = redis.call('ZRANGE', Q, 0, limit - #out - 1)
  if #batch == 0 then break end
  for _, qm in ipairs(batch) do
    redis.call('ZREM', Q, qm)
    local id = string.match(qm, '^[^|]*|[^|]*|[^|]*|(.*)$')
    local key = P .. '{record}' .. id
    {state_get}
    {check}
    if ok and redis.call('EXISTS', key) == 1 then
      {set_leased}
      redis.call('HSET', key, 'lease_until', untl)
      {count_attempt}
      redis.call('ZADD', L, untl, id)
      out[#out + 1] = {result}
    end
  end
end
return out
"""
    )


# ARGV: P, owner (connector), limit, now, lease_until
LEASE_MT: Final = lease_script("mt:", "mts:", "mtq:", "mtl:", mt=True)

# ARGV: P, id (sets a LEASED message ENROUTE; anything else is left alone)
ACK_MT: Final = (
    LIB
    + r"""
local id = ARGV[2]
local key = P .. 'mt:' .. id
local f = redis.call('HMGET', key, 'connector', 'account', '_qm', 'state')
if not f[1] or f[4] ~= LEASED then return 0 end
mt_unqueue(id, f)
mt_set_state(key, id, '1', '0', '0')
return 1
"""
)

# ARGV: P, id, retry_at, error_code, attempted ('1' or '0': added to attempts)
NACK_MT: Final = (
    LIB
    + r"""
local id, retry, err = ARGV[2], ARGV[3], ARGV[4]
local key = P .. 'mt:' .. id
local f = redis.call('HMGET', key, 'connector', 'account', '_qm', 'state')
if not f[1] or f[4] ~= LEASED then return 0 end
mt_unqueue(id, f)
redis.call('HSET', key, 'state', QUEUED, 'not_before', retry, 'lease_until', '0', 'error_code', err)
if ARGV[5] == '1' then redis.call('HINCRBY', key, 'attempts', 1) end
mt_place(key, id, f, QUEUED)
return 1
"""
)

# ARGV: P, id, account, now
CANCEL_MT: Final = (
    LIB
    + r"""
local id, account, now = ARGV[2], ARGV[3], ARGV[4]
local key = P .. 'mt:' .. id
local f = redis.call('HMGET', key, 'connector', 'account', '_qm', 'state')
if not f[1] or f[2] ~= account or f[4] ~= QUEUED then return 0 end
mt_unqueue(id, f)
mt_set_state(key, id, '4', now, '1')
return 1
"""
)

# ARGV: P, id, account, new not_before ('' = unchanged), then field pairs
REPLACE_MT: Final = (
    LIB
    + r"""
local id, account, nb = ARGV[2], ARGV[3], ARGV[4]
local key = P .. 'mt:' .. id
local f = redis.call('HMGET', key, 'connector', 'account', '_qm', 'state')
if not f[1] or f[2] ~= account or f[4] ~= QUEUED then return 0 end
if #ARGV > 4 then redis.call('HSET', key, unpack(ARGV, 5, #ARGV)) end
if nb ~= '' then
  mt_unqueue(id, f)
  mt_place(key, id, f, QUEUED)
end
mt_valindex(key, id)
return 1
"""
)

# ARGV: P, then per entry: key suffix, message_id, expires_at, pexpireat ms ('0' = none),
# nfields, pairs
_PUT_MAPS_FROM_I = r"""
while i <= #ARGV do
  local key, mid, expires, pexp, n = P .. 'idmap:' .. ARGV[i], ARGV[i + 1], ARGV[i + 2],
    ARGV[i + 3], tonumber(ARGV[i + 4])
  unindex(key)
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(ARGV, i + 5, i + 4 + 2 * n))
  index(key, linked_idx(mid))
  if positive(expires) then redis.call('ZADD', P .. 'exp:idmap', expires, key)
  else redis.call('ZREM', P .. 'exp:idmap', key) end
  if pexp ~= '0' then redis.call('PEXPIREAT', key, pexp) end
  i = i + 5 + 2 * n
end
"""

PUT_ID_MAPS: Final = LIB + "local i = 2\n" + _PUT_MAPS_FROM_I + "return 1\n"

# ARGV: P, message id, part (its number), then one map entry as for PUT_ID_MAPS. The map is
# stored; a message still LEASED records the part as its parts_accepted.
ACCEPT_PART: Final = (
    LIB
    + r"""
local key = P .. 'mt:' .. ARGV[2]
if redis.call('HGET', key, 'state') == LEASED then
  redis.call('HSET', key, 'parts_accepted', ARGV[3])
end
local i = 4
"""
    + _PUT_MAPS_FROM_I
    + "return 1\n"
)

# ARGV: P, then per entry: key suffix, idx, expires_at, pexpireat ms ('0' = none), nfields, pairs
PUT_CONVERSATIONS: Final = (
    LIB
    + r"""
local i = 2
while i <= #ARGV do
  local key, idx, expires, pexp, n = P .. 'conv:' .. ARGV[i], ARGV[i + 1], ARGV[i + 2],
    ARGV[i + 3], tonumber(ARGV[i + 4])
  unindex(key)
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(ARGV, i + 5, i + 4 + 2 * n))
  index(key, idx)
  if positive(expires) then redis.call('ZADD', P .. 'exp:conv', expires, key)
  else redis.call('ZREM', P .. 'exp:conv', key) end
  if pexp ~= '0' then redis.call('PEXPIREAT', key, pexp) end
  i = i + 5 + 2 * n
end
return 1
"""
)

# ARGV: P, then the suppression fields to look for; 1 if any exists (a read: batched with
# the concurrent calls of other submits into one round trip, see redis_batch)
IS_SUPPRESSED: Final = (
    LIB
    + r"""
local v = redis.call('HMGET', P .. 'sup', unpack(ARGV, 2))
for _, x in ipairs(v) do if x then return 1 end end
return 0
"""
)

# ARGV: P, now, batch. Returns {mt, id_maps, conversations, delivery, payloads, pending
# receipts, reply parts, more}.
PURGE: Final = (
    LIB
    + r"""
local now, batch = ARGV[2], tonumber(ARGV[3])
local more = 0
local function due(zkey)
  local ids = redis.call('ZRANGEBYSCORE', zkey, '-inf', now, 'LIMIT', 0, batch)
  if #ids == batch then more = 1 end
  return ids
end
local n_mt, n_map, n_conv, n_dlv, n_pay, n_pend, n_rp = 0, 0, 0, 0, 0, 0, 0
for _, id in ipairs(due(P .. 'exp:mt')) do
  if FINAL[redis.call('HGET', P .. 'mt:' .. id, 'state') or ''] then n_mt = n_mt + drop_mt(id) end
  redis.call('ZREM', P .. 'exp:mt', id)
end
for _, key in ipairs(due(P .. 'exp:idmap')) do n_map = n_map + drop_plain(key, P .. 'exp:idmap') end
for _, key in ipairs(due(P .. 'exp:conv')) do n_conv = n_conv + drop_plain(key, P .. 'exp:conv') end
for _, id in ipairs(due(P .. 'exp:dlv')) do
  n_dlv = n_dlv + drop_dlv(id)
  redis.call('ZREM', P .. 'exp:dlv', id)
end
for _, id in ipairs(due(P .. 'val:mt')) do
  local key = P .. 'mt:' .. id
  if redis.call('HSTRLEN', key, 'payload') > 0 then
    redis.call('HSET', key, 'payload', '')
    n_pay = n_pay + 1
  end
  redis.call('ZREM', P .. 'val:mt', id)
end
for _, id in ipairs(due(P .. 'exp:pend')) do n_pend = n_pend + drop_pending(id) end
for _, key in ipairs(due(P .. 'exp:rp')) do
  n_rp = n_rp + drop_rp(key)
  redis.call('ZREM', P .. 'exp:rp', key)
end
return {n_mt, n_map, n_conv, n_dlv, n_pay, n_pend, n_rp, more}
"""
)

# ARGV: P, number hash, batch. Returns {mt, id_maps, conversations, delivery, reply parts,
# remaining}.
ERASE: Final = (
    LIB
    + r"""
local ikey, batch = P .. 'idx:' .. ARGV[2], tonumber(ARGV[3])
local counts = {0, 0, 0, 0, 0}
local heads = {P .. 'mt:', P .. 'idmap:', P .. 'conv:', P .. 'dlv:', P .. 'rp:'}
for _, key in ipairs(redis.call('SRANDMEMBER', ikey, batch)) do
  local done = 0
  if starts(key, heads[1]) then
    done = drop_mt(string.sub(key, #heads[1] + 1))
    counts[1] = counts[1] + done
  elseif starts(key, heads[2]) then
    done = drop_plain(key, P .. 'exp:idmap')
    counts[2] = counts[2] + done
  elseif starts(key, heads[3]) then
    done = drop_plain(key, P .. 'exp:conv')
    counts[3] = counts[3] + done
  elseif starts(key, heads[4]) then
    done = drop_dlv(string.sub(key, #heads[4] + 1))
    counts[4] = counts[4] + done
  elseif starts(key, heads[5]) then
    done = drop_rp(key)
    counts[5] = counts[5] + done
  end
  redis.call('SREM', ikey, key)
end
counts[6] = redis.call('SCARD', ikey)
return counts
"""
)


_MULTI_LOOP: Final = r"""
local out = {}
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local a = {P}
  for k = 1, n do a[k + 1] = ARGV[i + k] end
  local r = body(a)
  if r == nil then r = false end
  out[#out + 1] = r
  i = i + n + 1
end
return out
"""


def multi(source: str) -> str:
    """The script that runs ``source`` once per call of a batch, in one ``EVALSHA``.

    ARGV: P, then per call its argument count and arguments (without P). Returns the replies
    in call order. The body sees its call's arguments as ``ARGV`` (a function parameter that
    shadows the global), so every script here and in
    :mod:`smppcore.store.redis_return_scripts` works unchanged."""
    assert source.startswith(LIB)
    return LIB + "local function body(ARGV)\n" + source[len(LIB) :] + "\nend\n" + _MULTI_LOOP
