-- build: replace a set with the given posts and the marker, with an expiry (0: none).
-- KEYS[1]: the set.  ARGV: cap, ttl ms, post ids (at most cap)...
if #KEYS ~= 1 then return redis.error_reply('ERR build takes one key') end
local err = check_keys() or check_members(3)
if err then return err end
local key, cap, ttl_ms = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
if #ARGV - 2 > cap then
  return redis.error_reply('ERR build: ' .. (#ARGV - 2) .. ' posts, at most ' .. cap)
end
redis.call('DEL', key)
each_slice(3, function(i, last)
  local args = {}
  for j = i, last do args[#args + 1] = 0; args[#args + 1] = ARGV[j] end
  redis.call('ZADD', key, unpack(args))
end)
redis.call('ZADD', key, 0, MARKER)
if ttl_ms > 0 then redis.call('PEXPIRE', key, ttl_ms) end
return #ARGV - 2
