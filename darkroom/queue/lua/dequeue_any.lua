-- dequeue_any: one dequeue over several *sources* (a queue and a criteria combo), earliest
--   deadline first across all of them, in one round trip.
-- KEYS[1] = the prefix of the first source's queue. The other sources' prefixes come in ARGV, so
--   this script runs on a single Redis (a primary and its replicas), not on a Cluster, where the
--   queues' hash tags put them in different slots (docs/queue.md, "Dequeue from several queues").
-- ARGV: max_messages, waiter id|'', wait_ms, n_fields, field names, n_sources, then per source:
--   prefix, queue name, lease_ms|'', n_criteria, n_criteria x (k, v).
-- Keys per queue: those of dequeue.lua. A call that finds nothing and names a waiter registers it
--   in the `waiters` of every queue it read, so an enqueue on any of them wakes it.
-- Returns {rows, next_event_ms|false, now_ms}; a row is {source index (1-based), id, token,
--   lease_expires_ms, fields...}.
-- All-or-nothing as dequeue.lua: every source, criteria combo and fence is checked before the
-- first write; a head whose message is missing or unusable is dropped (load_msg/drop) and the
-- next head taken in its place, so no step after the first write can fail.
local max_n = tonumber(ARGV[1])
local waiter, wait_ms = ARGV[2], tonumber(ARGV[3])
local names = field_names(4)
local at = 5 + #names
local n_src = tonumber(ARGV[at])
at = at + 1

-- validate every source before the first write: an error reply must leave nothing half-done
local sources, queues = {}, {}
local by_prefix = {}
for i = 1, n_src do
  local prefix, qname, lease, n_crit = ARGV[at], ARGV[at + 1], ARGV[at + 2], tonumber(ARGV[at + 3])
  P = prefix
  local q = by_prefix[prefix]
  if not q then
    q = {prefix = prefix, name = qname, conf = require_conf(qname), took = 0}
    local fence = redis.call('GET', P .. 'fence')
    if fence and not string.find(fence, '^%d+$') then
      abort('QUEUE_DAMAGED', 'queue ' .. qname .. ' has a damaged fence ' .. string.sub(fence, 1, 40))
    end
    by_prefix[prefix] = q
    queues[#queues + 1] = q
  end
  local c = criteria_combo(q.conf, at + 4, n_crit, qname)
  local index
  if q.conf.exclusive then
    index = 'xr:' .. c
  else
    index = c == '' and 'pending' or 'ix:' .. c
  end
  sources[i] = {q = q, c = c, index = index, le_ms = lease == '' and q.conf.lease_ms or tonumber(lease)}
  at = at + 4 + 2 * n_crit
end

local now = now_ms()
for _, q in ipairs(queues) do
  P = q.prefix
  housekeep(q.conf, now, 1000)
  flush(q.conf)  -- promotions and expiries must be visible to the reads below
end

-- Deferred writes (_lib's zadd/zrem/event) are kept per set name, not per key: flush one queue's
-- before P moves to another.
local current = nil
local function use(q)
  if current ~= q then
    if current then
      P = current.prefix
      flush(current.conf)
    end
    current = q
  end
  if q then
    P = q.prefix
    loaded_conf_exclusive = q.conf.exclusive  -- load_msg judges a message by its own queue's kind
  end
end

-- the head of a source's index: {score, member} or false (a paused queue has none)
local function head(s)
  if s.q.conf.paused == '1' then
    return false
  end
  P = s.q.prefix
  local h = redis.call('ZRANGE', P .. s.index, 0, 0, 'WITHSCORES')
  if not h[1] then
    return false
  end
  return {tonumber(h[2]), h[1]}
end

local out = {}

local function start(i, s, m)
  local tok = redis.call('INCR', P .. 'fence')
  local le = now + s.le_ms
  s.q.took = s.q.took + 1
  out[#out + 1] = {i, m.id, tok, le, lease_msg(s.q.conf, m, tok, le, now, names)}
end

-- Takes the source's head message if it is usable (true), or drops it (false): the caller then
-- reads the heads again and goes on.
local function take(i, s, h)
  use(s.q)
  local conf, c = s.q.conf, s.c
  if conf.exclusive then
    local x = string.sub(h[2], 17)
    local seqid = redis.call('ZRANGE', xq_key(c, x), 0, 0)[1]
    local m = seqid and load_msg(id_of(seqid), names, seqid)
    if m and m.st == 'pending' and m.x == x then
      ready_remove(conf, m)
      x_running_delta(conf, x, 1)
      start(i, s, m)
      return true
    elseif seqid then
      drop(conf, 'pending', seqid, x, c)
    else
      redis.call('ZREM', P .. s.index, h[2])  -- a ready value with nothing pending: stale
    end
    return false
  end
  local seqid = redis.call('ZPOPMIN', P .. s.index, 1)[1]
  if c ~= '' then
    redis.call('ZREM', P .. 'pending', seqid)
  end
  local m = load_msg(id_of(seqid), names, seqid)
  if not (m and m.st == 'pending') then
    drop(conf, 'pending', seqid)
    return false
  end
  for _, combo in ipairs(split(m.ix)) do
    if combo ~= c then
      redis.call('ZREM', P .. 'ix:' .. combo, seqid)
    end
  end
  start(i, s, m)
  return true
end

local heads = {}
for i = 1, n_src do
  heads[i] = head(sources[i])
end
while #out < max_n do
  local best = nil
  for i = 1, n_src do
    local h = heads[i]
    -- earliest deadline; equal deadlines by enqueue order within a queue, by source order across
    if h and (not best or h[1] < heads[best][1] or (h[1] == heads[best][1] and h[2] < heads[best][2]
        and sources[i].q == sources[best].q)) then
      best = i
    end
  end
  if not best then
    break
  end
  local s = sources[best]
  take(best, s, heads[best])
  -- taking one message changes the heads of every index of its queue (it leaves them all)
  for i = 1, n_src do
    if sources[i].q == s.q then
      heads[i] = head(sources[i])
    end
  end
end
use(nil)

if #out == 0 and waiter ~= '' then
  for _, q in ipairs(queues) do
    redis.call('ZADD', q.prefix .. 'waiters', now + wait_ms, waiter)
  end
end
local next_ms = false
for _, q in ipairs(queues) do
  P = q.prefix
  local n = next_event_ms(q.conf)
  if n and (not next_ms or n < next_ms) then
    next_ms = n
  end
end
return {out, next_ms, now}
