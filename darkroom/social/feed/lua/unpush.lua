-- unpush: one post out of many sets.  KEYS: sets (one hash slot).  ARGV: post id.
-- Returns how many sets held it.
if #ARGV ~= 1 then return redis.error_reply('ERR unpush takes one post id') end
local err = check_keys() or check_members(1)
if err then return err end
local removed = 0
for _, key in ipairs(KEYS) do
  removed = removed + redis.call('ZREM', key, ARGV[1])
end
return removed
