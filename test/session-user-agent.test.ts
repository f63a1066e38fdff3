import { summarizeUserAgent } from '../server/session/user-agent';

describe('summarizeUserAgent', () => {
  it.each([
    [
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.8078.73 Safari/537.36',
      'Chrome 156 on Linux',
    ],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
      'Edge 131 on Windows',
    ],
    [
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:133.0) Gecko/20100101 Firefox/133.0',
      'Firefox 133 on macOS',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
      'Safari 18 on iOS',
    ],
    ['curl/8.5.0', 'Unknown browser'],
    [undefined, 'Unknown browser'],
  ])('summarizes %s as %s', (header, summary) => {
    expect(summarizeUserAgent(header)).toBe(summary);
  });

  it('never passes on the raw header: markup, control characters and length stay out', () => {
    const hostile = `<script>alert(1)</script>\u0007 Chrome/1${'9'.repeat(5000)} ${'x'.repeat(10_000)}`;
    const summary = summarizeUserAgent(hostile);
    expect(summary).toMatch(/^[A-Za-z0-9 ]{1,64}$/);
  });
});
