import type { RequestHandler } from 'express';
import { ForbiddenError } from '../core/errors';

/**
 * Anti-forgery for state-changing and token-bearing routes (docs/contract.md#anti-forgery,
 * RFC 10017 BFF): a custom header forces a CORS preflight that the gateway never answers; Origin and
 * Sec-Fetch-Site refuse other origins, including other apps on the same site.
 * With `originStandsIn`, an exact same Origin replaces the header (plain HTML form posts).
 */
export function requireAntiForgery(
  publicOrigin: string,
  options: {
    originStandsIn?: boolean;
    /**
     * No X-CSRF needed (EventSource cannot send one): for a GET that changes nothing and reveals
     * only its own session's end; Origin and Sec-Fetch-Site are still checked.
     */
    headerOptional?: boolean;
  } = {},
): RequestHandler {
  return (req, _res, next) => {
    const origin = req.get('origin');
    // The refused values are not echoed: they are the attacker's text, up to the header limit.
    if (origin !== undefined && origin !== publicOrigin) {
      return next(new ForbiddenError('Cross-origin request refused: Origin is not this site.'));
    }
    const site = req.get('sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      return next(
        new ForbiddenError(
          'Cross-site request refused: Sec-Fetch-Site must be same-origin or none.',
        ),
      );
    }
    const header = req.get('x-csrf');
    if (header === '1') return next();
    if (options.originStandsIn && origin === publicOrigin) return next();
    if (options.headerOptional) return next();
    next(new ForbiddenError('Missing anti-forgery header: send X-CSRF: 1.'));
  };
}
