-- query: KEYS[1] = P. ARGV: name, state, cursor_score|'', cursor_member|'', limit, budget,
--   n_criteria, n_criteria × (k, v), n_fields, field names.
-- Keys: conf, the state's sorted set (pending | delayed | running | completed | canceled |
--   errored), m:<id>. Walks that set in score order after the cursor, examining at most
-- `budget` members, and returns {messages, next_score|false, next_member|false}; a short page
-- with a cursor means "keep going". Each message is {id, fields...}.
-- Read-only. A cursor score that is not a number is DR_INVALID_ARGUMENT; a member whose message
-- is missing (or is another message's now) is skipped, and so is one whose metadata cannot be
-- decoded when criteria are given.
local name, state = ARGV[1], ARGV[2]
require_conf(name)
local key = P .. state
local limit, budget = tonumber(ARGV[5]), tonumber(ARGV[6])
local n_crit = tonumber(ARGV[7])
local names = field_names(8 + 2 * n_crit)
local pos = 0
local skip_ties_upto = nil
if ARGV[4] ~= '' and not tonumber(ARGV[3]) then
  return fail('INVALID_ARGUMENT', 'cursor score ' .. ARGV[3] .. ' is not a number')
end
if ARGV[4] ~= '' then
  local rank = redis.call('ZRANK', key, ARGV[4])
  if rank then
    pos = rank + 1
  else
    pos = redis.call('ZCOUNT', key, '-inf', '(' .. ARGV[3])
    skip_ties_upto = ARGV[4]
  end
end
local out = {}
local examined = 0
local last_score, last_member = false, false
local exhausted = false
while #out < limit and examined < budget do
  local chunk = redis.call('ZRANGE', key, pos, pos + 99, 'WITHSCORES')
  if #chunk == 0 then
    exhausted = true
    break
  end
  for i = 1, #chunk, 2 do
    local member, score = chunk[i], chunk[i + 1]
    pos = pos + 1
    if not (skip_ties_upto and score == ARGV[3] and member <= skip_ties_upto) then
      examined = examined + 1
      last_score, last_member = score, member
      local id = id_of(member)
      local ok = true
      if n_crit > 0 then
        -- unreadable metadata matches no criteria
        local decoded, meta = pcall(cjson.decode, redis.call('HGET', P .. 'm:' .. id, 'meta') or '{}')
        ok = decoded and type(meta) == 'table'
        for j = 0, n_crit - 1 do
          if not ok or meta[ARGV[8 + 2 * j]] ~= ARGV[9 + 2 * j] then
            ok = false
            break
          end
        end
      end
      if ok then
        -- a member whose message is missing, or is another message's now, is not shown
        local v = redis.call('HMGET', P .. 'm:' .. id, 'seq', unpack(names))
        if v[1] == member then
          v[1] = id
          out[#out + 1] = v
        end
      end
      if #out >= limit or examined >= budget then
        break
      end
    end
  end
end
if not exhausted and redis.call('ZCARD', key) <= pos then
  exhausted = true
end
if exhausted then
  return {out, false, false}
end
return {out, last_score, last_member}
