-- dequeue: KEYS[1] = P. ARGV: name, max_messages, lease_ms|'', n_criteria, n_criteria × (k, v),
--   n_fields, field names to return (hash fields of m:<id>), waiter id|'', wait_ms.
-- A call that finds nothing and names a waiter registers it in `waiters` until now + wait_ms.
-- Keys: conf fence m:<id> pending delayed running ix:* xq:* xr:* xc:* keys xrun waiters events
--   counters.
-- Earliest deadline first, equal deadlines by enqueue order. Returns
-- {messages, next_event_ms|false, now_ms} where each message is {id, token, lease_expires_ms, fields...}.
-- All-or-nothing at any batch size: criteria and read mask are checked before the first write;
-- every popped member's message is read and checked (load_msg) before it moves, and a member
-- whose message is missing or unusable is dropped (with its indexes) and another popped in its
-- place; set writes are chunked. No step after the first write can fail.
local name = ARGV[1]
local max_n = tonumber(ARGV[2])
local conf = require_conf(name)
local lease_ms = ARGV[3] == '' and conf.lease_ms or tonumber(ARGV[3])
local n_crit = tonumber(ARGV[4])
-- validate before the first write: an error reply must leave nothing half-done
local c = criteria_combo(conf, 5, n_crit, name)
local names = field_names(5 + 2 * n_crit)
local waiter_at = 6 + 2 * n_crit + #names
local fence = redis.call('GET', P .. 'fence')
if fence and not string.find(fence, '^%d+$') then
  abort('QUEUE_DAMAGED', 'queue ' .. name .. ' has a damaged fence ' .. string.sub(fence, 1, 40))
end
local now = now_ms()

local le = now + lease_ms
local moved, delayed_head, running_head = housekeep(conf, now, 1000)

local function done(out)
  if #out == 0 and ARGV[waiter_at] ~= '' then
    redis.call('ZADD', P .. 'waiters', now + tonumber(ARGV[waiter_at + 1]), ARGV[waiter_at])
  end
  if moved > 0 then
    return {out, next_event_ms(conf), now}
  end
  -- nothing moved: the heads read by housekeep still hold, plus the leases just granted
  flush(conf)
  if #out > 0 and (not running_head or le < running_head) then
    running_head = le
  end
  local next_ms = delayed_head or running_head or false
  if delayed_head and running_head then
    next_ms = math.min(delayed_head, running_head)
  end
  return {out, next_ms, now}
end

flush(conf)  -- promotions and expiries must be visible to the reads below
local out = {}
if conf.paused == '1' then
  return done(out)
end

local next_token, last_token = 0, -1

-- pending -> running for a message already taken out of its indexes
local function start(m)
  if next_token > last_token then
    -- tokens only need to be unique and increasing: reserve a block per call
    last_token = redis.call('INCRBY', P .. 'fence', max_n)
    next_token = last_token - max_n + 1
  end
  local tok = next_token
  next_token = next_token + 1
  out[#out + 1] = {m.id, tok, le, lease_msg(conf, m, tok, le, now, names)}
end

if conf.exclusive then
  local ready = P .. 'xr:' .. c
  while #out < max_n do
    local head = redis.call('ZRANGE', ready, 0, 0)[1]
    if not head then
      break
    end
    local x = string.sub(head, 17)
    local seqid = redis.call('ZRANGE', xq_key(c, x), 0, 0)[1]
    local m = seqid and load_msg(id_of(seqid), names, seqid)
    if m and m.st == 'pending' and m.x == x then
      ready_remove(conf, m)
      x_running_delta(conf, x, 1)
      start(m)
    elseif seqid then
      drop(conf, 'pending', seqid, x, c)
    else
      redis.call('ZREM', ready, head)  -- a ready value with nothing pending: stale
    end
  end
else
  local index = c == '' and 'pending' or 'ix:' .. c
  -- pop the heads of the index serving this dequeue; then leave every other index in as few
  -- commands as possible: one ZREM per index touched. Popped members whose message is missing
  -- or unusable are dropped, and as many more are popped.
  local msgs = {}
  while #msgs < max_n do
    local popped = redis.call('ZPOPMIN', P .. index, max_n - #msgs)
    if #popped == 0 then
      break
    end
    local seqids = {}
    for i = 1, #popped, 2 do
      seqids[#seqids + 1] = popped[i]
    end
    if c ~= '' then
      call_chunked('ZREM', P .. 'pending', seqids)
    end
    local by_combo = {}
    local dropped = false
    for i = 1, #seqids do
      local m = load_msg(id_of(seqids[i]), names, seqids[i])
      if m and m.st == 'pending' then
        msgs[#msgs + 1] = m
        for _, combo in ipairs(split(m.ix)) do
          if combo ~= c then  -- the serving index was popped already
            local list = by_combo[combo]
            if not list then
              list = {}
              by_combo[combo] = list
            end
            list[#list + 1] = m.seq
          end
        end
      else
        drop(conf, 'pending', seqids[i])
        dropped = true
      end
    end
    for combo, members in pairs(by_combo) do
      call_chunked('ZREM', P .. 'ix:' .. combo, members)
    end
    if not dropped then
      break
    end
  end
  for i = 1, #msgs do
    start(msgs[i])
  end
end
return done(out)
