// Stand-ins for edm-relay, edm-stats and edm-stream that speak their
// contracts, so the store and the dashboard can be tested in a browser on
// their own. The stream stand-in is the real Socket.io server from npm.
import { createServer } from 'node:http';
import { Server as SocketIoServer } from 'socket.io';

function corsHeaders(request) {
  return {
    'Access-Control-Allow-Origin': request.headers.origin || '*',
    'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
    'Access-Control-Allow-Headers': 'Content-Type, Idempotency-Key, X-Request-Id',
    'Access-Control-Expose-Headers': 'Retry-After',
    'Access-Control-Max-Age': '600',
    Vary: 'Origin',
  };
}

function listen(server) {
  return new Promise((resolveUrl) => {
    server.listen(0, '127.0.0.1', () => resolveUrl(`http://127.0.0.1:${server.address().port}`));
  });
}

function close(server) {
  server.closeAllConnections?.();
  return new Promise((resolveClose) => server.close(() => resolveClose()));
}

/** Polls `check` until it returns something truthy, or fails after `timeoutMs`. */
export async function waitFor(check, timeoutMs = 5000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A relay that records every POST. `respond(request, allRequests)` decides
 * the answer ({ status, headers }); the default accepts everything.
 */
export async function startFakeRelay(respond = () => ({ status: 200 })) {
  const requests = [];
  const server = createServer((request, response) => {
    const cors = corsHeaders(request);
    if (request.method === 'OPTIONS') {
      response.writeHead(204, cors);
      response.end();
      return;
    }
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      let json = null;
      try {
        json = JSON.parse(body);
      } catch (_) {
        json = null;
      }
      const record = { path: request.url, headers: request.headers, body, json, at: Date.now() };
      requests.push(record);
      const answer = respond(record, requests);
      response.writeHead(answer.status, { 'Content-Type': 'application/json', ...cors, ...(answer.headers || {}) });
      response.end(JSON.stringify(answer.status < 300 ? { status: 'accepted' } : { error: 'stand-in refusal' }));
    });
  });
  const url = await listen(server);
  return { url, requests, close: () => close(server) };
}

/** The stats API's two reference endpoints, answering with fixed data. */
export async function startFakeStats({ clickCount = [], clickHistory = [] } = {}) {
  const server = createServer((request, response) => {
    const cors = corsHeaders(request);
    const body =
      request.url === '/api/clickCount' ? clickCount : request.url === '/api/clickHistory' ? clickHistory : null;
    if (request.method === 'OPTIONS') {
      response.writeHead(204, cors);
    } else if (body === null) {
      response.writeHead(404, { 'Content-Type': 'application/json', ...cors });
      response.write('{"error":"not found"}');
    } else {
      response.writeHead(200, { 'Content-Type': 'application/json', ...cors });
      response.write(JSON.stringify(body));
    }
    response.end();
  });
  const url = await listen(server);
  return { url, close: () => close(server) };
}

/**
 * A Socket.io server shaped like edm-stream: each connecting client first
 * gets the recent events (Socket.io event `event`), trending records
 * (`trending`) and counts (`counts`), then every one sent with `emit`,
 * `emitTrending`, `emitCounts` or `emitSample`. Payloads are the records'
 * JSON text.
 */
export async function startFakeStream(recentEvents = [], recentTrending = [], recentCounts = []) {
  const httpServer = createServer();
  const io = new SocketIoServer(httpServer, { cors: { origin: true } });
  const asText = (record) => (typeof record === 'string' ? record : JSON.stringify(record));
  const recent = [
    ...recentEvents.map((event) => ['event', asText(event)]),
    ...recentTrending.map((record) => ['trending', asText(record)]),
    ...recentCounts.map((record) => ['counts', asText(record)]),
  ];
  io.on('connection', (socket) => {
    for (const [kind, text] of recent) socket.emit(kind, text);
  });
  /** Sends one record (an object, or raw text) of `kind` to every client, and to every later one first. */
  const send = (kind, record) => {
    const text = asText(record);
    recent.push([kind, text]);
    io.emit(kind, text);
  };
  const url = await listen(httpServer);
  return {
    url,
    io,
    emit: (event) => send('event', event),
    emitTrending: (record) => send('trending', record),
    emitCounts: (record) => send('counts', record),
    emitSample: (record) => send('sample', record),
    /** A `stream` status message (a mode change, say) to every connected client. */
    emitStatus: (status) => io.emit('stream', status),
    /** Drops every client's connection; they reconnect by themselves. */
    dropClients() {
      for (const socket of io.sockets.sockets.values()) socket.conn.close();
    },
    clientCount: () => io.sockets.sockets.size,
    async close() {
      io.close();
      await close(httpServer);
    },
  };
}
