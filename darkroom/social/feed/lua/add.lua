-- add: many posts into one set, trimmed to the cap.  KEYS[1]: the set.
-- ARGV: cap, when ('existing': only into a set that exists, as feeds; 'always': an author's
-- recent posts), post ids...  Returns how many posts were new.
if #KEYS ~= 1 then return redis.error_reply('ERR add takes one key') end
local err = check_keys() or check_members(3)
if err then return err end
local key, cap, when = KEYS[1], tonumber(ARGV[1]), ARGV[2]
if when ~= 'existing' and when ~= 'always' then return redis.error_reply('ERR add: when is existing or always') end
if when == 'existing' and SIZES[1] == 0 then return 0 end
local added = 0
each_slice(3, function(i, last)
  local args = {}
  for j = i, last do args[#args + 1] = 0; args[#args + 1] = ARGV[j] end
  added = added + redis.call('ZADD', key, unpack(args))
end)
if added > 0 then trim(key, cap) end
return added
