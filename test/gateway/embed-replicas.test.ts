import { ADMIN_USER, startEmulator, type GenesysEmulator } from '../../emulator/genesys-emulator';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET, type Harness } from '../support/gateway-harness';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { carryCookies, startRedisReplica } from '../support/replica-helpers';
import { expectProblem } from '../support/expect-problem';

// A popup's login answered by one replica is handed over on another (docs/embedded.md): the
// staged login lives in the shared store, not in the process that made it.
let redis: RedisServer;
let emulator: GenesysEmulator;
let a: Harness;
let b: Harness;

beforeAll(async () => {
  redis = await startRedisServer();
  emulator = await startEmulator();
  const embedded = { EMBED_ORIGINS: 'genesys' };
  a = await startRedisReplica(emulator, redis.url, 'embed-replicas:', embedded);
  b = await startRedisReplica(emulator, redis.url, 'embed-replicas:', embedded);
  emulator.addClient({
    id: TEST_CLIENT_ID,
    secret: TEST_CLIENT_SECRET,
    name: 'tokens-bff replicas',
    redirectUris: [a.config.oauth.redirectUri, b.config.oauth.redirectUri],
  });
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await emulator?.close();
  await redis?.stop();
});

const handoff = (frame: ReturnType<Harness['client']>, code: string) =>
  frame.request('POST', '/auth/handoff', {
    csrf: true,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ code }),
  });

describe('popup login across two replicas on one Redis', () => {
  it('stages the login on replica A and hands it over on replica B, once', async () => {
    const frameOnA = a.client();
    const asked = await frameOnA.request('POST', '/auth/popup', { csrf: true });
    expect(asked.status).toBe(200);
    emulator.autoApprove(ADMIN_USER.id);
    const page = await a.client().follow(asked.json<{ loginUrl: string }>().loginUrl);
    const code = /data-code="([^"]+)"/.exec(page.text)?.[1] as string;
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const frameOnB = carryCookies(frameOnA, b.client());
    expect((await handoff(frameOnB, code)).status).toBe(204);
    expect((await frameOnB.get('/session', { csrf: true })).status).toBe(200);
    // Spent for every replica.
    expectProblem(await handoff(carryCookies(frameOnB, a.client()), code), 400);
  });
});
