-- Shared by the feed scripts (darkroom.social.feed.store), which prepend MAX_KEYS and MAX_MEMBERS.
-- Keys: sorted sets of post ids, every score 0 (lex order = ULID = time); the member '~' marks a
-- built feed and sorts after every id, so it is always the last member and never trimmed.
-- Redis does not roll a script back when a command fails half way, so every script checks all its
-- keys and arguments first and writes only when all are sound: all or nothing.
local MARKER = '~'

-- nil when every key is a sorted set or missing, else the error to return (naming the key).
-- SIZES[i] is KEYS[i]'s member count (0: missing; a built feed has at least its marker): one
-- ZCARD both checks the type and tells a push whether the feed exists and must be trimmed.
local SIZES = {}
local function check_keys()
  if #KEYS > MAX_KEYS then
    return redis.error_reply('ERR feed script: ' .. #KEYS .. ' keys, at most ' .. MAX_KEYS .. ' per call')
  end
  for i, key in ipairs(KEYS) do
    local size = redis.pcall('ZCARD', key)
    if type(size) ~= 'number' then
      local kind = redis.call('TYPE', key)['ok']
      return redis.error_reply('WRONGTYPE feed key ' .. key .. ' holds a ' .. kind .. ', not a sorted set')
    end
    SIZES[i] = size
  end
  return nil
end

-- nil when ARGV[first..] are post ids (never the marker, at most MAX_MEMBERS), else the error
local function check_members(first)
  if #ARGV - first + 1 > MAX_MEMBERS then
    return redis.error_reply('ERR feed script: ' .. (#ARGV - first + 1) .. ' posts, at most ' .. MAX_MEMBERS)
  end
  for i = first, #ARGV do
    if ARGV[i] == MARKER or ARGV[i] == '' then
      return redis.error_reply('ERR feed script: ' .. string.format('%q', ARGV[i]) .. ' is not a post id')
    end
  end
  return nil
end

-- keep the newest cap posts (and the marker, when the set has one)
local function trim(key, cap)
  local keep = cap
  if redis.call('ZSCORE', key, MARKER) then keep = cap + 1 end
  local size = redis.call('ZCARD', key)
  if size > keep then redis.call('ZREMRANGEBYRANK', key, 0, size - keep - 1) end
end

-- ZADD/ZREM ARGV[first..] in slices: unpack() of thousands of values overflows Lua's C stack
local function each_slice(first, fn)
  local i = first
  while i <= #ARGV do
    local last = math.min(i + 499, #ARGV)
    fn(i, last)
    i = last + 1
  end
end
