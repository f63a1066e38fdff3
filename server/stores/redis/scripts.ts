/** A Lua script, sent with EVAL (connection.ts says why not EVALSHA). */
export interface Script {
  readonly source: string;
}

function script(source: string): Script {
  return { source };
}

// Every key a script touches is one of its KEYS, and all of them share the hash tag of one shard
// (keys.ts), as Redis Cluster requires of a script. The one key a script could only learn inside
// (the index of the user a session had before) is left to a second step: a member left behind by
// a failure between the two lists a session that is gone or now another user's, which every
// reader and the sweep already skip or prune. A session missing from its user's index (which a
// revoke would miss) cannot happen: the session and its new index entry are written together.

/**
 * KEYS sess, user (of ARGV uid, same shard); ARGV sid, data, exp, px, uid. Writes a session and its
 * index entry in one step; returns the user it had before when that was another one ('' if not),
 * whose index entry the caller then removes.
 */
export const SET_SESSION = script(`
local old = redis.call('HGET', KEYS[1], 'uid') or ''
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'exp', ARGV[3], 'uid', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if ARGV[5] ~= '' then
  redis.call('SADD', KEYS[2], ARGV[1])
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
end
if old ~= ARGV[5] then return old end
return ''
`);

/**
 * KEYS sess; ARGV now ('' = whatever its expiry). Deletes a session: { 1, its user ('' for
 * none) } when it did, { 0 } when there was none or it had not expired by `now`. The caller then
 * removes the index entry.
 */
export const DESTROY_SESSION = script(`
local v = redis.call('HMGET', KEYS[1], 'exp', 'uid')
if not v[1] then
  redis.call('DEL', KEYS[1])
  return { 0 }
end
if ARGV[1] ~= '' and tonumber(v[1]) > tonumber(ARGV[1]) then return { 0 } end
redis.call('DEL', KEYS[1])
return { 1, v[2] or '' }
`);

/**
 * KEYS user, sess… (the sessions of some members of that set, one shard); ARGV uid, now, all
 * ('1' revoke, '0' prune), sid… (the members, in the order of their keys). Members whose session
 * is gone or now another user's leave the set; with all = '1' every session of the user is
 * deleted (returns how many were live), with '0' the expired ones (returns how many).
 */
export const END_USER_SESSIONS = script(`
local n = 0
for i = 2, #KEYS do
  local sid = ARGV[i + 2]
  local v = redis.call('HMGET', KEYS[i], 'exp', 'uid')
  if not v[1] or v[2] ~= ARGV[1] then
    redis.call('SREM', KEYS[1], sid)
  else
    local live = tonumber(v[1]) > tonumber(ARGV[2])
    if ARGV[3] == '1' or not live then
      redis.call('DEL', KEYS[i])
      redis.call('SREM', KEYS[1], sid)
      if live == (ARGV[3] == '1') then n = n + 1 end
    end
  end
end
return n
`);

/**
 * KEYS sess… (one slot); ARGV now. Deletes the expired sessions among KEYS; returns how many. Their
 * index entries go in the sweep's next pass (END_USER_SESSIONS), which finds them gone.
 */
export const SWEEP_SESSIONS = script(`
local n = 0
for _, key in ipairs(KEYS) do
  local exp = redis.call('HGET', key, 'exp')
  if not exp then
    redis.call('DEL', key)
  elseif tonumber(exp) <= tonumber(ARGV[1]) then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
`);

/** KEYS claim/lock… (one slot); ARGV now. Deletes the expired ones (value "<expiry>" or "<expiry>:<token>"). */
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

/**
 * KEYS channel (the channel's own name, as a key); ARGV message. PUBLISH through a script only to
 * name a key: a Cluster client sends a keyless PUBLISH to any node, and messages that entered
 * the Cluster at different nodes reached subscribers out of order. Routed by the key, every
 * message of the channel enters at the same node, and a node forwards in order.
 */
export const PUBLISH = script(`
return redis.call('PUBLISH', KEYS[1], ARGV[1])
`);
