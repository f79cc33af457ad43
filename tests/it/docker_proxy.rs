//! A unix-socket proxy in front of the Docker engine's socket, which a test cuts and restores: the
//! worker talks to the engine through it (`DOCKER_HOST=unix://<path>`), so its connection can be
//! lost without touching the shared engine. Cut: every open connection is shut down and the socket
//! file removed (new connections fail at once); restore: the socket is bound again.

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The engine's socket: `DOCKER_HOST` when it is `unix://`, else the usual path.
pub(crate) fn engine_socket() -> PathBuf {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => PathBuf::from(&host["unix://".len()..]),
        _ => PathBuf::from("/var/run/docker.sock"),
    }
}

pub(crate) struct Proxy {
    path: PathBuf,
    up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Connections accepted so far (a cut then a reconnect shows as more).
    pub(crate) accepted: Arc<AtomicUsize>,
}

impl Proxy {
    /// A proxy at a fresh path under the temporary directory, up.
    pub(crate) fn start() -> Proxy {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "mgit-docker-proxy-{}-{}.sock",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let upstream = engine_socket();
        let up = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (path, up, stop, accepted) =
                (path.clone(), up.clone(), stop.clone(), accepted.clone());
            std::thread::spawn(move || serve(&path, &upstream, &up, &stop, &accepted))
        };
        let proxy = Proxy {
            path,
            up,
            stop,
            thread: Some(thread),
            accepted,
        };
        proxy.wait_for(true);
        proxy
    }

    /// `DOCKER_HOST` for a client of the proxy.
    pub(crate) fn docker_host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Shuts every connection down and stops listening.
    pub(crate) fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.wait_for(false);
    }

    /// Listens again.
    pub(crate) fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
        self.wait_for(true);
    }

    /// Waits (bounded) until the socket file exists or not.
    fn wait_for(&self, exists: bool) {
        for _ in 0..500 {
            if self.path.exists() == exists {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the proxy at {} did not change state", self.path.display());
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The proxy's loop: listen while `up`, forward each connection to `upstream` in two copying
/// threads; when `up` goes false, shut down every connection and remove the socket.
fn serve(path: &Path, upstream: &Path, up: &AtomicBool, stop: &AtomicBool, accepted: &AtomicUsize) {
    let mut listener: Option<UnixListener> = None;
    let open: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
    while !stop.load(Ordering::SeqCst) {
        let want = up.load(Ordering::SeqCst);
        if want && listener.is_none() {
            let _ = std::fs::remove_file(path);
            let l = UnixListener::bind(path).expect("the proxy binds its socket");
            l.set_nonblocking(true).unwrap();
            listener = Some(l);
        }
        if !want && listener.is_some() {
            listener = None;
            let _ = std::fs::remove_file(path);
            for s in open.lock().unwrap().drain(..) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        match listener.as_ref().map(UnixListener::accept) {
            Some(Ok((client, _))) => {
                accepted.fetch_add(1, Ordering::SeqCst);
                client.set_nonblocking(false).unwrap();
                let Ok(engine) = UnixStream::connect(upstream) else {
                    continue;
                };
                let mut list = open.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(engine.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), engine.try_clone().unwrap()),
                    (engine, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    for s in open.lock().unwrap().drain(..) {
        let _ = s.shutdown(std::net::Shutdown::Both);
    }
}
