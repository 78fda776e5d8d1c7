//! A real OpenSSH `sshd` on 127.0.0.1 for the SFTP tests and benchmarks.
//!
//! It serves `internal-sftp` only, to one local test user ([`USER`], created by `.ci/deps`
//! with password [`PASSWORD`]), with password and public-key logins; the host key and the
//! client keys (RSA, ECDSA, Ed25519, and Ed25519 with a passphrase) are generated fresh.
//! sshd runs as a child that dies with the test process, and is stopped on drop.
//!
//! [`Config`] gives the configurations sites run: a drop box, a chroot, keyboard-interactive
//! logins through PAM only, several host keys, a single cipher. [`Sshd::start_with`] says
//! why when this machine cannot run one, so that the test can skip with that reason.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
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

/// A host key type the server can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKey {
    Ed25519,
    Ecdsa,
    Rsa,
}

impl HostKey {
    fn file_name(self) -> &'static str {
        match self {
            HostKey::Ed25519 => "host_ed25519",
            HostKey::Ecdsa => "host_ecdsa",
            HostKey::Rsa => "host_rsa",
        }
    }

    fn algorithm(self) -> &'static str {
        match self {
            HostKey::Ed25519 => "ed25519",
            HostKey::Ecdsa => "ecdsa",
            HostKey::Rsa => "rsa",
        }
    }
}

/// How the server is set up; the default is the plain one of [`Sshd::start`].
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Host keys besides Ed25519 (which every server has).
    pub more_host_keys: Vec<HostKey>,
    /// A write-only drop box: `ForceCommand internal-sftp -P rename,posix-rename,remove`.
    pub drop_box: bool,
    /// `ChrootDirectory` (a root-owned folder, see [`Sshd::chroot`]) with
    /// `ForceCommand internal-sftp`.
    pub chroot: bool,
    /// Passwords only through keyboard-interactive, answered by PAM (`UsePAM yes`,
    /// `PasswordAuthentication no`, `KbdInteractiveAuthentication yes`).
    pub keyboard_interactive_only: bool,
    /// `Ciphers` (e.g. `aes128-ctr`).
    pub ciphers: Option<String>,
    /// `MACs` (e.g. `hmac-sha2-256-etm@openssh.com`).
    pub macs: Option<String>,
    /// `RekeyLimit` (e.g. `1M`: the server starts a new key exchange after each MiB).
    pub rekey_limit: Option<String>,
    /// What sessions run instead of `internal-sftp`: `Some("")` serves no SFTP at all (no
    /// `Subsystem` line, no `ForceCommand`), another command is run through the user's shell
    /// (root's, with [`Config::root_login`]: the test user has none).
    pub force_command: Option<String>,
    /// root may log in too, with the keys of [`Sshd::key`] (`PermitRootLogin
    /// prohibit-password`).
    pub root_login: bool,
    /// `MaxAuthTries` (default 10): at 1, a wrong password ends the session.
    pub max_auth_tries: Option<u32>,
}

/// A running sshd.
pub struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    home: PathBuf,
    uid: u32,
    gid: u32,
    /// The chroot folder (root-owned, outside /tmp) and its user-owned `upload` folder.
    chroot: Option<PathBuf>,
}

impl Sshd {
    /// Starts sshd on a free port. Panics with what to do if the machine is not set up.
    pub fn start() -> Self {
        Self::start_with(Config::default()).unwrap_or_else(|why| panic!("{why}"))
    }

    /// Starts sshd in configuration `config`, or says why this machine cannot run it.
    pub fn start_with(config: Config) -> Result<Self, String> {
        let sshd = Path::new("/usr/sbin/sshd");
        if !sshd.exists() {
            return Err(
                "OpenSSH's sshd is not installed: run `bash .ci/deps` (it installs openssh-server)"
                    .into(),
            );
        }
        let (uid, gid, home) = account(USER).ok_or_else(|| {
            format!("the test user {USER} does not exist: run `bash .ci/deps` as root")
        })?;
        if config.keyboard_interactive_only && !Path::new("/etc/pam.d/sshd").exists() {
            return Err(
                "no PAM configuration for sshd (/etc/pam.d/sshd): keyboard-interactive \
                        logins through PAM cannot be tested"
                    .into(),
            );
        }
        std::fs::create_dir_all("/run/sshd")
            .map_err(|e| format!("create /run/sshd (sshd's privilege separation folder): {e}"))?;

        let dir = tempfile::Builder::new()
            .prefix("red-wasm-sshd")
            .tempdir()
            .unwrap();
        // sshd reads authorized_keys as the test user.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut host_keys = String::new();
        for key in std::iter::once(HostKey::Ed25519).chain(config.more_host_keys.iter().copied()) {
            keygen(&dir.path().join(key.file_name()), key.algorithm(), "");
            host_keys.push_str(&format!(
                "HostKey {}\n",
                dir.path().join(key.file_name()).display()
            ));
        }
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

        let chroot = if config.chroot {
            Some(make_chroot(uid, gid)?)
        } else {
            None
        };
        let mut extra = String::new();
        let (use_pam, password, keyboard) = if config.keyboard_interactive_only {
            ("yes", "no", "yes")
        } else {
            ("no", "yes", "no")
        };
        let force = match &config.force_command {
            Some(command) => command.as_str(),
            None if config.drop_box => "internal-sftp -P rename,posix-rename,remove",
            None => "internal-sftp",
        };
        let sftp = if force.is_empty() {
            String::new()
        } else {
            format!("Subsystem sftp internal-sftp\nForceCommand {force}\n")
        };
        let (root_login, users) = if config.root_login {
            ("prohibit-password", format!("{USER} root"))
        } else {
            ("no", USER.to_owned())
        };
        if let Some(root) = &chroot {
            extra.push_str(&format!("ChrootDirectory {}\n", root.display()));
        }
        if let Some(ciphers) = &config.ciphers {
            extra.push_str(&format!("Ciphers {ciphers}\n"));
        }
        if let Some(macs) = &config.macs {
            extra.push_str(&format!("MACs {macs}\n"));
        }
        if let Some(limit) = &config.rekey_limit {
            extra.push_str(&format!("RekeyLimit {limit}\n"));
        }

        let port = crate::free_port();
        let config_file = dir.path().join("sshd_config");
        let mut file = std::fs::File::create(&config_file).unwrap();
        write!(
            file,
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             {host_keys}\
             PidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\n\
             StrictModes no\n\
             UsePAM {use_pam}\n\
             PasswordAuthentication {password}\n\
             KbdInteractiveAuthentication {keyboard}\n\
             PubkeyAuthentication yes\n\
             PermitRootLogin {root_login}\n\
             AllowUsers {users}\n\
             {sftp}\
             {extra}\
             MaxStartups 200:30:400\n\
             MaxAuthTries {max_auth_tries}\n\
             LogLevel ERROR\n",
            dir = dir.path().display(),
            max_auth_tries = config.max_auth_tries.unwrap_or(10),
        )
        .unwrap();
        drop(file);

        let mut command = Command::new(sshd);
        command.args(["-D", "-e", "-f"]).arg(&config_file);
        let child = crate::spawn_server(&mut command).map_err(|e| format!("start sshd: {e}"))?;
        let mut server = Sshd {
            child,
            port,
            dir,
            home,
            uid,
            gid,
            chroot,
        };
        // sshd writes its pid file once it listens (a probing connection would make it log
        // an error for a client that sent no banner).
        let pid_file = server.dir.path().join("sshd.pid");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pid_file.exists() {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "sshd exited at start ({status}); its errors are above"
                ));
            }
            if Instant::now() > deadline {
                return Err(format!("sshd did not start on port {port}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// The chroot folder of a [`Config::chroot`] server: root-owned, with a folder `upload`
    /// that the user owns (seen as `/upload` inside the chroot).
    pub fn chroot(&self) -> Option<&Path> {
        self.chroot.as_deref()
    }

    /// The server's host key of `kind`: its fingerprint as `ssh-keygen -lf` prints it
    /// (`SHA256:...`), and a known-hosts line for this server with that key only.
    pub fn host_key(&self, kind: HostKey) -> (String, String) {
        let public = self.dir.path().join(format!("{}.pub", kind.file_name()));
        let out = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(&public)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let fingerprint = text.split_whitespace().nth(1).unwrap().to_owned();
        let key = std::fs::read_to_string(&public).unwrap();
        let mut parts = key.split_whitespace();
        let (algorithm, body) = (parts.next().unwrap(), parts.next().unwrap());
        let line = format!("[127.0.0.1]:{} {algorithm} {body}\n", self.port);
        (fingerprint, line)
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

    /// The test user's uid and gid.
    pub fn user_ids(&self) -> (u32, u32) {
        (self.uid, self.gid)
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
        if let Some(root) = &self.chroot {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

/// A chroot for sshd: every component of its path must be root-owned and writable by no
/// one else, so it cannot live under /tmp (world-writable); it goes under /srv.
fn make_chroot(uid: u32, gid: u32) -> Result<PathBuf, String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = Path::new("/srv/red-wasm-test");
    let root = base.join(format!(
        "chroot-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let upload = root.join("upload");
    std::fs::create_dir_all(&upload)
        .map_err(|e| format!("cannot make a chroot folder {}: {e}", upload.display()))?;
    for dir in [base, root.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
        std::os::unix::fs::chown(dir, Some(0), Some(0))
            .map_err(|e| format!("chown root {}: {e}", dir.display()))?;
    }
    std::os::unix::fs::chown(&upload, Some(uid), Some(gid))
        .map_err(|e| format!("chown {}: {e}", upload.display()))?;
    Ok(root)
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
