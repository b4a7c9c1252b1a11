-- remove: many posts out of one set (one author's posts from a feed).  KEYS[1]: the set.
-- ARGV: post ids...  Returns how many were there.
if #KEYS ~= 1 then return redis.error_reply('ERR remove takes one key') end
local err = check_keys() or check_members(1)
if err then return err end
local removed = 0
each_slice(1, function(i, last)
  removed = removed + redis.call('ZREM', KEYS[1], unpack(ARGV, i, last))
end)
return removed
