-- cancel: KEYS[1] = P. ARGV: name, id.
-- Keys: conf m:<id> pending delayed running canceled ix:* xq:* xr:* xc:* keys xrun events.
-- Any non-terminal state becomes canceled (a running message's lease dies with it); canceling a
-- canceled message is a no-op; completed or errored messages are a conflict. Returns 1 | 0.
-- All-or-nothing: the queue and the message are read and checked before the first write (a
-- missing or unusable message is MESSAGE_NOT_FOUND); after it no step can fail.
-- The message's own due lease expiry or promotion (refresh) is applied first and kept when
-- the call is then refused: it is a whole transition of its own, not half of this one.
local name, id = ARGV[1], ARGV[2]
local conf = require_conf(name)
local m = require_msg(id, name)
local now = now_ms()
refresh(conf, m, now)
if m.st == 'canceled' then
  flush(conf)
  return 0
end
if TERMINAL[m.st] then
  flush(conf)
  return fail('CONFLICT', 'message ' .. id .. ' in queue ' .. name .. ' is ' .. m.st .. '; only unfinished messages can be canceled')
end
if m.st == 'pending' then
  ready_remove(conf, m)
elseif m.st == 'invisible' then
  redis.call('ZREM', P .. 'delayed', m.seq)
elseif m.st == 'running' then
  release(conf, m)
  if conf.exclusive then
    wake()
  end
end
finish(conf, m, 'canceled', now)
event(conf, 'canceled', id, 'canceled')
flush(conf)
return 1
