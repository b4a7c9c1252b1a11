-- update_queue: KEYS[1] = P. ARGV: name, then field/value pairs (mutable settings only).
-- Keys: conf; publishes wake when a paused queue resumes. Returns the settings (HGETALL).
-- All-or-nothing: the settings arrive validated; the writes are HSETs that cannot fail.
local name = ARGV[1]
local conf = require_conf(name)
local key = P .. 'conf'
for i = 2, #ARGV, 2 do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
end
if conf.paused == '1' and redis.call('HGET', key, 'paused') == '0' then
  wake()
end
return redis.call('HGETALL', key)
