//! Real Redis and nginx for the cluster tests: each started from Debian's binaries
//! (`scripts/install-deps.sh` installs them) on a free loopback port, with a directory and a
//! configuration of its own, in the foreground (never daemonized), and stopped by its pid when
//! dropped. A system-wide instance is never touched.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use std::{fs, io, thread};

/// How long a service may take to accept connections after its start.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A directory of its own under the system's temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory whose name starts with `prefix`.
    pub fn new(prefix: &str) -> io::Result<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{prefix}-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            clock_nanos()
        );
        let path = std::env::temp_dir().join(name);
        fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A free TCP port on 127.0.0.1 for a server the caller starts soon after, and one no one else
/// is given meanwhile.
///
/// Not one the system picks (`bind` to port 0): that comes from the ephemeral range, which every
/// outgoing connection draws its own port from, and a port closed again to be handed to a child
/// process may be taken by a connection, or by another test's `bind`, before the child binds it
/// (a chat process of the cluster tests once died of it). So the ports come from just below that
/// range, each one once per test process, from a start that differs from one process to the
/// next; a port that cannot be bound now is skipped.
pub fn free_port() -> io::Result<u16> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static START: OnceLock<usize> = OnceLock::new();
    let Some(ports) = reserved_ports() else {
        return Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port());
    };
    let start = *START
        .get_or_init(|| (std::process::id() as usize).wrapping_mul(7919) ^ clock_nanos() as usize);
    let span = ports.len();
    for _ in 0..span {
        let offset = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        // Lossless: offset < span, a number of ports.
        let port = ports.start + offset as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("no free port in {ports:?}"),
    ))
}

/// The ports [`free_port`] hands out: the 8,192 just below the system's ephemeral range
/// (Linux: `ip_local_port_range`); none where that range is unknown or starts too low.
fn reserved_ports() -> Option<std::ops::Range<u16>> {
    const SPAN: u16 = 8192;
    let ephemeral: u16 = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    (ephemeral >= 1024 + SPAN).then(|| ephemeral - SPAN..ephemeral)
}

/// The clock's nanoseconds within the second: what makes names and ports differ from one test
/// process to the next.
fn clock_nanos() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

/// A child process stopped by its pid when dropped: SIGTERM, then SIGKILL if it lingers.
#[derive(Debug)]
struct Owned(Child);

impl Owned {
    fn stop(&mut self) {
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `redis-server` of the test's own: no persistence, bound to 127.0.0.1, in the foreground.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    process: Option<Owned>,
}

impl RedisServer {
    /// Starts one on a free port and waits until it answers `PING`.
    pub fn start() -> io::Result<Self> {
        let mut server = Self {
            port: free_port()?,
            dir: TempDir::new("jrpc-redis")?,
            process: None,
        };
        server.restart()?;
        Ok(server)
    }

    /// Its `redis://` URL (RESP3, which the cluster backend needs for pub/sub on one connection).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/?protocol=resp3", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops it (SIGTERM, by pid); its data is gone, as after a crash without persistence.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
    }

    /// Kills it with SIGKILL, by pid.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.0.kill();
            let _ = process.0.wait();
        }
    }

    /// (Re)starts it on the same port and waits until it answers `PING`.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        let log = fs::File::create(self.dir.path().join("redis.log"))?;
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--protected-mode", "yes"])
            .args(["--daemonize", "no", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("redis-server: {e} (scripts/install-deps.sh installs it)"),
                )
            })?;
        self.process = Some(Owned(child));
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if self.ping().is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log = fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("redis-server did not answer within {READY_WITHIN:?}: {log}"),
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The pid of its process, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.0.id())
    }

    /// Sends one command in Redis's inline form (`"DBSIZE"`) and returns the first line of its
    /// answer, for tests and benchmarks that look inside.
    pub fn command(&self, line: &str) -> io::Result<String> {
        let mut stream = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], self.port)))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(format!("{line}\r\n").as_bytes())?;
        let mut answer = Vec::new();
        let mut buf = [0; 4096];
        while !answer.ends_with(b"\r\n") {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
        Ok(String::from_utf8_lossy(&answer).trim_end().to_owned())
    }

    fn ping(&self) -> io::Result<()> {
        match self.command("PING")?.as_str() {
            "+PONG" => Ok(()),
            other => Err(io::Error::other(other.to_owned())),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An nginx of the test's own, in the foreground (`daemon off`), with its configuration,
/// pid file, logs and temporary files in a directory of its own.
#[derive(Debug)]
pub struct Nginx {
    port: u16,
    dir: TempDir,
    _process: Owned,
}

impl Nginx {
    /// Starts nginx listening on 127.0.0.1:`port` (0: a free one) in front of `upstreams`
    /// (each serving its page and the WebSocket upgrade on `/`): requests and upgrades are
    /// spread over them (round robin); waits until it accepts connections.
    pub fn start(port: u16, upstreams: &[SocketAddr]) -> io::Result<Self> {
        let port = if port == 0 { free_port()? } else { port };
        let dir = TempDir::new("jrpc-nginx")?;
        let conf = dir.path().join("nginx.conf");
        fs::write(&conf, nginx_conf(port, upstreams, dir.path()))?;
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("nginx: {e} (scripts/install-deps.sh installs it)"),
                )
            })?;
        let process = Owned(child);
        let deadline = Instant::now() + READY_WITHIN;
        while TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_err() {
            if Instant::now() > deadline {
                let log = fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("nginx did not listen within {READY_WITHIN:?}: {log}"),
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(Self {
            port,
            dir,
            _process: process,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its error log so far.
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

/// The configuration `scripts/cluster.sh` writes (and the README shows), for one listening
/// port and the given upstreams, with every path under `dir`.
pub fn nginx_conf(port: u16, upstreams: &[SocketAddr], dir: &Path) -> String {
    let servers: String = upstreams
        .iter()
        .map(|a| format!("    server {a} max_fails=1 fail_timeout=2s;\n"))
        .collect();
    let dir = dir.display();
    format!(
        "worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/client_body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  upstream jrpc {{
{servers}  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://jrpc;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 75s;
      proxy_send_timeout 75s;
    }}
  }}
}}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..64).map(|_| free_port().unwrap()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        if let Some(reserved) = reserved_ports() {
            assert!(ports.iter().all(|p| reserved.contains(p)), "{ports:?}");
        }
        for port in ports {
            TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
    }
}
