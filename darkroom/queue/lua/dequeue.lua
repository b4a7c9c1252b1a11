-- dequeue: KEYS[1] = P. ARGV: name, max_messages, lease_ms|'', n_criteria, n_criteria × (k, v),
--   n_fields, field names to return (hash fields of m:<id>).
-- Keys: conf fence m:<id> pending delayed running ix:* xq:* xr:* xc:* xrun events.
-- Earliest deadline first, equal deadlines by enqueue order. Returns
-- {messages, next_event_ms|false, now_ms} where each message is {id, token, lease_expires_ms, fields...}.
local name = ARGV[1]
local max_n = tonumber(ARGV[2])
local conf = load_conf()
if not conf then
  return fail('QUEUE_NOT_FOUND', name)
end
local lease_ms = ARGV[3] == '' and conf.lease_ms or tonumber(ARGV[3])
local n_crit = tonumber(ARGV[4])
local fields_at = 5 + 2 * n_crit
local now = now_ms()
housekeep(conf, now, 1000)
local out = {}
if conf.paused == '1' then
  return {out, next_event_ms(), now}
end
local c = criteria_combo(conf, 5, n_crit, name)

local function start(seqid)
  local m = load_msg(id_of(seqid))
  ready_remove(conf, m)
  local tok = redis.call('INCR', P .. 'fence')
  local le = now + lease_ms
  m.att = m.att + 1
  redis.call('HSET', P .. 'm:' .. m.id, 'st', 'running', 'att', m.att, 'tok', tok, 'le', le, 'ua', now)
  redis.call('ZADD', P .. 'running', le, seqid)
  if conf.exclusive then
    x_running_delta(conf, m.x, 1)
  end
  event(conf, 'dequeued', m.id, 'running', {'att', fmt(m.att), 'tok', fmt(tok)})
  out[#out + 1] = {m.id, tok, le, read_fields(m.id, fields_at)}
end

if conf.exclusive then
  local ready = P .. 'xr:' .. c
  for _ = 1, max_n do
    local head = redis.call('ZRANGE', ready, 0, 0)[1]
    if not head then
      break
    end
    local x = string.sub(head, 17)
    start(redis.call('ZRANGE', xq_key(c, x), 0, 0)[1])
  end
else
  local index = c == '' and P .. 'pending' or P .. 'ix:' .. c
  local seqids = redis.call('ZRANGE', index, 0, max_n - 1)
  for i = 1, #seqids do
    start(seqids[i])
  end
end
return {out, next_event_ms(), now}
