import http from 'node:http';

// Node 20's global agent keeps connections alive. Tests start and stop many servers, and a port
// may be drawn again for the next one while the agent still holds an idle socket to the
// stopped server: the next request on that port then goes out on a dead socket and fails with
// "socket hang up" (CI saw it). A request without its own agent opens a fresh connection; tests
// about keep-alive bring their own agent.
http.globalAgent = new http.Agent({ keepAlive: false });
