-- Erase one customer's profile: its hash and its membership of every audience set, atomically.
-- KEYS[1] the customer hash
-- ARGV[1] the audience key prefix
-- ARGV[2] the customer id
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local field = fields[i]
  if string.sub(field, 1, 4) == 'tag:' then
    redis.call('SREM', ARGV[1] .. string.sub(field, 5) .. ':' .. fields[i + 1], ARGV[2])
  end
end
return redis.call('DEL', KEYS[1])
