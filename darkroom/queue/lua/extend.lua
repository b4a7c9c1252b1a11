-- extend (heartbeat): KEYS[1] = P. ARGV: name, id, token, lease_ms.
-- Keys: conf m:<id> running (and, when the lease already expired, what expiry touches).
-- Returns the new lease expiry in ms, or DR_LEASE_LOST.
-- All-or-nothing: the message is read and checked first (missing or unusable: MESSAGE_NOT_FOUND);
-- after the first write no step can fail.
-- The message's own due lease expiry or promotion (refresh) is applied first and kept when
-- the call is then refused: it is a whole transition of its own, not half of this one.
local name, id, tok = ARGV[1], ARGV[2], ARGV[3]
local conf = require_conf(name)
local m = require_msg(id, name)
local now = now_ms()
if m.st ~= 'running' or m.tok ~= tok or refresh(conf, m, now) then
  flush(conf)
  return fail('LEASE_LOST', id .. ' ' .. name .. ' ' .. tok)
end
local le = now + tonumber(ARGV[4])
redis.call('HSET', P .. 'm:' .. id, 'le', le, 'ua', now)
zadd('running', le, m.seq)
flush(conf)
return le
