-- query: KEYS[1] = P. ARGV: name, state, cursor_score|'', cursor_member|'', limit, budget,
--   n_criteria, n_criteria × (k, v), n_fields, field names.
-- Keys: conf, the state's sorted set (pending | delayed | running | completed | canceled |
--   errored), m:<id>. Walks that set in score order after the cursor, examining at most
-- `budget` members, and returns {messages, next_score|false, next_member|false}; a short page
-- with a cursor means "keep going". Each message is {id, fields...}.
local name, state = ARGV[1], ARGV[2]
require_conf(name)
local key = P .. state
local limit, budget = tonumber(ARGV[5]), tonumber(ARGV[6])
local n_crit = tonumber(ARGV[7])
local names = field_names(8 + 2 * n_crit)
local pos = 0
local skip_ties_upto = nil
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
        local meta = cjson.decode(redis.call('HGET', P .. 'm:' .. id, 'meta') or '{}')
        for j = 0, n_crit - 1 do
          if meta[ARGV[8 + 2 * j]] ~= ARGV[9 + 2 * j] then
            ok = false
            break
          end
        end
      end
      if ok then
        local v = read_fields(id, names)
        table.insert(v, 1, id)
        out[#out + 1] = v
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
