-- delete_queue: KEYS[1] = P. ARGV: name.
-- Keys: every key of the queue, without scanning the keyspace: the fixed ones by name, the
--   message hashes m:<id> through the members of the six state sets, and the index keys and
--   dropped messages' hashes through `keys` (the registry _lib's touch keeps).
-- Returns 1 when the queue existed (its conf), else 0; whatever was left of it goes all the same.
-- All-or-nothing at any size: the sets are read CHUNK members at a time and their keys unlinked
--   CHUNK per command (UNLINK frees the memory in the background); a set of the wrong type
--   (damage) is unlinked whole, unread. No command can fail, so no call stops half-way.
--   The call holds Redis for its length: O(keys of the queue).
local existed = redis.call('EXISTS', P .. 'conf')

local function unlink(names)
  for i = 1, #names, CHUNK do
    redis.call('UNLINK', unpack(names, i, math.min(i + CHUNK - 1, #names)))
  end
end

local STATE_SETS = {'pending', 'delayed', 'running', 'completed', 'canceled', 'errored'}
for _, state in ipairs(STATE_SETS) do
  local key = P .. state
  if redis.call('TYPE', key).ok == 'zset' then
    local n = redis.call('ZCARD', key)
    for from = 0, n - 1, CHUNK do
      local members = redis.call('ZRANGE', key, from, from + CHUNK - 1)
      local names = {}
      for i = 1, #members do
        names[i] = P .. 'm:' .. id_of(members[i])
      end
      unlink(names)
    end
  end
end

if redis.call('TYPE', P .. 'keys').ok == 'set' then
  local cursor = '0'
  repeat
    local page = redis.call('SSCAN', P .. 'keys', cursor, 'COUNT', CHUNK)
    cursor = page[1]
    local names = {}
    for i = 1, #page[2] do
      names[i] = P .. page[2][i]
    end
    unlink(names)
  until cursor == '0'
end

local fixed = {'conf', 'seq', 'fence', 'xrun', 'events', 'counters', 'waiters', 'keys'}
for _, state in ipairs(STATE_SETS) do
  fixed[#fixed + 1] = state
end
for i = 1, #fixed do
  fixed[i] = P .. fixed[i]
end
unlink(fixed)
return existed
