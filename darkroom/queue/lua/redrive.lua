-- redrive: KEYS[1] = P. ARGV: name, id.
-- Keys: conf m:<id> errored pending ix:* xq:* xr:* xc:* xrun events; publishes wake.
-- errored -> pending with attempts reset; any other state is a conflict.
local name, id = ARGV[1], ARGV[2]
local conf = load_conf()
if not conf then
  return fail('QUEUE_NOT_FOUND', name)
end
local m = load_msg(id)
if not m then
  return fail('MESSAGE_NOT_FOUND', id .. ' ' .. name)
end
if m.st ~= 'errored' then
  return fail('CONFLICT', 'message ' .. id .. ' in queue ' .. name .. ' is ' .. m.st .. '; only errored messages can be redriven')
end
local now = now_ms()
redis.call('ZREM', P .. 'errored', m.seq)
redis.call('HSET', P .. 'm:' .. id, 'att', '0')
redis.call('HDEL', P .. 'm:' .. id, 'ft')
m.att = 0
make_pending(conf, m, now)
event(conf, 'redriven', id, 'pending')
wake()
return 1
