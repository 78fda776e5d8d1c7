//! A TCP proxy on 127.0.0.1 whose connections break, hang or crawl: what a flaky or slow link
//! does to a long transfer, either way (the SFTP resume and stop tests).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

/// A running proxy (its threads end with the process).
pub struct CutProxy {
    addr: SocketAddr,
    connections: Arc<AtomicU64>,
    upstream: Arc<AtomicU64>,
}

impl CutProxy {
    /// Forwards connections to `target`; the first one is closed, both ways, once `cut_after`
    /// bytes have gone from the target to the client.
    pub fn start(target: SocketAddr, cut_after: u64) -> Self {
        Self::first_cut(target, cut_after, u64::MAX)
    }

    /// As [`CutProxy::start`], counting the bytes that go from the client to the target
    /// instead (an upload cut off).
    pub fn start_upstream(target: SocketAddr, cut_after: u64) -> Self {
        Self::first_cut(target, u64::MAX, cut_after)
    }

    /// Forwards connections to `target`; connection number `which` (from 0) goes silent once
    /// `after` bytes have gone to the client: open both ways, nothing more forwarded (a link
    /// that hangs rather than breaks).
    pub fn start_stalling(target: SocketAddr, which: u64, after: u64) -> Self {
        Self::with(target, move |index| {
            let limit = if index == which { after } else { u64::MAX };
            (Limit::Stall(limit), Limit::Cut(u64::MAX))
        })
    }

    /// Forwards connections to `target`, each direction of each at most `bytes_per_second`: a
    /// slow link, on which a transfer is still under way when a test stops it, however fast
    /// the machine.
    pub fn start_slow(target: SocketAddr, bytes_per_second: u64) -> Self {
        Self::with_rate(target, Some(bytes_per_second), |_| {
            (Limit::Cut(u64::MAX), Limit::Cut(u64::MAX))
        })
    }

    /// As [`CutProxy::start_stalling`], counting the bytes that go to the target.
    pub fn start_stalling_upstream(target: SocketAddr, which: u64, after: u64) -> Self {
        Self::with(target, move |index| {
            let limit = if index == which { after } else { u64::MAX };
            (Limit::Cut(u64::MAX), Limit::Stall(limit))
        })
    }

    /// As [`CutProxy::start`], running `before_cut` once the bytes have gone and before the
    /// connection is closed (to change the server's file while the client does not know yet).
    pub fn start_with(
        target: SocketAddr,
        cut_after: u64,
        before_cut: impl FnOnce() + Send + 'static,
    ) -> Self {
        Self::start_with_then(target, cut_after, before_cut, u64::MAX)
    }

    /// As [`CutProxy::start_with`], and the second connection is cut too, once `then` bytes
    /// have gone to the client.
    pub fn start_with_then(
        target: SocketAddr,
        cut_after: u64,
        before_cut: impl FnOnce() + Send + 'static,
        then: u64,
    ) -> Self {
        let hook = std::sync::Mutex::new(Some(Box::new(before_cut) as Box<dyn FnOnce() + Send>));
        let hook = Arc::new(hook);
        Self::with(target, move |index| match index {
            0 => (
                Limit::CutAfter(cut_after, hook.clone()),
                Limit::Cut(u64::MAX),
            ),
            1 => (Limit::Cut(then), Limit::Cut(u64::MAX)),
            _ => (Limit::Cut(u64::MAX), Limit::Cut(u64::MAX)),
        })
    }

    /// Forwards connections to `target`, each closed once `down` bytes went to the client or
    /// `up` bytes to the target: a link that keeps breaking.
    pub fn start_cutting_every(target: SocketAddr, down: u64, up: u64) -> Self {
        Self::with(target, move |_| (Limit::Cut(down), Limit::Cut(up)))
    }

    /// As [`CutProxy::start`], and the `refused` connections after the first are closed at
    /// once (a server restarting).
    pub fn start_then_refusing(target: SocketAddr, cut_after: u64, refused: u64) -> Self {
        Self::first_cut_then_refusing(target, (cut_after, u64::MAX), refused)
    }

    /// As [`CutProxy::start_then_refusing`], the first connection cut once `up` bytes went to
    /// the target.
    pub fn start_upstream_then_refusing(target: SocketAddr, up: u64, refused: u64) -> Self {
        Self::first_cut_then_refusing(target, (u64::MAX, up), refused)
    }

    fn first_cut_then_refusing(target: SocketAddr, (down, up): (u64, u64), refused: u64) -> Self {
        Self::with(target, move |index| match index {
            0 => (Limit::Cut(down), Limit::Cut(up)),
            n if n <= refused => (Limit::Cut(0), Limit::Cut(0)),
            _ => (Limit::Cut(u64::MAX), Limit::Cut(u64::MAX)),
        })
    }

    /// The first connection is closed once `down` bytes went to the client or `up` bytes to
    /// the target.
    fn first_cut(target: SocketAddr, down: u64, up: u64) -> Self {
        Self::with(target, move |index| match index {
            0 => (Limit::Cut(down), Limit::Cut(up)),
            _ => (Limit::Cut(u64::MAX), Limit::Cut(u64::MAX)),
        })
    }

    /// Forwards connections to `target`, each with the limits (to the client, to the target)
    /// that `limits` gives for its number.
    fn with(target: SocketAddr, limits: impl Fn(u64) -> (Limit, Limit) + Send + 'static) -> Self {
        Self::with_rate(target, None, limits)
    }

    /// As [`CutProxy::with`], each direction of each connection at most `rate` bytes a second.
    fn with_rate(
        target: SocketAddr,
        rate: Option<u64>,
        limits: impl Fn(u64) -> (Limit, Limit) + Send + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicU64::new(0));
        let upstream = Arc::new(AtomicU64::new(0));
        let (counted, sent_up) = (connections.clone(), upstream.clone());
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let index = counted.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                // Forwarded at once, as a router would: with Nagle's algorithm, a small write
                // waits for the ACK of the last, which the far end delays by up to 40 ms.
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (down, up) = limits(index);
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let sent_up = sent_up.clone();
                thread::spawn(move || pipe(c2, s2, (up, rate), &sent_up));
                thread::spawn(move || pipe(server, client, (down, rate), &AtomicU64::new(0)));
            }
        });
        CutProxy {
            addr,
            connections,
            upstream,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// Bytes forwarded to the target so far, over all connections.
    pub fn upstream_bytes(&self) -> u64 {
        self.upstream.load(Ordering::SeqCst)
    }
}

/// What one direction of a connection does after a number of bytes.
enum Limit {
    /// Shuts the connection down.
    Cut(u64),
    /// Runs the hook (once, of all connections given it), then shuts the connection down.
    CutAfter(u64, Hook),
    /// Forwards nothing more, keeping the connection open.
    Stall(u64),
}

type Hook = Arc<std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>>;

/// Copies `from` to `to` (adding what went to `counter`, at most `rate` bytes a second) until
/// either ends or the limit's bytes went; then shuts both down, or (stalling) holds them open
/// without forwarding until the process ends.
fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    (limit, rate): (Limit, Option<u64>),
    counter: &AtomicU64,
) {
    let (limit, stall, hook) = match limit {
        Limit::Cut(n) => (n, false, None),
        Limit::CutAfter(n, hook) => (n, false, Some(hook)),
        Limit::Stall(n) => (n, true, None),
    };
    let mut buffer = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    let began = std::time::Instant::now();
    while sent < limit {
        let want = buffer
            .len()
            .min((limit - sent).min(usize::MAX as u64) as usize);
        match from.read(&mut buffer[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
                sent += n as u64;
                counter.fetch_add(n as u64, Ordering::SeqCst);
                if let Some(rate) = rate {
                    let due = std::time::Duration::from_secs_f64(sent as f64 / rate as f64);
                    thread::sleep(due.saturating_sub(began.elapsed()));
                }
            }
        }
    }
    if stall && sent >= limit {
        loop {
            thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    if let Some(run) = hook.and_then(|hook| hook.lock().unwrap().take()) {
        run();
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
