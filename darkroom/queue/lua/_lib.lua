--[[
Darkroom queue: shared Lua prelude, prepended to every script.

Key schema (one queue = one hash tag, so every key of a queue lives in one Cluster slot).
KEYS[1] is the queue prefix P = "<ns>:{<queue>}:"; every key below is P .. suffix.
  conf               hash   queue settings: kind, xkey, xlimit, lease_ms, max_att, retention_ms,
                            max_payload, ikeys_s (space separated), paused, ca, events_max
  seq                string counter; seq16 = %016x of it orders equal deadlines by enqueue order
  fence              string counter of fencing tokens (one per lease granted)
  m:<id>             hash   a message: seq payload meta dl st att max ca ua va le tok err res x ix dg ft
                            (meta and ix are left out when empty; the id is in the key)
  pending            zset   every pending message; score deadline ms, member seqid = seq16 .. id
  delayed            zset   invisible messages; score visible_at ms
  running            zset   leased messages; score lease expiry ms
  completed|canceled|errored  zset  finished messages; score finish time ms (retention, query)
  ix:<c>             zset   simple queues: pending messages matching combo c (see below)
  xq:<c>:<x>         zset   exclusive queues: pending messages of exclusivity value x matching c
                            (c = "" for "all"), score deadline
  xr:<c>             zset   exclusive queues: values x that may run now and have pending messages
                            matching c; score = deadline of that head, member = seq16(head) .. x
  xc:<x>             set    combos c for which xq:<c>:<x> is non-empty
  xrun               hash   x -> number of running messages of value x
  events             stream one entry per state change, capped near conf.events_max
  counters           hash   event kind -> count since the queue was created (metrics read it)
  waiters            zset   clients whose last dequeue found nothing and who wait for a wake-up;
                            score = end of their wait (ms); cleared by the wake-up
  keys               set    suffixes of the keys no fixed name or set reaches: every ix:, xq:,
                            xr: and xc: key written (touch, at flush) and the hash of every
                            dropped message; delete_queue deletes them, sweep prunes the gone
Channel P .. "wake" is published when dequeueable work may have appeared and someone waits.
Every key a script touches is P .. one of the suffixes above (darkroom/queue/keys.py holds the
same table, QUEUE_KEYS; tests/queue/test_key_schema.py holds both to it), so one queue is one
hash tag: one Cluster slot.
Each script's ARGV is laid out by one dataclass of darkroom/queue/calls.py (its fields, in ARGV
order), which every caller uses; each script's header names the same fields.

A combo c names one subset of the queue's indexed metadata keys with values: the first 16 hex
digits of sha1("k1\0v1\0k2\0v2\0...") over keys in sorted order. A message is indexed under
every subset of the indexed keys it carries, so a dequeue with `where` over indexed keys pops
from exactly one sorted set: O(log n) per message returned, whatever it skips.
Time always comes from redis TIME; durations and instants are integer milliseconds.
]]

local P = KEYS[1]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fmt(n)
  return string.format('%d', n)
end

local function fail(code, detail)
  return redis.error_reply('DR_' .. code .. ' ' .. (detail or ''))
end

-- Errors raised mid-script after nothing was written; redis turns the table into an error reply.
local function abort(code, detail)
  error({err = 'DR_' .. code .. ' ' .. (detail or '')})
end

-- Whether this call's queue is exclusive (set by load_conf): its messages must name a value.
local loaded_conf_exclusive = false

local function load_conf()
  local raw = redis.call('HGETALL', P .. 'conf')
  if #raw == 0 then
    return nil
  end
  local c = {}
  for i = 1, #raw, 2 do
    c[raw[i]] = raw[i + 1]
  end
  c.exclusive = c.kind == 'exclusive'
  loaded_conf_exclusive = c.exclusive
  c.xlimit = tonumber(c.xlimit or '1')
  c.lease_ms = tonumber(c.lease_ms)
  c.max_att = tonumber(c.max_att)
  c.retention_ms = tonumber(c.retention_ms)
  c.max_payload = tonumber(c.max_payload)
  c.events_max = tonumber(c.events_max or '10000')
  c.ikeys = {}
  for k in string.gmatch(c.ikeys_s or '', '%S+') do
    c.ikeys[#c.ikeys + 1] = k
  end
  return c
end

-- Settings every script does arithmetic with; a conf that lacks one is refused before any write.
local CONF_NUMBERS = {'xlimit', 'lease_ms', 'max_att', 'retention_ms', 'max_payload', 'events_max'}

local function require_conf(queue_name)
  local c = load_conf()
  if not c then
    abort('QUEUE_NOT_FOUND', queue_name)
  end
  for _, f in ipairs(CONF_NUMBERS) do
    if not c[f] then
      abort('QUEUE_DAMAGED', 'queue ' .. queue_name .. ' has a damaged setting ' .. f)
    end
  end
  return c
end

-- All-or-nothing: Redis does not roll back a script that fails after its first write, so every
-- script validates and reads what can fail before it writes, and nothing after the first write
-- may raise. Lua's unpack fails past about 8,000 values, so a command over a list whose size
-- the caller chooses goes through call_chunked, CHUNK values per command.
local CHUNK = 1000  -- even: ZADD's score-member pairs are never split

local function call_chunked(cmd, key, values)
  for i = 1, #values, CHUNK do
    redis.call(cmd, key, unpack(values, i, math.min(i + CHUNK - 1, #values)))
  end
end

-- The registry of keys no fixed name reaches (`keys`): index keys come and go with the values and
-- combos of the messages, so each one written is named here (touch) and recorded once per call,
-- at flush; delete_queue then deletes a queue without scanning the keyspace. Names of keys that
-- emptied since are pruned by sweep (prune_keys).
local touched = {}
local touched_list = {}

local function touch(suffix)
  if not touched[suffix] then
    touched[suffix] = true
    touched_list[#touched_list + 1] = suffix
  end
end

-- Deferred writes. The sorted sets of pending, running and finished messages, the event stream and the
-- counters are written once per script call (flush) instead of once per message: fewer commands
-- to run and to append to the AOF. Last write per member wins, so order within a call is kept.
-- Every script calls flush(conf) before it reads those sets again or returns.
local DEFERRED = {pending = true, running = true, completed = true, canceled = true, errored = true}
local pending_z = {}
local pending_events = {}
local pending_event_order = {}

local function zset_put(name, member, score)
  local acc = pending_z[name]
  if not acc then
    acc = {}
    pending_z[name] = acc
  end
  acc[member] = score
end

local function zadd(name, score, member)
  if DEFERRED[name] then
    zset_put(name, member, score)
  else
    redis.call('ZADD', P .. name, score, member)
  end
end

local function zrem(name, member)
  if DEFERRED[name] then
    zset_put(name, member, false)
  else
    redis.call('ZREM', P .. name, member)
  end
end

-- One stream entry per (kind, resulting state) per call, listing the messages it moved.
local function event(conf, kind, id, st)
  local key = kind .. ' ' .. st
  local ids = pending_events[key]
  if not ids then
    ids = {}
    pending_events[key] = ids
    pending_event_order[#pending_event_order + 1] = key
  end
  ids[#ids + 1] = id
end

local function flush(conf)
  -- pcall: the registry serves delete_queue; a damaged one (not a set) must not fail a call whose
  -- state changes are written already
  for i = 1, #touched_list, CHUNK do
    redis.pcall('SADD', P .. 'keys', unpack(touched_list, i, math.min(i + CHUNK - 1, #touched_list)))
  end
  touched = {}
  touched_list = {}
  for name, acc in pairs(pending_z) do
    local adds, rems = {}, {}
    for member, score in pairs(acc) do
      if score then
        adds[#adds + 1] = score
        adds[#adds + 1] = member
      else
        rems[#rems + 1] = member
      end
    end
    call_chunked('ZREM', P .. name, rems)
    call_chunked('ZADD', P .. name, adds)
  end
  pending_z = {}
  for _, key in ipairs(pending_event_order) do
    local kind, st = string.match(key, '^(%S+) (%S+)$')
    local ids = pending_events[key]
    -- the stream and the counters describe the state, they are not it: a damaged stream or
    -- counter must not fail a call whose state changes are written already (pcall)
    redis.pcall('XADD', P .. 'events', 'MAXLEN', '~', fmt(conf.events_max), '*',
      'e', kind, 'st', st, 'n', #ids, 'ids', table.concat(ids, ' '))
    if type(redis.pcall('HINCRBY', P .. 'counters', kind, #ids)) == 'table' then
      redis.pcall('HSET', P .. 'counters', kind, #ids)  -- a garbled count restarts
    end
  end
  pending_events = {}
  pending_event_order = {}
end

-- Publish a wake-up only when a consumer is waiting: under load consumers are busy, and a
-- publish per message would wake every idle listener thread for nothing. A dequeue that finds
-- nothing registers its client in `waiters` in the same atomic step, so no wake-up is lost.
-- enqueue_lease holds its enqueue's wake-up (wake_held) until its lease is known: when the caller
-- leased every message it enqueued, nothing new is there for a waiter to find, and a wake-up
-- would only send an idle worker on an empty dequeue (one per step of a chain).
local wake_held, wake_owed = false, false
local function wake()
  if wake_held then
    wake_owed = true
    return
  end
  if redis.call('EXISTS', P .. 'waiters') == 1 then
    redis.call('DEL', P .. 'waiters')
    redis.call('PUBLISH', P .. 'wake', '1')
  end
end

-- combos ---------------------------------------------------------------------------------------
local function combo_of(pairs_sorted)
  if #pairs_sorted == 0 then
    return ''
  end
  local parts = {}
  for i = 1, #pairs_sorted do
    parts[#parts + 1] = pairs_sorted[i][1] .. '\0' .. pairs_sorted[i][2] .. '\0'
  end
  return string.sub(redis.sha1hex(table.concat(parts)), 1, 16)
end

-- Every non-empty subset of the indexed keys present in meta; returns combo ids (space separated).
local function combos_for(conf, meta)
  local present = {}
  local keys = {}
  for i = 1, #conf.ikeys do
    keys[#keys + 1] = conf.ikeys[i]
  end
  table.sort(keys)
  for i = 1, #keys do
    local v = meta[keys[i]]
    if v ~= nil then
      present[#present + 1] = {keys[i], v}
    end
  end
  local out = {}
  local n = #present
  for mask = 1, 2 ^ n - 1 do
    local subset = {}
    local m = mask
    for i = 1, n do
      if m % 2 == 1 then
        subset[#subset + 1] = present[i]
      end
      m = math.floor(m / 2)
    end
    out[#out + 1] = combo_of(subset)
  end
  return table.concat(out, ' ')
end

local function split(s)
  local out = {}
  for w in string.gmatch(s or '', '%S+') do
    out[#out + 1] = w
  end
  return out
end

-- Combo for a dequeue/query criteria given as flat k, v args starting at ARGV[from] (count pairs).
local function criteria_combo(conf, from, count, queue_name)
  if count == 0 then
    return ''
  end
  local indexed = {}
  for i = 1, #conf.ikeys do
    indexed[conf.ikeys[i]] = true
  end
  local pairs_list = {}
  for i = 0, count - 1 do
    local k = ARGV[from + 2 * i]
    local v = ARGV[from + 2 * i + 1]
    if not indexed[k] then
      abort('INVALID_CRITERIA', k .. ' ' .. queue_name .. ' ' .. (conf.ikeys_s or ''))
    end
    pairs_list[#pairs_list + 1] = {k, v}
  end
  table.sort(pairs_list, function(a, b) return a[1] < b[1] end)
  return combo_of(pairs_list)
end

-- exclusive ready sets ------------------------------------------------------------------------
local function xq_key(c, x)
  return P .. 'xq:' .. c .. ':' .. x
end

local function x_eligible(conf, x)
  local running = tonumber(redis.call('HGET', P .. 'xrun', x)) or 0
  return running < conf.xlimit
end

local function xq_add(conf, c, x, seqid, dl, eligible)
  local key = xq_key(c, x)
  local old = redis.call('ZRANGE', key, 0, 0)[1]
  redis.call('ZADD', key, dl, seqid)
  local new = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if new[1] ~= old then
    if old then
      redis.call('ZREM', P .. 'xr:' .. c, string.sub(old, 1, 16) .. x)
    end
    if eligible then
      redis.call('ZADD', P .. 'xr:' .. c, new[2], string.sub(new[1], 1, 16) .. x)
      touch('xr:' .. c)
    end
  end
  if not old then
    redis.call('SADD', P .. 'xc:' .. x, c)
    touch('xq:' .. c .. ':' .. x)
    touch('xc:' .. x)
  end
end

local function xq_remove(conf, c, x, seqid, eligible)
  local key = xq_key(c, x)
  local old = redis.call('ZRANGE', key, 0, 0)[1]
  redis.call('ZREM', key, seqid)
  if old == seqid then
    redis.call('ZREM', P .. 'xr:' .. c, string.sub(old, 1, 16) .. x)
    local new = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if new[1] then
      if eligible then
        redis.call('ZADD', P .. 'xr:' .. c, new[2], string.sub(new[1], 1, 16) .. x)
        touch('xr:' .. c)
      end
    else
      redis.call('SREM', P .. 'xc:' .. x, c)
    end
  end
end

-- Value x crossed its running limit: show or hide its heads in every ready set it appears in.
local function x_set_eligible(x, eligible)
  local combos = redis.call('SMEMBERS', P .. 'xc:' .. x)
  for i = 1, #combos do
    local c = combos[i]
    local head = redis.call('ZRANGE', xq_key(c, x), 0, 0, 'WITHSCORES')
    if head[1] then
      local member = string.sub(head[1], 1, 16) .. x
      if eligible then
        redis.call('ZADD', P .. 'xr:' .. c, head[2], member)
        touch('xr:' .. c)
      else
        redis.call('ZREM', P .. 'xr:' .. c, member)
      end
    end
  end
end

local function x_running_delta(conf, x, delta)
  local before = tonumber(redis.call('HGET', P .. 'xrun', x)) or 0
  local after = before + delta
  if after <= 0 then
    redis.call('HDEL', P .. 'xrun', x)
    after = 0
  else
    redis.call('HSET', P .. 'xrun', x, after)
  end
  local was = before < conf.xlimit
  local is = after < conf.xlimit
  if was ~= is then
    x_set_eligible(x, is)
  end
  return is
end

-- pending indexes (both kinds) ----------------------------------------------------------------
-- m: table with seq, dl, x, ix (combo list string)
local function ready_add(conf, m)
  zadd('pending', m.dl, m.seq)
  if conf.exclusive then
    local eligible = x_eligible(conf, m.x)
    xq_add(conf, '', m.x, m.seq, m.dl, eligible)
    for _, c in ipairs(split(m.ix)) do
      xq_add(conf, c, m.x, m.seq, m.dl, eligible)
    end
  else
    for _, c in ipairs(split(m.ix)) do
      redis.call('ZADD', P .. 'ix:' .. c, m.dl, m.seq)
      touch('ix:' .. c)
    end
  end
end

local function ready_remove(conf, m)
  zrem('pending', m.seq)
  if conf.exclusive then
    local eligible = x_eligible(conf, m.x)
    xq_remove(conf, '', m.x, m.seq, eligible)
    for _, c in ipairs(split(m.ix)) do
      xq_remove(conf, c, m.x, m.seq, eligible)
    end
  else
    for _, c in ipairs(split(m.ix)) do
      redis.call('ZREM', P .. 'ix:' .. c, m.seq)
    end
  end
end

-- messages ------------------------------------------------------------------------------------
local function id_of(seqid)
  return string.sub(seqid, 17)
end

local STATES = {pending = true, invisible = true, running = true, completed = true, canceled = true,
  errored = true}
local MFIELDS = {'seq', 'st', 'dl', 'x', 'ix', 'att', 'max', 'tok', 'le', 'va'}
local NM = #MFIELDS

-- A time field that may be unset: false when absent or emptied, nil when it is not a number.
local function optional_ms(v)
  if not v or v == '' then
    return false
  end
  return tonumber(v)
end

-- A combo list: space-separated 16-hex-digit combo ids (garbage would write to stray keys).
local function combo_list(v)
  if not v then
    return ''
  end
  if string.find(v, '^[0-9a-f ]*$') then
    return v
  end
  return nil
end

-- Loads the fields every transition needs, plus `extra` fields (a read mask) in the same HMGET.
-- Answers nil when the hash is missing or any of those fields is unusable (so no transition
-- ever does arithmetic on, or indexes by, a nil), and when `seqid` is given and the hash is not
-- that member's message any more (deleted and enqueued again under a new sequence number).
local function load_msg(id, extra, seqid)
  local names = MFIELDS
  if extra and #extra > 0 then
    names = {unpack(MFIELDS)}
    for i = 1, #extra do
      names[NM + i] = extra[i]
    end
  end
  local v = redis.call('HMGET', P .. 'm:' .. id, unpack(names))
  if not v[1] or id_of(v[1]) ~= id or string.len(v[1]) ~= 16 + string.len(id) then
    return nil
  end
  if seqid and v[1] ~= seqid then
    return nil
  end
  local m = {id = id}
  for i = 1, NM do
    m[MFIELDS[i]] = v[i]
  end
  m.ix = combo_list(v[5])
  m.le = optional_ms(m.le)
  m.va = optional_ms(m.va)
  m.dl = tonumber(m.dl)
  m.att = tonumber(m.att)
  m.max = tonumber(m.max)
  if not (STATES[m.st] and m.dl and m.att and m.max and m.ix and m.le ~= nil and m.va ~= nil) then
    return nil
  end
  if m.x and m.x == '' then
    m.x = false
  end
  if loaded_conf_exclusive and not m.x then
    return nil
  end
  if extra and #extra > 0 then
    m.extra = {}
    for i = 1, #extra do
      m.extra[i] = v[NM + i]
    end
  end
  return m
end

local function require_msg(id, queue_name)
  local m = load_msg(id)
  if not m then
    abort('MESSAGE_NOT_FOUND', id .. ' ' .. queue_name)
  end
  return m
end

-- Every exclusivity value's running count, recounted from the running set: a running member
-- whose message cannot say its value was dropped, and only a recount frees that value's slot.
local function recount_running(conf)
  flush(conf)
  local counts = {}
  local members = redis.call('ZRANGE', P .. 'running', 0, -1)
  for i = 1, #members do
    local h = redis.call('HMGET', P .. 'm:' .. id_of(members[i]), 'seq', 'x')
    local x = h[1] == members[i] and h[2]
    if x and x ~= '' then
      counts[x] = (counts[x] or 0) + 1
    end
  end
  local stored = redis.call('HGETALL', P .. 'xrun')
  for i = 1, #stored, 2 do
    local x = stored[i]
    local delta = (counts[x] or 0) - (tonumber(stored[i + 1]) or 0)
    counts[x] = nil
    if delta ~= 0 then
      x_running_delta(conf, x, delta)
    end
  end
  for x, n in pairs(counts) do
    x_running_delta(conf, x, n)
  end
end

-- A member of set `name` whose message is missing or unusable (evicted, garbled, or deleted and
-- enqueued again under a new sequence number): it leaves that set and every index where it can
-- still be found, an event 'dropped' names it, and the call carries on without it. The hash is
-- left as it is, for inspection. `x` and `c`: the exclusivity value and combo it was reached by.
-- A running member of an exclusive queue also holds a slot: the caller recounts them once
-- (recount_running) after its drops.
local function drop(conf, name, seqid, x, c)
  zrem(name, seqid)
  if name == 'pending' then
    local raw = redis.call('HMGET', P .. 'm:' .. id_of(seqid), 'seq', 'x', 'ix')
    local own = raw[1] == seqid  -- the hash is still this member's: its indexes name it
    if conf.exclusive then
      if not x and own and raw[2] and raw[2] ~= '' then
        x = raw[2]
      end
      if x then
        if c then
          xq_remove(conf, c, x, seqid, x_eligible(conf, x))
        end
        for _, combo in ipairs(redis.call('SMEMBERS', P .. 'xc:' .. x)) do
          xq_remove(conf, combo, x, seqid, x_eligible(conf, x))
        end
      end
    elseif own then
      for _, combo in ipairs(split(combo_list(raw[3]) or '')) do
        redis.call('ZREM', P .. 'ix:' .. combo, seqid)
      end
    end
  end
  touch('m:' .. id_of(seqid))  -- the hash stays, for inspection, but no set reaches it any more
  event(conf, 'dropped', id_of(seqid), 'gone')
end

-- pending -> running for a message already taken out of its indexes, under fencing token `tok`
-- until `le`; answers the values of the `names` fields as the lease reports them.
local function lease_msg(conf, m, tok, le, now, names)
  m.att = m.att + 1
  redis.call('HSET', P .. 'm:' .. m.id, 'st', 'running', 'att', m.att, 'tok', tok, 'le', le, 'ua', now)
  zadd('running', le, m.seq)
  event(conf, 'dequeued', m.id, 'running')
  local fresh = {st = 'running', att = m.att, tok = tok, le = le, ua = now, va = false}
  local values = {}
  for i = 1, #names do
    local v = fresh[names[i]]
    if v == nil then
      v = m.extra[i]
    end
    values[i] = v
  end
  return values
end

local TERMINAL = {completed = true, canceled = true, errored = true}

local function finish(conf, m, state, now, fields)
  zadd(state, now, m.seq)
  local args = {'HSET', P .. 'm:' .. m.id, 'st', state, 'ua', now, 'ft', now, 'le', ''}
  if fields then
    for i = 1, #fields do
      args[#args + 1] = fields[i]
    end
  end
  redis.call(unpack(args))
  m.st = state
end

-- running -> anything: drop the lease (its hash field is cleared by the next HSET) and the
-- exclusivity slot.
local function release(conf, m)
  zrem('running', m.seq)
  if conf.exclusive then
    x_running_delta(conf, m.x, -1)
  end
end

local function make_pending(conf, m, now, extra)
  local args = {'HSET', P .. 'm:' .. m.id, 'st', 'pending', 'ua', now, 'va', '', 'le', ''}
  if extra then
    for i = 1, #extra do
      args[#args + 1] = extra[i]
    end
  end
  redis.call(unpack(args))
  m.st = 'pending'
  ready_add(conf, m)
end

local function make_invisible(conf, m, now, visible_at, extra)
  local args = {'HSET', P .. 'm:' .. m.id, 'st', 'invisible', 'ua', now, 'va', visible_at, 'le', ''}
  if extra then
    for i = 1, #extra do
      args[#args + 1] = extra[i]
    end
  end
  redis.call(unpack(args))
  redis.call('ZADD', P .. 'delayed', visible_at, m.seq)
  m.st = 'invisible'
end

-- A retry after a failure or an expired lease: pending again while attempts remain.
local function requeue_or_error(conf, m, now, err, retry_in_ms, kind)
  if m.att < m.max then
    if retry_in_ms and retry_in_ms > 0 then
      make_invisible(conf, m, now, now + retry_in_ms, {'err', err})
    else
      make_pending(conf, m, now, {'err', err})
      wake()
    end
  else
    finish(conf, m, 'errored', now, {'err', err})
  end
  event(conf, kind, m.id, m.st)
end

local function expire_lease(conf, m, now)
  release(conf, m)
  requeue_or_error(conf, m, now, 'lease expired', 0, 'expired')
end

local function promote(conf, m, now)
  redis.call('ZREM', P .. 'delayed', m.seq)
  make_pending(conf, m, now)
  event(conf, 'promoted', m.id, 'pending')
end

-- Bring one message up to date with the clock (a due delay, an expired lease).
local function refresh(conf, m, now)
  if m.st == 'running' and m.le and tonumber(m.le) <= now then
    expire_lease(conf, m, now)
    return true
  end
  if m.st == 'invisible' and m.va and tonumber(m.va) <= now then
    promote(conf, m, now)
    wake()
  end
  return false
end

local function head_score(name)
  return tonumber(redis.call('ZRANGE', P .. name, 0, 0, 'WITHSCORES')[2])
end

-- Due delays and expired leases, at most `limit` of each. Returns how many moved and, when
-- nothing did, the earliest delay and lease expiry (nil for none) so callers need not re-read.
local function housekeep(conf, now, limit)
  local delayed_head, running_head = head_score('delayed'), head_score('running')
  if (not delayed_head or delayed_head > now) and (not running_head or running_head > now) then
    return 0, delayed_head, running_head
  end
  -- apply `move` to every message of set `name` (state `st`) whose score has passed; a member
  -- whose message is missing or unusable is dropped
  local function each_due(name, st, move)
    local due = redis.call('ZRANGEBYSCORE', P .. name, '-inf', now, 'LIMIT', 0, limit)
    local dropped = 0
    for i = 1, #due do
      local m = load_msg(id_of(due[i]), nil, due[i])
      if m and m.st == st then
        move(conf, m, now)
      else
        drop(conf, name, due[i])
        dropped = dropped + 1
      end
    end
    return #due, dropped
  end
  local promoted = each_due('delayed', 'invisible', promote)
  local expired, lost = each_due('running', 'running', expire_lease)
  if lost > 0 and conf.exclusive then
    recount_running(conf)
  end
  if promoted > 0 then
    wake()
  end
  return promoted + expired
end

-- Earliest instant something scheduled happens (a delay due, a lease expiring), or false.
-- Flushes deferred writes first: it reads the running set.
local function next_event_ms(conf)
  flush(conf)
  local a, b = head_score('delayed'), head_score('running')
  if a and b then
    return math.min(a, b)
  end
  return a or b or false
end

-- Names in `keys` whose key is gone (an index emptied, a dropped hash purged) leave it: up to
-- `limit` names sampled per call. Answers how many left.
local function prune_keys(limit)
  local names = redis.pcall('SRANDMEMBER', P .. 'keys', limit)
  if names.err then
    return 0  -- a damaged registry (not a set): nothing to prune, and sweep must not fail
  end
  local gone = {}
  for i = 1, #names do
    if redis.call('EXISTS', P .. names[i]) == 0 then
      gone[#gone + 1] = names[i]
    end
  end
  call_chunked('SREM', P .. 'keys', gone)
  return #gone
end

-- Hash field names of a read mask: ARGV[from] = count, then the names.
local function field_names(from)
  local names = {}
  for i = 1, tonumber(ARGV[from]) do
    names[i] = ARGV[from + i]
  end
  return names
end

