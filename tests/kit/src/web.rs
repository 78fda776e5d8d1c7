//! Real web servers on 127.0.0.1 for the interop tests: nginx and Apache httpd, configured as
//! sites run them (static files, gzip, auth_basic, WebDAV PUT, a body size limit, https with
//! a self-made certificate; Apache with mod_auth_digest and mod_dav).
//!
//! Each server runs in the foreground as a child of the test process (it dies with it, and is
//! stopped on drop), with its configuration, document root and logs in a fresh temporary
//! folder. `.ci/deps` installs both; where one is missing, `start` returns `None` and says
//! why on standard error, so that a test can skip with a printed reason.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user name that the protected locations accept.
pub const USER: &str = "web-user";
/// Its password.
pub const PASSWORD: &str = "web-Pa55-word";
/// The realm of the protected locations.
pub const REALM: &str = "red";

/// How the server's certificate is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Certificate {
    /// Self-signed for 127.0.0.1 and localhost, with the CA flag set as `openssl req -x509`
    /// sets it by default (clients report "CA used as end entity").
    SelfSigned,
    /// For 127.0.0.1 and localhost, signed by a private CA that no system trusts (clients
    /// report "unknown issuer").
    PrivateCa,
}

/// A running web server.
pub struct WebServer {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    tls_port: Option<u16>,
}

impl WebServer {
    /// nginx on free ports: plain http, and https with `certificate` when given. Locations:
    /// `/` static files with gzip for text and JSON; `/dav/` PUT and DELETE (folders made as
    /// needed); `/private/` the same behind auth_basic; `/small/` PUT limited to 1 KiB
    /// bodies (413 above); `/up/` on http answers 301 to the same path on https (port 443 when
    /// `https_port` is 443), where it is served behind auth_basic.
    pub fn nginx(certificate: Option<Certificate>) -> Option<Self> {
        let tls_port = certificate.map(|_| crate::free_port());
        Self::nginx_on(crate::free_port(), tls_port.zip(certificate))
    }

    /// nginx on the given ports of 127.0.0.1 (for the default ports 80 and 443).
    pub fn nginx_on(port: u16, tls: Option<(u16, Certificate)>) -> Option<Self> {
        let nginx = installed("/usr/sbin/nginx", "nginx")?;
        let dir = workspace("red-wasm-nginx");
        let d = dir.path().display().to_string();
        std::fs::write(
            dir.path().join("htpasswd"),
            format!("{USER}:{{PLAIN}}{PASSWORD}\n"),
        )
        .unwrap();
        let tls_server = tls.map_or(String::new(), |(tls_port, certificate)| {
            write_certificate(dir.path(), certificate);
            format!(
                r#"server {{
                    listen 127.0.0.1:{tls_port} ssl http2;
                    ssl_certificate {d}/cert.pem;
                    ssl_certificate_key {d}/key.pem;
                    root {d}/www;
                    location /up/ {{ auth_basic "{REALM}"; auth_basic_user_file {d}/htpasswd; }}
                    location /dav/ {{ dav_methods PUT DELETE; create_full_put_path on; }}
                }}"#
            )
        });
        let https_port = tls.map_or(0, |(p, _)| p);
        let https_location = if https_port == 443 {
            "https://127.0.0.1$request_uri".to_owned()
        } else {
            format!("https://127.0.0.1:{https_port}$request_uri")
        };
        let config = format!(
            r#"daemon off;
            master_process off;
            worker_processes 1;
            pid {d}/nginx.pid;
            error_log {d}/error.log;
            events {{ worker_connections 256; }}
            http {{
                access_log {d}/access.log;
                client_body_temp_path {d}/tmp/body;
                proxy_temp_path {d}/tmp/proxy;
                fastcgi_temp_path {d}/tmp/fastcgi;
                uwsgi_temp_path {d}/tmp/uwsgi;
                scgi_temp_path {d}/tmp/scgi;
                types {{ text/plain txt; text/csv csv; application/json json; }}
                default_type application/octet-stream;
                gzip on;
                gzip_types text/plain text/csv application/json;
                gzip_min_length 20;
                client_max_body_size 0;
                server {{
                    listen 127.0.0.1:{port};
                    root {d}/www;
                    location /dav/ {{ dav_methods PUT DELETE; create_full_put_path on; }}
                    location /private/ {{
                        auth_basic "{REALM}";
                        auth_basic_user_file {d}/htpasswd;
                        dav_methods PUT;
                        create_full_put_path on;
                    }}
                    location /small/ {{ client_max_body_size 1k; dav_methods PUT; }}
                    location /up/ {{ return 301 {https_location}; }}
                }}
                {tls_server}
            }}"#
        );
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::fs::write(dir.path().join("nginx.conf"), config).unwrap();
        let mut command = Command::new(nginx);
        command
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"));
        let ports: Vec<u16> = std::iter::once(port).chain(tls.map(|(p, _)| p)).collect();
        Self::run(command, dir, &ports, "nginx")
    }

    /// Apache httpd on a free port with mod_dav and mod_auth_digest: `/` static files,
    /// `/digest/` GET and PUT behind Digest authentication (realm [`REALM`]).
    pub fn apache() -> Option<Self> {
        let apache = installed("/usr/sbin/apache2", "apache2")?;
        let dir = workspace("red-wasm-apache");
        let d = dir.path().display().to_string();
        let port = crate::free_port();
        let ha1 = md5_hex(&format!("{USER}:{REALM}:{PASSWORD}"));
        std::fs::write(
            dir.path().join("htdigest"),
            format!("{USER}:{REALM}:{ha1}\n"),
        )
        .unwrap();
        let modules = "/usr/lib/apache2/modules";
        let config = format!(
            r#"ServerName 127.0.0.1
            ServerRoot {d}
            Listen 127.0.0.1:{port}
            PidFile {d}/httpd.pid
            ErrorLog {d}/error.log
            LogFormat "%m %U %>s %I" io
            CustomLog {d}/access.log io
            Mutex file:{d}
            LoadModule mpm_event_module {modules}/mod_mpm_event.so
            LoadModule authz_core_module {modules}/mod_authz_core.so
            LoadModule authz_user_module {modules}/mod_authz_user.so
            LoadModule authn_core_module {modules}/mod_authn_core.so
            LoadModule authn_file_module {modules}/mod_authn_file.so
            LoadModule auth_digest_module {modules}/mod_auth_digest.so
            LoadModule dav_module {modules}/mod_dav.so
            LoadModule dav_fs_module {modules}/mod_dav_fs.so
            User www-data
            Group www-data
            DocumentRoot {d}/www
            DavLockDB {d}/lock/davlock
            <Directory {d}/www>
                Require all granted
            </Directory>
            <Location /digest/>
                Dav On
                AuthType Digest
                AuthName "{REALM}"
                AuthDigestProvider file
                AuthUserFile {d}/htdigest
                Require valid-user
            </Location>
            "#
        );
        std::fs::create_dir_all(dir.path().join("www/digest")).unwrap();
        std::fs::create_dir_all(dir.path().join("lock")).unwrap();
        std::fs::write(dir.path().join("httpd.conf"), config).unwrap();
        // Apache serves as www-data: the document root and the lock folder are its own.
        for sub in ["www", "www/digest", "lock"] {
            let path = dir.path().join(sub);
            let _ = Command::new("chown")
                .args(["www-data:www-data"])
                .arg(&path)
                .status();
        }
        let mut command = Command::new(apache);
        command
            .args(["-X", "-f"])
            .arg(dir.path().join("httpd.conf"));
        Self::run(command, dir, &[port], "apache2")
    }

    fn run(
        mut command: Command,
        dir: tempfile::TempDir,
        ports: &[u16],
        name: &str,
    ) -> Option<Self> {
        let mut child = crate::spawn_server(&mut command).expect("start the web server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ports
            .iter()
            .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
        {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                eprintln!("{name} did not start ({status}): {log}");
                return None;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                eprintln!("{name} did not listen on {ports:?} within 10 s");
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(WebServer {
            child,
            dir,
            port: ports[0],
            tls_port: ports.get(1).copied(),
        })
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `https://127.0.0.1:PORT` + `path` (panics without https).
    pub fn tls_url(&self, path: &str) -> String {
        format!(
            "https://127.0.0.1:{}{path}",
            self.tls_port.expect("an https server")
        )
    }

    /// The document root.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("www")
    }

    /// Writes a file under the document root (folders made as needed).
    pub fn put(&self, path: &str, bytes: &[u8]) {
        let file = self.root().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, bytes).unwrap();
        let _ = Command::new("chown")
            .arg("www-data:www-data")
            .arg(&file)
            .status();
    }

    /// The bytes of a file under the document root.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root().join(path.trim_start_matches('/'))).ok()
    }

    /// The access log once it holds `line` (a server writes its log line after the answer),
    /// or as it is after 5 s.
    pub fn access_log_with(&self, line: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log =
                std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
            if log.contains(line) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `port` of 127.0.0.1 can be bound now (for the default ports 80 and 443, which
/// need root and may be taken).
pub fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn installed(path: &str, package: &str) -> Option<PathBuf> {
    let path = Path::new(path);
    if path.exists() {
        Some(path.to_path_buf())
    } else {
        eprintln!("{package} is not installed (run `bash .ci/deps`): skipped");
        None
    }
}

fn workspace(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("www")).unwrap();
    // The servers' workers may read the folder as another user.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn write_certificate(dir: &Path, certificate: Certificate) {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = match certificate {
        Certificate::SelfSigned => {
            let mut params = rcgen::CertificateParams::new(names).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params.self_signed(&key).unwrap()
        }
        Certificate::PrivateCa => {
            let mut ca_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
            ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let ca_key = rcgen::KeyPair::generate().unwrap();
            let ca = ca_params.self_signed(&ca_key).unwrap();
            let params = rcgen::CertificateParams::new(names).unwrap();
            params.signed_by(&key, &ca, &ca_key).unwrap()
        }
    };
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

/// MD5 in hex, for the htdigest file (by the system's md5sum, which coreutils has).
fn md5_hex(text: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("md5sum");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}
