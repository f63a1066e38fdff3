import { loadConfig } from '../config/load-config';
import { GENESYS_REGIONS, GENESYS_REGION_KEYS, resolveRegion } from '../config/regions';

// The official SDKs' region table (purecloud-platform-client-v2 region keys), written out again
// here so that an edit to config/regions.ts has to be deliberate.
const EXPECTED: [string, string][] = [
  ['us_east_1', 'mypurecloud.com'],
  ['eu_west_1', 'mypurecloud.ie'],
  ['ap_southeast_2', 'mypurecloud.com.au'],
  ['ap_northeast_1', 'mypurecloud.jp'],
  ['eu_central_1', 'mypurecloud.de'],
  ['us_west_2', 'usw2.pure.cloud'],
  ['ca_central_1', 'cac1.pure.cloud'],
  ['ap_northeast_2', 'apne2.pure.cloud'],
  ['eu_west_2', 'euw2.pure.cloud'],
  ['ap_south_1', 'aps1.pure.cloud'],
  ['us_east_2', 'use2.us-gov-pure.cloud'],
  ['sa_east_1', 'sae1.pure.cloud'],
  ['me_central_1', 'mec1.pure.cloud'],
  ['ap_northeast_3', 'apne3.pure.cloud'],
  ['eu_central_2', 'euc2.pure.cloud'],
  ['mx_central_1', 'mxc1.pure.cloud'],
  ['ap_southeast_1', 'apse1.pure.cloud'],
  ['eusc_de_east_1', 'edee1.eusc-pure.cloud'],
];

const BASE = {
  PUBLIC_BASE_URL: 'https://app.example.com',
  OAUTH_CLIENT_ID: 'client-id',
  SESSION_SECRET: 'a-session-secret-of-at-least-32-characters',
};

describe('Genesys regions', () => {
  it('holds the 18 official SDK region keys', () => {
    expect(Object.entries(GENESYS_REGIONS)).toEqual(EXPECTED);
    expect(GENESYS_REGION_KEYS).toEqual(EXPECTED.map(([key]) => key));
    expect(Object.isFrozen(GENESYS_REGIONS)).toBe(true);
  });

  it.each(EXPECTED)('GENESYS_REGION=%s gives the API and login hosts of %s', (key, domain) => {
    expect(loadConfig({ ...BASE, GENESYS_REGION: key }, () => '').genesys).toEqual({
      region: domain,
      apiBaseUrl: `https://api.${domain}`,
      loginBaseUrl: `https://login.${domain}`,
    });
  });

  it.each(EXPECTED)('the domain of %s, %s, passes through as is', (_key, domain) => {
    expect(resolveRegion(domain)).toBe(domain);
  });

  it('reads a key case-insensitively and with hyphens', () => {
    expect(resolveRegion('EU_WEST_1')).toBe('mypurecloud.ie');
    expect(resolveRegion('ap-southeast-2')).toBe('mypurecloud.com.au');
    expect(resolveRegion(' us_east_1 ')).toBe('mypurecloud.com');
  });

  it('accepts a domain that is not in the table, for regions opened later', () => {
    expect(resolveRegion('xyz9.pure.cloud')).toBe('xyz9.pure.cloud');
    expect(resolveRegion('MyPureCloud.IE')).toBe('mypurecloud.ie');
  });

  it.each([
    'mars_north_1',
    'localhost',
    'https://mypurecloud.com',
    'mypurecloud.com/',
    'api.mypurecloud.com',
    'login.mypurecloud.ie',
    'mypurecloud..com',
    '-bad.pure.cloud',
    'toString',
    '__proto__',
    '',
  ])('refuses %j', (value) => {
    expect(resolveRegion(value)).toBeUndefined();
  });
});
