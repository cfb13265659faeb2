// edm-stream's client protocol on top of the official socket.io-client: the
// dashboard uses it, and any other page can copy it (or load it from
// /static/edm-stream-client.js on the dashboard).
//
// - WebSocket transport only: the whole session is one connection, so it
//   works behind a router that sends every HTTP request to a different
//   instance (Heroku's, without session affinity). Long-polling would need
//   every request of a session to reach the same instance.
// - Four kinds of message, each with the record's JSON text and its
//   position: `event` (clicks and page loads, "edm-ui-click/0/1234"),
//   `trending` (edm-trending's window results, "edm-trending/0/17"),
//   `counts` (edm-trending's per-minute counts, "edm-trending-counts/1/8")
//   and `sample` (edm-trending's sample of the store's events, each
//   standing for `stands_for` events, "edm-trending-sample/0/5"). Above
//   its threshold edm-stream sends `sample` instead of `event`: the `stream`
//   message says which (`mode`: "raw" or "summary").
// - Resume without gap or duplicate: the client keeps the highest offset
//   per partition of both kinds and sends them when it reconnects
//   ({ resume: positions } as the connect data, `auth`). Any instance then sends exactly the events
//   after those positions, then live ones, as long as it still holds them
//   (EDM_STREAM_RESUME_EVENTS, EDM_STREAM_RESUME_BYTES); past that the
//   `stream` message says "too_far_behind" and the stream starts fresh.
//
//   const stream = EdmStream.connect(io, "https://edm-stream.example", {
//     event(text, position) { ... JSON.parse(text) ... },
//     trending(text, position) { ... JSON.parse(text).top ... },  // optional
//     counts(text, position) { ... JSON.parse(text).count ... },  // optional
//     sample(text, position) { ... JSON.parse(text).stands_for ... },  // optional
//     status(status) { ... status.start, status.mode, status.gap ... },
//   });
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.EdmStream = factory();
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  /** Keeps `offset` for `key` if it is higher than what is kept. */
  function keep(positions, key, offset) {
    if (typeof offset === 'number' && Number.isFinite(offset) && !(positions[key] >= offset)) {
      positions[key] = offset;
    }
  }

  /**
   * Connects with `io` (socket.io-client's `io`) to edm-stream at `url`.
   * `handlers.event(text, position)` gets each event's JSON text;
   * `handlers.trending(text, position)`, `handlers.counts(text, position)`
   * and `handlers.sample(text, position)`, if given, each record of theirs;
   * `handlers.status(status)` gets each `stream` message: how the stream
   * began on every (re)connection (`start`: "fresh", "resumed" or
   * "too_far_behind", and `replayed`, with the instance's `mode`), a mode
   * change (`mode`, `events_per_second`), or `gap`: events this client
   * lost because it could not keep up. `options` are passed to `io`.
   * Returns the socket.
   */
  function connect(io, url, handlers, options) {
    const positions = {};
    const socket = io(
      url,
      Object.assign(
        {
          transports: ['websocket'],
          auth: (send) => send(Object.keys(positions).length > 0 ? { resume: positions } : {}),
        },
        options || {}
      )
    );
    socket.on('stream', (status) => {
      if (status && typeof status.positions === 'object' && status.positions !== null) {
        for (const [key, offset] of Object.entries(status.positions)) keep(positions, key, offset);
      }
      if (handlers.status) handlers.status(status || {});
    });
    // An instance that stops (a deploy, a restart) says goodbye with a
    // server-side disconnect, after which socket.io-client would stay
    // away: come back, a little later and at a random moment so that the
    // clients of a stopped instance do not all arrive at once.
    socket.on('disconnect', (reason) => {
      if (reason === 'io server disconnect') {
        setTimeout(() => socket.connect(), 250 + Math.random() * 1750);
      }
    });
    /** Keeps a record's position, then hands it to `handler`. */
    function track(handler) {
      return (text, position) => {
        if (typeof position === 'string') {
          const cut = position.lastIndexOf('/');
          keep(positions, position.slice(0, cut), Number(position.slice(cut + 1)));
        }
        if (handler) handler(text, position);
      };
    }
    // Positions are kept even without a handler, so a resume never
    // replays records this page has already been sent.
    for (const kind of ['event', 'trending', 'counts', 'sample']) socket.on(kind, track(handlers[kind]));
    return socket;
  }

  return { connect };
});
