-- enqueue_lease: enqueue messages and lease some of them to the caller, in one script call on one
--   queue (a worker that enqueues the next step of its workflow takes it in the same call).
-- Composed by scripts.py: _lib.lua, then dequeue.lua as `dequeue_part()` and enqueue.lua as
--   `enqueue_part(A)` (its ARGV renamed A), then this glue.
-- KEYS[1] = P. ARGV: dequeue.lua's ARGV (wait_ms 0, no waiter), then enqueue.lua's ARGV.
-- Keys: those of enqueue.lua and dequeue.lua.
-- All-or-nothing: the dequeue's request (queue, criteria) and the queue's fence are checked before
--   the enqueue writes, and the enqueue checks every message before its first write.
-- Wakes waiters only when a message it created is left pending (see wake_held in _lib.lua).
-- Returns {enqueue.lua's reply, dequeue.lua's reply}.
local deq_crit = tonumber(ARGV[4])
local deq_len = 4 + 2 * deq_crit + 1 + tonumber(ARGV[5 + 2 * deq_crit]) + 2
criteria_combo(require_conf(ARGV[1]), 5, deq_crit, ARGV[1])
-- and the fence the dequeue will count on, as dequeue.lua checks it, but before the enqueue writes
local fence = redis.call('GET', P .. 'fence')
if fence and not string.find(fence, '^%d+$') then
  abort('QUEUE_DAMAGED', 'queue ' .. ARGV[1] .. ' has a damaged fence ' .. string.sub(fence, 1, 40))
end
local A = {}
for i = deq_len + 1, #ARGV do
  A[#A + 1] = ARGV[i]
end
if A[1] ~= ARGV[1] then
  abort('INVALID_ARGUMENT', 'enqueue_lease names two queues ' .. tostring(A[1]) .. ' ' .. ARGV[1])
end
wake_held = true
local enqueued = enqueue_part(A)
wake_held = false
if type(enqueued) == 'table' and enqueued.err then
  return enqueued
end
local leased = dequeue_part()
if wake_owed then
  -- wake the waiters only if a message this call created is still there for them
  for _, e in ipairs(enqueued) do
    if e[2] == 1 and redis.call('HGET', P .. 'm:' .. e[1], 'st') == 'pending' then
      wake()
      break
    end
  end
end
return {enqueued, leased}
