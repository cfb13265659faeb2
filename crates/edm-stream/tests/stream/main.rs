//! edm-stream against a real broker with real Socket.io clients: the
//! Socket.io surface and resuming. One test binary, a module per subject.

mod original_apps;
mod resume;
mod socketio;
