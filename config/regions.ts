/**
 * Genesys Cloud regions: the official SDK region keys and the domain each one maps to.
 * The API lives at https://api.{domain} and the login server at https://login.{domain}.
 * Source: the region tables of the official Genesys Cloud SDKs (purecloud-platform-client-v2).
 */
export const GENESYS_REGIONS: Readonly<Record<string, string>> = Object.freeze({
  us_east_1: 'mypurecloud.com',
  eu_west_1: 'mypurecloud.ie',
  ap_southeast_2: 'mypurecloud.com.au',
  ap_northeast_1: 'mypurecloud.jp',
  eu_central_1: 'mypurecloud.de',
  us_west_2: 'usw2.pure.cloud',
  ca_central_1: 'cac1.pure.cloud',
  ap_northeast_2: 'apne2.pure.cloud',
  eu_west_2: 'euw2.pure.cloud',
  ap_south_1: 'aps1.pure.cloud',
  us_east_2: 'use2.us-gov-pure.cloud',
  sa_east_1: 'sae1.pure.cloud',
  me_central_1: 'mec1.pure.cloud',
  ap_northeast_3: 'apne3.pure.cloud',
  eu_central_2: 'euc2.pure.cloud',
  mx_central_1: 'mxc1.pure.cloud',
  ap_southeast_1: 'apse1.pure.cloud',
  eusc_de_east_1: 'edee1.eusc-pure.cloud',
});

/** The SDK region keys, in the order of the table above. */
export const GENESYS_REGION_KEYS: readonly string[] = Object.freeze(Object.keys(GENESYS_REGIONS));

/** Why a GENESYS_REGION value was refused; shared by the schema and the tests. */
export const UNKNOWN_REGION_MESSAGE = `must be one of ${GENESYS_REGION_KEYS.join(', ')} or a region domain such as mypurecloud.com`;

// A DNS name with at least two labels. Domains not in the table are accepted so that a region
// Genesys opens after this release works without a code change.
const DOMAIN =
  /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

/**
 * Resolves GENESYS_REGION to a region domain: an SDK key (case-insensitive; `us-east-1` is read
 * as `us_east_1`) maps through the table, a domain is returned as is (lower-cased). Returns
 * undefined for anything else, including a host with an `api.` or `login.` prefix, which would
 * otherwise become `api.api.…`.
 */
export function resolveRegion(value: string): string | undefined {
  const normalized = value.trim().toLowerCase();
  const key = normalized.replace(/-/g, '_');
  if (Object.prototype.hasOwnProperty.call(GENESYS_REGIONS, key)) {
    return GENESYS_REGIONS[key];
  }
  if (!DOMAIN.test(normalized) || /^(?:api|login)\./.test(normalized)) {
    return undefined;
  }
  return normalized;
}
