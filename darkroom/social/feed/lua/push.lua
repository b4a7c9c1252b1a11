-- push: one post into many feeds, each only if it exists (feeds are kept for active accounts only).
-- KEYS: feeds (one hash slot).  ARGV: cap, post id.  Returns how many feeds hold the post now.
if #ARGV ~= 2 then return redis.error_reply('ERR push takes the cap and one post id') end
local err = check_keys() or check_members(2)
if err then return err end
local cap, post = tonumber(ARGV[1]), ARGV[2]
local held = 0
for i, key in ipairs(KEYS) do
  local size = SIZES[i]
  if size > 0 then
    held = held + 1
    -- an existing feed has its marker: keep cap posts + 1; a replayed push adds nothing to trim
    if redis.call('ZADD', key, 0, post) == 1 and size + 1 > cap + 1 then
      redis.call('ZREMRANGEBYRANK', key, 0, size - cap - 1)
    end
  end
end
return held
