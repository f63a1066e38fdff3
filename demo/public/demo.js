// Calls the gateway's same-origin routes. The session cookie is HttpOnly: this script cannot read
// it, and no response it receives holds a token.
(function () {
  const status = document.getElementById('status');
  const output = document.getElementById('output');

  async function call(method, path) {
    status.textContent = method + ' ' + path + ' …';
    const res = await fetch(path, {
      method,
      headers: { 'X-CSRF': '1' },
      credentials: 'same-origin',
    });
    const text = method === 'HEAD' ? '' : await res.text();
    status.textContent = method + ' ' + path + ' → ' + res.status;
    let shown = text;
    try {
      shown = text ? JSON.stringify(JSON.parse(text), null, 2) : '(no body)';
    } catch {
      // not JSON: show as is
    }
    output.textContent = shown;
  }

  function on(id, method, path) {
    document.getElementById(id).addEventListener('click', function () {
      call(method, path).catch(function (err) {
        status.textContent = 'Request failed: ' + err.message;
      });
    });
  }

  on('show', 'GET', '/session');
  on('verify', 'HEAD', '/session');
  on('verify-preserve', 'HEAD', '/session?preserveIdleTTL=true');
  on('timeout', 'GET', '/admin/tokens/timeout');
  on('logout', 'DELETE', '/session');
})();
