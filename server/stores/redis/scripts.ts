/** A Lua script, sent with EVAL (connection.ts says why not EVALSHA). */
export interface Script {
  readonly source: string;
}

function script(source: string): Script {
  return { source };
}

// Key layout under the prefix P (every step that changes a session changes its index entry in
// the same script, so the two cannot drift):
//   P sess:<sid>   HASH data (session JSON), exp (expiry, ms by the store clock), uid ('' for none)
//   P user:<uid>   SET of sids; its TTL is at least that of its longest-lived member
//   P claim:<key>  STRING expiry ms (claimOnce)
//   P lock:<key>   STRING "<expiry ms>:<token>" (lock)
// Keys of other sessions and users are built inside the scripts, so the store needs a single
// Redis (or a primary with replicas), not Redis Cluster.

/** KEYS[1] sess; ARGV prefix, sid, data, exp, px, uid. Writes a session and moves its index entry. */
export const SET_SESSION = script(`
local old = redis.call('HGET', KEYS[1], 'uid')
if old and old ~= '' and old ~= ARGV[6] then
  redis.call('SREM', ARGV[1] .. 'user:' .. old, ARGV[2])
end
redis.call('HSET', KEYS[1], 'data', ARGV[3], 'exp', ARGV[4], 'uid', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if ARGV[6] ~= '' then
  local user = ARGV[1] .. 'user:' .. ARGV[6]
  redis.call('SADD', user, ARGV[2])
  if redis.call('PTTL', user) < tonumber(ARGV[5]) then redis.call('PEXPIRE', user, ARGV[5]) end
end
return 1
`);

/** KEYS[1] sess; ARGV prefix, sid, now ('' = whatever its expiry). Deletes a session and its index entry. */
export const DESTROY_SESSION = script(`
local v = redis.call('HMGET', KEYS[1], 'exp', 'uid')
if not v[1] then
  redis.call('DEL', KEYS[1])
  return 0
end
if ARGV[3] ~= '' and tonumber(v[1]) > tonumber(ARGV[3]) then return 0 end
redis.call('DEL', KEYS[1])
if v[2] and v[2] ~= '' then redis.call('SREM', ARGV[1] .. 'user:' .. v[2], ARGV[2]) end
return 1
`);

/**
 * ARGV cursor, pattern, count, now, withData. One SCAN page of sessions, read in the same atomic
 * step: { next cursor, key, data, key, data, … } of the live ones (data '' unless asked for).
 */
export const SCAN_SESSIONS = script(`
local page = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local out = { page[1] }
for _, key in ipairs(page[2]) do
  local v = redis.call('HMGET', key, 'exp', 'data')
  if v[1] and tonumber(v[1]) > tonumber(ARGV[4]) then
    out[#out + 1] = key
    out[#out + 1] = ARGV[5] == '1' and v[2] or ''
  end
end
return out
`);

/** KEYS[1] user; ARGV prefix, uid, now. Deletes every session of the user and the set; returns the live count. */
export const DESTROY_USER = script(`
local n = 0
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. 'sess:' .. sid
  local v = redis.call('HMGET', key, 'exp', 'uid')
  if v[1] and v[2] == ARGV[2] then
    if tonumber(v[1]) > tonumber(ARGV[3]) then n = n + 1 end
    redis.call('DEL', key)
  end
end
redis.call('DEL', KEYS[1])
return n
`);

/** KEYS[1] user; ARGV prefix, uid, now, sid… Prunes members (one SSCAN page) whose session is gone or expired. */
export const PRUNE_USER = script(`
local n = 0
for i = 4, #ARGV do
  local key = ARGV[1] .. 'sess:' .. ARGV[i]
  local v = redis.call('HMGET', key, 'exp', 'uid')
  if not v[1] or v[2] ~= ARGV[2] then
    redis.call('SREM', KEYS[1], ARGV[i])
  elseif tonumber(v[1]) <= tonumber(ARGV[3]) then
    redis.call('DEL', key)
    redis.call('SREM', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
`);

/**
 * KEYS user… (one SCAN page); ARGV prefix, now, most. Prunes sets of at most `most` members here,
 * in one step; returns { sessions deleted, keys of the larger sets (for PRUNE_USER by SSCAN) … }.
 */
export const PRUNE_USERS = script(`
local n = 0
local out = { 0 }
local skip = #ARGV[1] + 6
for _, user in ipairs(KEYS) do
  if redis.call('SCARD', user) > tonumber(ARGV[3]) then
    out[#out + 1] = user
  else
    local uid = string.sub(user, skip)
    for _, sid in ipairs(redis.call('SMEMBERS', user)) do
      local key = ARGV[1] .. 'sess:' .. sid
      local v = redis.call('HMGET', key, 'exp', 'uid')
      if not v[1] or v[2] ~= uid then
        redis.call('SREM', user, sid)
      elseif tonumber(v[1]) <= tonumber(ARGV[2]) then
        redis.call('DEL', key)
        redis.call('SREM', user, sid)
        n = n + 1
      end
    end
  end
end
out[1] = n
return out
`);

/** KEYS sess…; ARGV prefix, now. Deletes the expired sessions among KEYS (one SCAN page); returns how many. */
export const SWEEP_SESSIONS = script(`
local n = 0
local skip = #ARGV[1] + 6
for _, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'exp', 'uid')
  if not v[1] then
    redis.call('DEL', key)
  elseif tonumber(v[1]) <= tonumber(ARGV[2]) then
    redis.call('DEL', key)
    if v[2] and v[2] ~= '' then
      redis.call('SREM', ARGV[1] .. 'user:' .. v[2], string.sub(key, skip))
    end
    n = n + 1
  end
end
return n
`);

/** KEYS claim/lock…; ARGV now. Deletes the expired ones (value "<expiry>" or "<expiry>:<token>"). */
export const SWEEP_EXPIRING = script(`
local n = 0
for _, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  local exp = v and tonumber(string.match(v, '^%d+'))
  if not exp or exp <= tonumber(ARGV[1]) then
    redis.call('DEL', key)
    if exp then n = n + 1 end
  end
end
return n
`);

/** KEYS[1] claim; ARGV now, exp, px. 1 for the first claim, 0 while it lasts. */
export const CLAIM = script(`
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`);

/** KEYS[1] lock; ARGV now, exp, px, token. 1 when taken (free or expired), 0 while another holds it. */
export const LOCK = script(`
local v = redis.call('GET', KEYS[1])
if v then
  local exp = tonumber(string.match(v, '^%d+'))
  if exp and exp > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2] .. ':' .. ARGV[4], 'PX', ARGV[3])
return 1
`);

/** KEYS[1] lock; ARGV token. Deletes the lock only while it is still this holder's. */
export const UNLOCK = script(`
local v = redis.call('GET', KEYS[1])
if v and string.match(v, ':(.*)$') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`);
