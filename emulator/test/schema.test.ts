import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { EmulatorClient, GenesysEmulator } from '../genesys-emulator';
import { ADMIN_USER, AGENT_USER, startEmulator } from '../genesys-emulator';
import { API_ROUTES } from '../routes';

// The Genesys Tokens API models (Swagger 2.0), copied into the repo: a clone needs nothing beside it.
const SPEC_PATH = path.resolve(__dirname, '../tokens-openapi.json');

interface Operation {
  operationId: string;
  responses: Record<string, unknown>;
}
interface Spec {
  paths: Record<string, Record<string, Operation>>;
  definitions: Record<string, unknown>;
}

const spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as Spec;

/**
 * Swagger 2.0 models allow unknown fields; adding additionalProperties:false wherever a model
 * lists its properties makes the check catch any field the emulator invents.
 */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    out[key] = key === 'properties' ? mapValues(value, closed) : closed(value);
  }
  if ('properties' in out && !('additionalProperties' in out)) out.additionalProperties = false;
  return out;
}

function mapValues(value: unknown, fn: (v: unknown) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = fn(v);
  return out;
}

const ajv = new Ajv({ allErrors: true, strict: true });
addFormats(ajv);
// Swagger numeric formats: annotations for JSON Schema, checked as ranges here.
ajv.addFormat('int32', { type: 'number', validate: (n: number) => n >= -(2 ** 31) && n < 2 ** 31 });
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
ajv.addSchema({ $id: 'genesys', definitions: closed(spec.definitions) });

function model(name: string): ValidateFunction {
  const validate = ajv.getSchema(`genesys#/definitions/${name}`);
  if (!validate) throw new Error(`no model ${name}`);
  return validate;
}

function expectValid(name: string, value: unknown): void {
  const validate = model(name);
  const ok = validate(value);
  expect({ model: name, errors: ok ? null : validate.errors, value }).toEqual({
    model: name,
    errors: null,
    value,
  });
}

const CLIENT: EmulatorClient = {
  id: 'schema-client',
  secret: 'schema-secret',
  name: 'Schema',
  redirectUris: ['http://app.test/auth/callback'],
};

let emu: GenesysEmulator;
let admin: string;
let agent: string;

beforeAll(async () => {
  emu = await startEmulator({ clients: [CLIENT] });
});

afterAll(async () => {
  await emu.close();
});

beforeEach(() => {
  emu.clearFaults();
  emu.setIdleTimeout({ enableIdleTokenTimeout: false, idleTokenTimeoutSeconds: 900 });
  admin = emu.issueToken(ADMIN_USER.id, CLIENT.id).access_token;
  agent = emu.issueToken(AGENT_USER.id, CLIENT.id).access_token;
});

async function call(
  method: string,
  urlPath: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${emu.url}${urlPath}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
}

describe('the spec and the emulator serve the same operations', () => {
  const tokenRoutes = API_ROUTES.filter((r) => r.path.startsWith('/api/v2/tokens'));

  it('exactly the six Tokens operations', () => {
    const inSpec = Object.entries(spec.paths).flatMap(([p, ops]) =>
      Object.entries(ops).map(([m, op]) => `${m.toUpperCase()} ${p} ${op.operationId}`),
    );
    const served = tokenRoutes.map((r) => `${r.method} ${r.path} ${r.operation}`);
    expect(inSpec).toHaveLength(6);
    expect(served.sort()).toEqual(inSpec.sort());
  });

  it('each answers the success status the spec documents', async () => {
    const paths: Record<string, string> = {
      '/api/v2/tokens/{userId}': `/api/v2/tokens/${AGENT_USER.id}`,
    };
    for (const route of tokenRoutes) {
      const body = route.method === 'PUT' ? { idleTokenTimeoutSeconds: 600 } : undefined;
      // A fresh token each time: deleteTokensMe revokes the one it is called with.
      const token = emu.issueToken(ADMIN_USER.id, CLIENT.id).access_token;
      const { status } = await call(route.method, paths[route.path] ?? route.path, token, body);
      const documented = Object.keys(
        spec.paths[route.path]?.[route.method.toLowerCase()]?.responses ?? {},
      );
      const success = documented.filter((s) => s === 'default' || s.startsWith('2'));
      const ok = success.includes(String(status)) || (success.includes('default') && status < 300);
      expect({ operation: route.operation, status, ok }).toEqual({
        operation: route.operation,
        status,
        ok: true,
      });
    }
  });
});

describe('successful answers match their models', () => {
  it('TokenInfo, without and with the idle timeout', async () => {
    expectValid('TokenInfo', (await call('GET', '/api/v2/tokens/me', agent)).json);
    emu.setIdleTimeout({ enableIdleTokenTimeout: true });
    const info = (await call('GET', '/api/v2/tokens/me?preserveIdleTTL=true', agent)).json;
    expect(info).toHaveProperty('dateTokenIdles');
    expectValid('TokenInfo', info);
  });

  it('IdleTokenTimeout from GET and from a full PUT', async () => {
    expectValid('IdleTokenTimeout', (await call('GET', '/api/v2/tokens/timeout', agent)).json);
    const put = await call('PUT', '/api/v2/tokens/timeout', admin, {
      idleTokenTimeoutSeconds: 3600,
      enableIdleTokenTimeout: false,
      inactivityTimeoutUnit: 'Hours',
      inactivityTimeoutGroupsEnabled: true,
      inactivityTimeoutGroupBundles: [
        { priority: 2, timeoutSeconds: 7200, inactivityTimeoutUnit: 'Hours', groups: ['a', 'b'] },
      ],
    });
    expect(put.status).toBe(200);
    expectValid('IdleTokenTimeout', put.json);
  });

  it('the strict check does catch an invented field', () => {
    expect(model('TokenInfo')({ userId: 'x' })).toBe(false);
    expect(model('ErrorBody')({ message: 'm', stack: 'x' })).toBe(false);
  });
});

describe('error answers are ErrorBody', () => {
  it.each([
    [
      '400 bad query value',
      'GET',
      '/api/v2/tokens/me?preserveIdleTTL=maybe',
      'agent',
      undefined,
      400,
    ],
    [
      '400 out of range',
      'PUT',
      '/api/v2/tokens/timeout',
      'admin',
      { idleTokenTimeoutSeconds: 1 },
      400,
    ],
    ['401 no token', 'GET', '/api/v2/tokens/me', undefined, undefined, 401],
    ['401 bad token', 'GET', '/api/v2/tokens/timeout', 'forged', undefined, 401],
    [
      '403 missing permission',
      'DELETE',
      `/api/v2/tokens/${ADMIN_USER.id}`,
      'agent',
      undefined,
      403,
    ],
    ['404 unknown user', 'DELETE', '/api/v2/tokens/nobody', 'admin', undefined, 404],
    ['404 unknown route', 'GET', '/api/v2/elsewhere', 'admin', undefined, 404],
    ['405 wrong method', 'PATCH', '/api/v2/tokens/timeout', 'admin', undefined, 405],
  ])('%s', async (_label, method, urlPath, who, body, status) => {
    const token = who === 'admin' ? admin : who === 'agent' ? agent : who;
    const res = await call(method, urlPath, token, body);
    expect(res.status).toBe(status);
    expectValid('ErrorBody', res.json);
  });

  it('415 for a non-JSON PUT', async () => {
    const res = await fetch(`${emu.url}/api/v2/tokens/timeout`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(res.status).toBe(415);
    expectValid('ErrorBody', await res.json());
  });

  it.each([429, 500, 503, 504])('%d made by the fault helper', async (status) => {
    emu.fault({ operation: 'getTokensMe' }, { status });
    const res = await call('GET', '/api/v2/tokens/me', agent);
    expect(res.status).toBe(status);
    expectValid('ErrorBody', res.json);
  });
});
