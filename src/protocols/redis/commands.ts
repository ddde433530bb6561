// Redis command names: which names are real commands, which take a subcommand, and which of their
// arguments the parser may keep. A name that is not a known command never leaves the agent: a
// client can send anything in the command position (a mistyped password, a key), and span names
// and db.operation.name must hold only command names.
//
// The table is Redis 7.0's `COMMAND LIST` (core commands and container subcommands), with the
// commands later releases added (7.2 … 8.x: hash field expiry, vector sets, WAITAOF, CLIENT
// SETINFO/NO-TOUCH) and the command prefixes of the modules Redis Stack and Redis 8 ship.

const CORE = `
append asking auth bgrewriteaof bgsave bitcount bitfield bitfield_ro bitop bitpos blmove blmpop blpop brpop brpoplpush
bzmpop bzpopmax bzpopmin copy dbsize decr decrby del discard dump echo eval eval_ro evalsha evalsha_ro exec exists
expire expireat expiretime failover fcall fcall_ro flushall flushdb geoadd geodist geohash geopos georadius
georadius_ro georadiusbymember georadiusbymember_ro geosearch geosearchstore get getbit getdel getex getrange getset
hdel hello hexists hget hgetall hincrby hincrbyfloat hkeys hlen hmget hmset hrandfield hscan hset hsetnx hstrlen hvals
incr incrby incrbyfloat info keys lastsave lcs lindex linsert llen lmove lmpop lolwut lpop lpos lpush lpushx lrange
lrem lset ltrim mget migrate monitor move mset msetnx multi persist pexpire pexpireat pexpiretime pfadd pfcount
pfdebug pfmerge pfselftest ping psetex psubscribe psync pttl publish punsubscribe quit randomkey readonly readwrite
rename renamenx replconf replicaof reset restore restore-asking role rpop rpoplpush rpush rpushx sadd save scan scard
sdiff sdiffstore select set setbit setex setnx setrange shutdown sinter sintercard sinterstore sismember slaveof
smembers smismember smove sort sort_ro spop spublish srandmember srem sscan ssubscribe strlen subscribe substr sunion
sunionstore sunsubscribe swapdb sync time touch ttl type unlink unsubscribe unwatch wait watch xack xadd xautoclaim
xclaim xdel xlen xpending xrange xread xreadgroup xrevrange xsetid xtrim zadd zcard zcount zdiff zdiffstore zincrby
zinter zintercard zinterstore zlexcount zmpop zmscore zpopmax zpopmin zrandmember zrange zrangebylex zrangebyscore
zrangestore zrank zrem zremrangebylex zremrangebyrank zremrangebyscore zrevrange zrevrangebylex zrevrangebyscore
zrevrank zscan zscore zunion zunionstore
waitaof hexpire hpexpire hexpireat hpexpireat httl hpttl hexpiretime hpexpiretime hpersist hgetdel hgetex hsetex
vadd vcard vdim vemb vgetattr vinfo vlinks vrandmember vrem vsetattr vsim vismember
xackdel xdelex getdel
`;

/** Commands whose first argument is a subcommand (`COMMAND LIST` shows them as "client|setname"). */
const CONTAINERS: Record<string, string> = {
  acl: 'cat deluser dryrun genpass getuser help list load log save setuser users whoami',
  client: 'caching getname getredir help id info kill list no-evict no-touch pause reply setinfo setname tracking trackinginfo unblock unpause',
  cluster: 'addslots addslotsrange bumpepoch count-failure-reports countkeysinslot delslots delslotsrange failover flushslots forget '
    + 'getkeysinslot help info keyslot links meet myid myshardid nodes replicas replicate reset saveconfig set-config-epoch setslot shards slaves slots',
  command: 'count docs getkeys getkeysandflags help info list',
  config: 'get help resetstat rewrite set',
  function: 'delete dump flush help kill list load restore stats',
  latency: 'doctor graph help histogram history latest reset',
  memory: 'doctor help malloc-stats purge stats usage',
  module: 'help list load loadex unload',
  object: 'encoding freq help idletime refcount',
  pubsub: 'channels help numpat numsub shardchannels shardnumsub',
  script: 'debug exists flush help kill load',
  slowlog: 'get help len reset',
  xgroup: 'create createconsumer delconsumer destroy help setid',
  xinfo: 'consumers groups help stream',
  debug: '',
};

/**
 * Module command prefixes ("JSON.GET", "FT.SEARCH"): RedisJSON, RediSearch, RedisTimeSeries,
 * RedisBloom (BF, CF, CMS, TOPK, TDIGEST), RedisGraph, RedisGears.
 */
const MODULE_PREFIXES = new Set(['JSON', 'FT', 'TS', 'BF', 'CF', 'CMS', 'TOPK', 'TDIGEST', 'GRAPH', 'RG', 'TFUNCTION', 'TFCALL', 'TFCALLASYNC', 'SEARCH']);
/** The part after a module prefix ("JSON.GET" → "GET"). */
const MODULE_NAME = /^[A-Z][A-Z0-9_-]{0,31}$/;

const KNOWN = new Set(CORE.split(/\s+/).filter(Boolean).map((c) => c.toUpperCase()));
const SUBCOMMANDS = new Map<string, Set<string>>();
for (const [name, subs] of Object.entries(CONTAINERS)) {
  KNOWN.add(name.toUpperCase());
  SUBCOMMANDS.set(name.toUpperCase(), new Set(subs.split(/\s+/).filter(Boolean).map((s) => s.toUpperCase())));
}

/** db.operation.name of a command that is not a known Redis command. */
export const OTHER_COMMAND = '_OTHER';

/** The longest command or subcommand name kept: longer names are not commands. */
export const MAX_NAME_BYTES = 32;

/** Upper-cased command name when `raw` names a known command (or a module command), else null. */
export function knownCommand(raw: string): string | null {
  if (raw.length === 0 || raw.length > MAX_NAME_BYTES) return null;
  const upper = raw.toUpperCase();
  if (KNOWN.has(upper)) return upper;
  const dot = upper.indexOf('.');
  if (dot > 0 && MODULE_PREFIXES.has(upper.slice(0, dot)) && MODULE_NAME.test(upper.slice(dot + 1))) return upper;
  return null;
}

/** True when `command` (upper case) takes a subcommand as its first argument. */
export function isContainer(command: string): boolean {
  return SUBCOMMANDS.has(command);
}

/** Upper-cased subcommand when `raw` is one of `container`'s subcommands, else null. */
export function knownSubcommand(container: string, raw: string): string | null {
  const subs = SUBCOMMANDS.get(container);
  if (subs === undefined || raw.length > MAX_NAME_BYTES) return null;
  const upper = raw.toUpperCase();
  return subs.has(upper) ? upper : null;
}

/**
 * May argument `index` (1-based, after the command name) be kept, given what was kept before it
 * (parts[0]: the command name as sent)? Only what changes how the connection behaves is kept: the
 * index of SELECT, the protocol version of HELLO, the subcommand of a container command, and the
 * mode of CLIENT REPLY. Never an argument of AUTH, nor HELLO's AUTH credentials (its 2nd and later
 * arguments), nor any key or value.
 */
export function keepArgument(index: number, parts: ReadonlyArray<string | undefined>): boolean {
  const upper = upperName(parts[0] ?? '');
  if (index === 1) return upper === 'SELECT' || upper === 'HELLO' || SUBCOMMANDS.has(upper);
  if (index === 2) return upper === 'CLIENT' && (parts[1] ?? '').toUpperCase() === 'REPLY';
  return false;
}

// Pipelines repeat one command: its upper-case form is computed once.
let lastRaw = '';
let lastUpper = '';
function upperName(raw: string): string {
  if (raw !== lastRaw) {
    lastRaw = raw;
    lastUpper = raw.length <= MAX_NAME_BYTES ? raw.toUpperCase() : '';
  }
  return lastUpper;
}

/** The pub/sub commands whose replies are confirmations, one per channel or pattern, by kind. */
export const SUBSCRIBE_KINDS: ReadonlyMap<string, string> = new Map([
  ['SUBSCRIBE', 'subscribe'], ['PSUBSCRIBE', 'psubscribe'], ['SSUBSCRIBE', 'ssubscribe'],
  ['UNSUBSCRIBE', 'unsubscribe'], ['PUNSUBSCRIBE', 'punsubscribe'], ['SUNSUBSCRIBE', 'sunsubscribe'],
]);

/** First elements of the pushes that deliver a published message (RESP2 arrays, RESP3 '>'). */
export const MESSAGE_KINDS: ReadonlySet<string> = new Set(['message', 'pmessage', 'smessage']);
