//! A real OpenSSH `sshd` on 127.0.0.1 for the SFTP tests and benchmarks.
//!
//! It serves `internal-sftp` only, to one local test user ([`USER`], created by `.ci/deps`
//! with password [`PASSWORD`]), with password and public-key logins; the host key and the
//! client keys (RSA, ECDSA, Ed25519, and Ed25519 with a passphrase) are generated fresh.
//! sshd runs as a child that dies with the test process, and is stopped on drop.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The local account the tests log in as (created by `.ci/deps`).
pub const USER: &str = "red-sftp-test";
/// Its password (test-only: the account has no shell and sshd listens on 127.0.0.1 only).
pub const PASSWORD: &str = "red-sftp-test-Pa55";
/// The passphrase of the encrypted Ed25519 key.
pub const PASSPHRASE: &str = "open sesame";

/// The client key types the server accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    Ecdsa,
    Ed25519,
    /// Ed25519, encrypted with [`PASSPHRASE`].
    Ed25519Passphrase,
}

impl KeyKind {
    pub const ALL: [KeyKind; 4] = [
        KeyKind::Rsa,
        KeyKind::Ecdsa,
        KeyKind::Ed25519,
        KeyKind::Ed25519Passphrase,
    ];

    fn file_name(self) -> &'static str {
        match self {
            KeyKind::Rsa => "id_rsa",
            KeyKind::Ecdsa => "id_ecdsa",
            KeyKind::Ed25519 => "id_ed25519",
            KeyKind::Ed25519Passphrase => "id_ed25519_pass",
        }
    }
}

/// A running sshd.
pub struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    home: PathBuf,
    uid: u32,
    gid: u32,
}

impl Sshd {
    /// Starts sshd on a free port. Panics with what to do if the machine is not set up.
    pub fn start() -> Self {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "OpenSSH's sshd is not installed: run `bash .ci/deps` (it installs openssh-server)"
        );
        let (uid, gid, home) = account(USER).unwrap_or_else(|| {
            panic!("the test user {USER} does not exist: run `bash .ci/deps` as root")
        });
        std::fs::create_dir_all("/run/sshd")
            .expect("create /run/sshd (sshd's privilege separation folder)");

        let dir = tempfile::Builder::new()
            .prefix("red-wasm-sshd")
            .tempdir()
            .unwrap();
        // sshd reads authorized_keys as the test user.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        keygen(&dir.path().join("host_ed25519"), "ed25519", "");
        let mut authorized = String::new();
        for kind in KeyKind::ALL {
            let (algorithm, passphrase) = match kind {
                KeyKind::Rsa => ("rsa", ""),
                KeyKind::Ecdsa => ("ecdsa", ""),
                KeyKind::Ed25519 => ("ed25519", ""),
                KeyKind::Ed25519Passphrase => ("ed25519", PASSPHRASE),
            };
            let key = dir.path().join(kind.file_name());
            keygen(&key, algorithm, passphrase);
            authorized.push_str(&std::fs::read_to_string(key.with_extension("pub")).unwrap());
        }
        let keys_file = dir.path().join("authorized_keys");
        std::fs::write(&keys_file, authorized).unwrap();
        std::fs::set_permissions(&keys_file, std::fs::Permissions::from_mode(0o644)).unwrap();

        let port = free_port();
        let config = dir.path().join("sshd_config");
        let mut file = std::fs::File::create(&config).unwrap();
        write!(
            file,
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {dir}/host_ed25519\n\
             PidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\n\
             StrictModes no\n\
             UsePAM no\n\
             PasswordAuthentication yes\n\
             KbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\n\
             PermitRootLogin no\n\
             AllowUsers {USER}\n\
             Subsystem sftp internal-sftp\n\
             ForceCommand internal-sftp\n\
             MaxStartups 200:30:400\n\
             MaxAuthTries 10\n\
             LogLevel ERROR\n",
            dir = dir.path().display()
        )
        .unwrap();
        drop(file);

        let mut command = Command::new(sshd);
        command
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        // SAFETY: prctl is async-signal-safe; it makes sshd die with the test process.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = command.spawn().expect("start sshd");
        let server = Sshd {
            child,
            port,
            dir,
            home,
            uid,
            gid,
        };
        // sshd writes its pid file once it listens (a probing connection would make it log
        // an error for a client that sent no banner).
        let pid_file = server.dir.path().join("sshd.pid");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pid_file.exists() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// One server for the whole test process, started on first use. sshd's parent is a
    /// thread that lives as long as the process, so the parent-death signal that stops sshd
    /// fires only when the process ends.
    pub fn shared() -> &'static Sshd {
        static SHARED: std::sync::OnceLock<&'static Sshd> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let sshd: &'static Sshd = Box::leak(Box::new(Sshd::start()));
                tx.send(sshd).unwrap();
                loop {
                    std::thread::park();
                }
            });
            rx.recv().expect("sshd started")
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The test user's login directory, where relative paths start.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The private key of `kind`, as text.
    pub fn key(&self, kind: KeyKind) -> String {
        std::fs::read_to_string(self.key_file(kind)).unwrap()
    }

    /// The private key file of `kind`.
    pub fn key_file(&self, kind: KeyKind) -> PathBuf {
        self.dir.path().join(kind.file_name())
    }

    /// The server's host key fingerprint, as `ssh-keygen -lf` prints it (`SHA256:...`).
    pub fn host_key_fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(self.dir.path().join("host_ed25519.pub"))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        text.split_whitespace().nth(1).unwrap().to_owned()
    }

    /// A known-hosts line for this server, as `ssh` writes them for a non-standard port.
    pub fn known_hosts_line(&self) -> String {
        let key = std::fs::read_to_string(self.dir.path().join("host_ed25519.pub")).unwrap();
        let mut parts = key.split_whitespace();
        let (kind, body) = (parts.next().unwrap(), parts.next().unwrap());
        format!("[127.0.0.1]:{} {kind} {body}\n", self.port)
    }

    /// A fresh folder in the user's home, owned by the user, removed on drop. Returns it and
    /// its path relative to the home.
    pub fn scratch(&self) -> Scratch {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "t-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let path = self.home.join(&name);
        std::fs::create_dir_all(&path).unwrap();
        std::os::unix::fs::chown(&path, Some(self.uid), Some(self.gid)).unwrap();
        Scratch {
            path,
            relative: name,
            uid: self.uid,
            gid: self.gid,
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A folder in the test user's home.
pub struct Scratch {
    pub path: PathBuf,
    /// The same folder relative to the login directory.
    pub relative: String,
    uid: u32,
    gid: u32,
}

impl Scratch {
    /// Writes a file (owned by the test user) at `name` inside the folder.
    pub fn put(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let file = self.path.join(name);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).unwrap();
            std::os::unix::fs::chown(parent, Some(self.uid), Some(self.gid)).unwrap();
        }
        std::fs::write(&file, bytes).unwrap();
        std::os::unix::fs::chown(&file, Some(self.uid), Some(self.gid)).unwrap();
        file
    }

    /// The names in the folder (recursively, relative, sorted).
    pub fn listing(&self) -> Vec<String> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                out.push(path.strip_prefix(base).unwrap().display().to_string());
                if path.is_dir() {
                    walk(&path, base, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.path, &self.path, &mut out);
        out.sort();
        out
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn keygen(path: &Path, algorithm: &str, passphrase: &str) {
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            algorithm,
            "-N",
            passphrase,
            "-C",
            "red-wasm-test",
            "-f",
        ])
        .arg(path)
        .status()
        .expect("run ssh-keygen (openssh-client)");
    assert!(status.success(), "ssh-keygen -t {algorithm} failed");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// uid, gid and home of a local account, from /etc/passwd.
fn account(name: &str) -> Option<(u32, u32, PathBuf)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 6 && fields[0] == name).then(|| {
            (
                fields[2].parse().unwrap_or(0),
                fields[3].parse().unwrap_or(0),
                PathBuf::from(fields[5]),
            )
        })
    })
}
