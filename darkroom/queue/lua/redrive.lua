-- redrive: KEYS[1] = P. ARGV: name, id.
-- Keys: conf m:<id> errored pending ix:* xq:* xr:* xc:* keys xrun events; publishes wake.
-- errored -> pending with attempts reset; any other state is a conflict.
-- All-or-nothing: the message is read and checked before the first write; after it no step
-- can fail.
local name, id = ARGV[1], ARGV[2]
local conf = require_conf(name)
local m = require_msg(id, name)
if m.st ~= 'errored' then
  return fail('CONFLICT', 'message ' .. id .. ' in queue ' .. name .. ' is ' .. m.st .. '; only errored messages can be redriven')
end
local now = now_ms()
zrem('errored', m.seq)
m.att = 0
make_pending(conf, m, now, {'att', '0', 'ft', ''})
event(conf, 'redriven', id, 'pending')
flush(conf)
wake()
return 1
