import type { ClientResponse } from './browser-client';

/**
 * Asserts an RFC 9457 problem answer made by the gateway: the status, application/problem+json,
 * the members the contract names, the response's own request id, and no stack trace. Returns the body.
 */
export function expectProblem(
  res: Pick<ClientResponse, 'status' | 'headers' | 'text'>,
  status: number,
): Record<string, unknown> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(res.text) as Record<string, unknown>;
  expect(body).toMatchObject({ status, type: expect.any(String), title: expect.any(String) });
  expect(typeof body.detail).toBe('string');
  expect(body.requestId).toBe(res.headers.get('x-request-id'));
  expect(res.text).not.toMatch(/\bat .+\(.+:\d+:\d+\)/);
  return body;
}
