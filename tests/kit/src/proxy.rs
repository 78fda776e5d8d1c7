//! A TCP proxy on 127.0.0.1 whose first connection breaks: what a flaky link does to a long
//! transfer, either way (the SFTP resume tests).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

/// A running proxy (its threads end with the process).
pub struct CutProxy {
    addr: SocketAddr,
    connections: Arc<AtomicU64>,
}

impl CutProxy {
    /// Forwards connections to `target`; the first one is closed, both ways, once `cut_after`
    /// bytes have gone from the target to the client.
    pub fn start(target: SocketAddr, cut_after: u64) -> Self {
        Self::cutting(target, cut_after, u64::MAX)
    }

    /// As [`CutProxy::start`], counting the bytes that go from the client to the target
    /// instead (an upload cut off).
    pub fn start_upstream(target: SocketAddr, cut_after: u64) -> Self {
        Self::cutting(target, u64::MAX, cut_after)
    }

    /// The first connection is closed once `down` bytes went to the client or `up` bytes to
    /// the target.
    fn cutting(target: SocketAddr, down: u64, up: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicU64::new(0));
        let counted = connections.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let (down, up) = if first {
                    (down, up)
                } else {
                    (u64::MAX, u64::MAX)
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                thread::spawn(move || pipe(c2, s2, up));
                thread::spawn(move || pipe(server, client, down));
            }
        });
        CutProxy { addr, connections }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to` until either ends or `limit` bytes went; then shuts both down.
fn pipe(mut from: TcpStream, mut to: TcpStream, limit: u64) {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
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
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
