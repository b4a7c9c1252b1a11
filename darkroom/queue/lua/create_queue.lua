-- create_queue: KEYS[1] = P. ARGV: name, then field/value pairs of the settings.
-- Keys: conf. Idempotent: the same settings again answer 0; different settings are a conflict.
-- All-or-nothing: one HSET of a fixed number of settings, after every comparison.
local name = ARGV[1]
local key = P .. 'conf'
if redis.call('EXISTS', key) == 1 then
  for i = 2, #ARGV, 2 do
    local f = ARGV[i]
    if f ~= 'ca' and f ~= 'paused' and redis.call('HGET', key, f) ~= ARGV[i + 1] then
      return fail('CONFLICT', 'queue ' .. name .. ' exists with a different ' .. f)
    end
  end
  return 0
end
local args = {'HSET', key, 'ca', now_ms(), 'paused', '0'}
for i = 2, #ARGV do
  args[#args + 1] = ARGV[i]
end
redis.call(unpack(args))
return 1
