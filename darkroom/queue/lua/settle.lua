-- settle (complete or fail leases): KEYS[1] = P. ARGV: name, n, then n × (id, token,
--   action 'c'|'f', result_or_error, retry '1'|'0', retry_in_ms).
-- Keys: conf m:<id> running completed errored pending delayed ix:* xq:* xr:* xc:* keys xrun events
--   counters.
-- A lease is valid while the message is running under the same token and before its expiry;
-- anything else is refused as 'lost' and changes nothing (an expired lease is expired now).
-- Completing again with the token that completed the message answers 'ok' again, so a client
-- that retries after a lost reply does not see a false LeaseLost.
-- Returns n × {'ok'|'lost'|'missing', lateness_ms (completions) | ''}.
-- All-or-nothing at any batch size: each lease is judged on its own message, read whole and
-- checked by load_msg; a missing or unusable message answers 'missing' and changes nothing (its
-- running member is dropped by housekeeping when its lease runs out); no step can fail after
-- the first write, and the set writes of the whole batch are chunked (flush).
local name = ARGV[1]
local n = tonumber(ARGV[2])
local conf = require_conf(name)
local now = now_ms()
local out = {}
local freed = false
for i = 0, n - 1 do
  local b = 3 + i * 6
  local id, tok, action, data = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local m = load_msg(id)
  if not m then
    out[#out + 1] = {'missing', ''}
  elseif m.st == 'completed' and m.tok == tok and action == 'c' then
    local ft = tonumber(redis.call('HGET', P .. 'm:' .. id, 'ft')) or now
    out[#out + 1] = {'ok', fmt(ft - m.dl)}
  elseif m.st ~= 'running' or m.tok ~= tok then
    out[#out + 1] = {'lost', ''}
  elseif refresh(conf, m, now) then
    out[#out + 1] = {'lost', ''}
  else
    release(conf, m)
    if action == 'c' then
      finish(conf, m, 'completed', now, {'res', data})
      event(conf, 'completed', id, 'completed')
      out[#out + 1] = {'ok', fmt(now - m.dl)}
    elseif ARGV[b + 4] == '1' then
      requeue_or_error(conf, m, now, data, tonumber(ARGV[b + 5]), 'failed')
      out[#out + 1] = {'ok', ''}
    else
      finish(conf, m, 'errored', now, {'err', data})
      event(conf, 'failed', id, 'errored')
      out[#out + 1] = {'ok', ''}
    end
    freed = freed or conf.exclusive
  end
end
flush(conf)
if freed then
  -- a freed slot may let another message of its value run
  wake()
end
return out
