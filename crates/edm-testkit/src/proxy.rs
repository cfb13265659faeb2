//! [`Proxy`]: Debian's nginx in front of several instances of a service,
//! as a router in front of dynos, WebSockets passed through. Either every
//! request goes to the next instance ([`Balance::EachRequest`], Heroku's
//! router without session affinity) or each client address sticks to one
//! instance ([`Balance::ByClientAddress`], session affinity: give each
//! client its own 127.x.y.z). A connection an instance refuses goes to the
//! next one, and no instance is set aside for refusing. One process
//! (`master_process off`), so that killing it leaves nothing behind.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How the proxy picks an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// Round-robin, request by request.
    EachRequest,
    /// Every request from one client address to the same instance (a hash
    /// of the whole address: nginx's `ip_hash` would use only its first
    /// three bytes, putting every 127.0.0.x on one instance).
    ByClientAddress,
}

/// nginx on a free port of 127.0.0.1; stopped when dropped.
pub struct Proxy {
    child: Child,
    /// Its port.
    pub port: u16,
    dir: PathBuf,
}

impl Proxy {
    /// nginx in front of the instances listening on `backends`.
    pub fn start(backends: &[u16], balance: Balance) -> Self {
        let dir = std::env::temp_dir().join(format!("edm-nginx-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a folder for nginx");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // `max_fails=0`: an instance that refused a connection (stopped a
        // moment for a restart) is tried again by the next request, as
        // Heroku's router does. By default nginx would set it aside for 10 s
        // and then send it one request at a time until a request to it
        // completes, which a WebSocket does only when it closes: after a
        // deploy every client would queue for one instance at a time.
        let servers: String = backends
            .iter()
            .map(|p| format!("    server 127.0.0.1:{p} max_fails=0;\n"))
            .collect();
        let balance = match balance {
            Balance::EachRequest => "",
            Balance::ByClientAddress => "    hash $remote_addr consistent;\n",
        };
        let d = dir.display();
        let config = format!(
            "master_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log {d}/access.log;\n\
               client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
               upstream service {{\n{balance}{servers}  }}\n\
               server {{\n    listen 127.0.0.1:{port};\n\
                 location / {{\n      proxy_pass http://service;\n      proxy_http_version 1.1;\n\
                   proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection $connection_upgrade;\n\
                   proxy_read_timeout 3600s;\n    }}\n  }}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), config).expect("nginx.conf written");
        let child = Command::new("nginx")
            .args([
                "-p",
                &d.to_string(),
                "-c",
                &format!("{d}/nginx.conf"),
                "-g",
                "daemon off;",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx runs (./edm setup installs it)");
        let proxy = Self { child, port, dir };
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return proxy;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("nginx did not listen on {port}");
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
