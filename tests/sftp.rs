//! The `sftp` connector against a real OpenSSH sshd on 127.0.0.1: both access forms, every
//! key type, errors, nested and relative paths, host-key pinning, and nothing lost.

mod support;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::sync::{Arc, Mutex};

use red_wasm::{
    Direction, ErrorKind, HostKeyCheck, LogLevel, Observer, ReceiveTarget, TransferOptions,
};
use red_wasm_testkit::http::pattern;
use red_wasm_testkit::sshd::{Config, HostKey, KeyKind, Sshd, PASSPHRASE, PASSWORD, USER};
use serde_json::{json, Value};
use support::*;

fn sshd() -> &'static Sshd {
    Sshd::shared()
}

/// The seed-era access form (red-connector-ssh 0.2).
fn seed_access(dir: &str, name: &str) -> Value {
    json!({"host": "127.0.0.1", "port": sshd().port(), "username": USER, "password": PASSWORD,
           "fileDir": dir, "fileName": name})
}

/// The 1.x access form with a key.
fn key_access(kind: KeyKind, path: &str) -> Value {
    let mut auth = json!({"username": USER, "privateKey": sshd().key(kind)});
    if kind == KeyKind::Ed25519Passphrase {
        auth["passphrase"] = json!(PASSPHRASE);
    }
    json!({"host": "127.0.0.1", "port": sshd().port(), "auth": auth, "filePath": path})
}

fn password_access(path: &str) -> Value {
    json!({"host": "127.0.0.1", "port": sshd().port(),
           "auth": {"username": USER, "password": PASSWORD}, "filePath": path})
}

#[tokio::test]
async fn seed_form_receives_with_relative_and_absolute_file_dir() {
    let scratch = sshd().scratch();
    scratch.put("in/data.csv", b"a,b\n1,2\n");
    let dir = temp();
    let target = dir.path().join("data.csv");
    let relative = format!("{}/in", scratch.relative);
    receive("sftp", seed_access(&relative, "data.csv"), &target)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"a,b\n1,2\n");
    let absolute = format!("{}/in/", scratch.path.display());
    let target = dir.path().join("again.csv");
    receive("sftp", seed_access(&absolute, "data.csv"), &target)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"a,b\n1,2\n");
}

#[tokio::test]
async fn every_key_type_logs_in_both_ways() {
    let scratch = sshd().scratch();
    let dir = temp();
    for kind in KeyKind::ALL {
        let data = format!("sent with {kind:?}").into_bytes();
        let source = dir.path().join("up");
        std::fs::write(&source, &data).unwrap();
        let remote = format!("{}/{kind:?}.txt", scratch.path.display());
        send("sftp", key_access(kind, &remote), &source)
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(std::fs::read(&remote).unwrap(), data, "{kind:?}");
        let target = dir.path().join(format!("{kind:?}"));
        receive("sftp", key_access(kind, &remote), &target)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), data, "{kind:?}");
    }
}

#[tokio::test]
async fn a_wrong_password_or_passphrase_is_an_auth_error_and_leaves_no_file() {
    let scratch = sshd().scratch();
    scratch.put("f", b"x");
    let remote = format!("{}/f", scratch.relative);
    let dir = temp();
    let target = dir.path().join("f");

    let mut access = password_access(&remote);
    access["auth"]["password"] = json!("not-the-Pa55word");
    let err = receive("sftp", access, &target).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    let endpoint = format!("{USER}@127.0.0.1:{}", sshd().port());
    assert!(err.message.contains(&endpoint), "{}", err.message);
    assert!(!err.message.contains("not-the-Pa55word"));

    let mut access = key_access(KeyKind::Ed25519Passphrase, &remote);
    access["auth"]["passphrase"] = json!("not the passphrase");
    let err = receive("sftp", access, &target).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert!(err.message.contains("wrong passphrase"), "{}", err.message);
    assert!(
        !err.message.contains("BEGIN OPENSSH"),
        "no key material in messages"
    );
    let mut access = key_access(KeyKind::Ed25519Passphrase, &remote);
    access["auth"].as_object_mut().unwrap().remove("passphrase");
    let err = receive("sftp", access, &target).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert!(
        err.message.contains("missing passphrase"),
        "{}",
        err.message
    );
    assert!(listing(dir.path()).is_empty());
}

#[tokio::test]
async fn a_missing_remote_file_is_not_found_and_leaves_no_file() {
    let scratch = sshd().scratch();
    let dir = temp();
    let target = dir.path().join("nothing");
    let remote = format!("{}/does-not-exist.bin", scratch.relative);
    let err = receive("sftp", password_access(&remote), &target)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(
        err.message.contains("does-not-exist.bin"),
        "{}",
        err.message
    );
    assert!(listing(dir.path()).is_empty());
}

#[tokio::test]
async fn send_creates_nested_directories_relative_and_absolute() {
    let scratch = sshd().scratch();
    let dir = temp();
    let source = dir.path().join("s");
    std::fs::write(&source, b"nested").unwrap();
    // 1.x form, absolute.
    let absolute = format!("{}/a/b/c/out.txt", scratch.path.display());
    send("sftp", password_access(&absolute), &source)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&absolute).unwrap(), b"nested");
    // Seed form with a relative fileDir: the original connector's upload broke on this.
    let relative_dir = format!("{}/x/y", scratch.relative);
    send("sftp", seed_access(&relative_dir, "out.txt"), &source)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(scratch.path.join("x/y/out.txt")).unwrap(),
        b"nested"
    );
    assert_eq!(
        scratch.listing(),
        [
            "a",
            "a/b",
            "a/b/c",
            "a/b/c/out.txt",
            "x",
            "x/y",
            "x/y/out.txt"
        ],
        "no temporary files remain"
    );
}

#[tokio::test]
async fn send_replaces_an_existing_file() {
    let scratch = sshd().scratch();
    let remote = scratch.put("existing.txt", b"old");
    let dir = temp();
    let source = dir.path().join("s");
    std::fs::write(&source, b"new contents").unwrap();
    send(
        "sftp",
        password_access(&remote.display().to_string()),
        &source,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&remote).unwrap(), b"new contents");
    assert_eq!(scratch.listing(), ["existing.txt"]);
}

#[tokio::test]
async fn an_upload_onto_a_folder_fails_naming_the_folder_and_creates_nothing() {
    let scratch = sshd().scratch();
    scratch.put("taken/keep.txt", b"keep");
    let dir = temp();
    let source = dir.path().join("s");
    std::fs::write(&source, pattern(3 << 20)).unwrap();
    // The target is a folder: refused before any byte goes, naming the folder.
    let remote = format!("{}/taken", scratch.path.display());
    let err = send("sftp", password_access(&remote), &source)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict, "{err}");
    assert!(
        err.message.contains(&format!("{remote} is a folder")),
        "{}",
        err.message
    );
    assert_eq!(
        scratch.listing(),
        ["taken", "taken/keep.txt"],
        "no partial file remains"
    );
}

#[tokio::test]
async fn a_missing_local_file_fails_before_connecting() {
    let dir = temp();
    // Nothing listens on this port: reaching the network would be a network error.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut access = password_access("x/y.txt");
    access["port"] = json!(port);
    let err = send("sftp", access, &dir.path().join("missing"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::LocalIo, "{err}");
}

#[tokio::test]
async fn a_100_mib_file_goes_both_ways_byte_for_byte() {
    let scratch = sshd().scratch();
    let dir = temp();
    let source = dir.path().join("big.bin");
    let data = pattern(100 << 20);
    std::fs::write(&source, &data).unwrap();
    let remote = format!("{}/big.bin", scratch.path.display());
    let sent = send("sftp", key_access(KeyKind::Ed25519, &remote), &source)
        .await
        .unwrap();
    assert_eq!(sent.bytes, data.len() as u64);
    assert!(
        std::fs::read(&remote).unwrap() == data,
        "uploaded bytes differ"
    );
    let target = dir.path().join("back.bin");
    let received = receive("sftp", key_access(KeyKind::Ed25519, &remote), &target)
        .await
        .unwrap();
    assert_eq!(received.bytes, data.len() as u64);
    assert!(
        std::fs::read(&target).unwrap() == data,
        "downloaded bytes differ"
    );
}

#[tokio::test]
async fn host_keys_can_be_pinned_by_fingerprint_or_known_hosts() {
    let scratch = sshd().scratch();
    scratch.put("f", b"pinned");
    let access = password_access(&format!("{}/f", scratch.relative)).to_string();
    let dir = temp();
    let sftp = connector("sftp");
    let with = |check: HostKeyCheck| TransferOptions {
        ssh_host_keys: check,
        ..TransferOptions::default()
    };
    let target = ReceiveTarget::File(dir.path().join("f"));

    let right = HostKeyCheck::Fingerprints(vec![sshd().host_key_fingerprint()]);
    sftp.receive(&access, target.clone(), &with(right))
        .await
        .unwrap();

    let wrong = HostKeyCheck::Fingerprints(vec![
        "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    ]);
    let err = sftp
        .receive(&access, target.clone(), &with(wrong))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(
        err.message.contains(&sshd().host_key_fingerprint()),
        "{}",
        err.message
    );

    let known = dir.path().join("known_hosts");
    std::fs::write(&known, sshd().known_hosts_line()).unwrap();
    sftp.receive(
        &access,
        target.clone(),
        &with(HostKeyCheck::KnownHosts(known.clone())),
    )
    .await
    .unwrap();
    std::fs::write(&known, "[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE9aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n").unwrap();
    let err = sftp
        .receive(&access, target, &with(HostKeyCheck::KnownHosts(known)))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert_eq!(listing(dir.path()), ["f", "known_hosts"]);
}

#[tokio::test]
async fn an_ssh_host_not_in_the_access_document_is_denied() {
    // The access names 127.0.0.1 on sshd's port; the derived allow-list has exactly that, so a
    // different port is refused before any connection.
    let options = TransferOptions {
        allow_derived_hosts: false,
        ..TransferOptions::default()
    };
    let access = password_access("f").to_string();
    let dir = temp();
    let err = connector("sftp")
        .receive(&access, ReceiveTarget::File(dir.path().join("f")), &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied);
    assert!(
        err.message
            .contains(&format!("ssh://127.0.0.1:{}", sshd().port())),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn validation_covers_both_forms_with_json_paths() {
    let sftp = connector("sftp");
    for access in [
        json!({"host": "h", "username": "u", "password": "p", "fileDir": "d", "fileName": "f"}),
        json!({"host": "h", "port": 2222, "auth": {"username": "u", "password": "p"}, "filePath": "/x"}),
        json!({"host": "h", "auth": {"username": "u", "privateKey": "k", "passphrase": "pp"},
               "filePath": "x", "timeout": 5, "authTimeout": 1.5, "bannerTimeout": 2}),
    ] {
        for direction in [Direction::Receive, Direction::Send] {
            sftp.validate(direction, &access.to_string()).await.unwrap();
        }
    }
    for (access, expected) in [
        (
            json!({"host": "h", "username": "u", "password": "p", "fileDir": "d"}),
            vec!["/fileName: required"],
        ),
        (
            json!({"host": "h", "port": 70000, "auth": {"username": "u", "password": "p", "privateKey": "k"}, "filePath": "x"}),
            vec![
                "/port: expected an integer from 1 to 65535",
                "/auth/privateKey: give either password or privateKey, not both",
            ],
        ),
        (
            json!({"host": "h", "auth": {"username": "u"}, "filePath": "x", "fileDir": "d"}),
            vec![
                "/auth/password: required (or privateKey)",
                "/fileDir: unknown field",
            ],
        ),
        (
            json!({"port": "22", "auth": {"username": "u", "password": "p", "passphrase": "x"}, "filePath": "x", "timeout": -1}),
            vec![
                "/host: required",
                "/port: expected an integer",
                "/auth/passphrase: only goes with privateKey",
                "/timeout: expected a non-negative number",
            ],
        ),
    ] {
        let err = sftp
            .validate(Direction::Receive, &access.to_string())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidAccess);
        for line in expected {
            assert!(
                err.message.lines().any(|l| l.starts_with(line)),
                "{line:?} not in {}",
                err.message
            );
        }
    }
}

#[test]
fn cli_exit_codes_for_sftp() {
    let scratch = sshd().scratch();
    scratch.put("f", b"cli");
    let dir = temp();
    let target = dir.path().join("f");
    let t = target.to_str().unwrap();
    let access = password_access(&format!("{}/f", scratch.relative)).to_string();
    let out = cli(&["run", "sftp", &access, "-o", t]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&target).unwrap(), b"cli");
    let missing = password_access(&format!("{}/nope", scratch.relative)).to_string();
    let out = cli(&["run", "sftp", &missing, "-o", t]);
    assert_eq!(out.status.code(), Some(12), "{}", stderr(&out));
    let mut bad = password_access("f");
    bad["auth"]["password"] = json!("wrong-Pa55");
    let out = cli(&["run", "sftp", &bad.to_string(), "-o", t]);
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    assert!(!stderr(&out).contains("wrong-Pa55"));
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"cli",
        "failed receives left the file alone"
    );
}

/// Keeps the transfer's log lines.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Observer for Recorder {
    fn log(&self, _level: LogLevel, message: &str) {
        self.0.lock().unwrap().push(message.to_owned());
    }
}

impl Recorder {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Transfer options whose log the returned recorder keeps.
fn recorded() -> (Arc<Recorder>, TransferOptions) {
    observed()
}

/// Transfer options reporting to the returned observer.
fn observed<T: red_wasm::Observer + Default + 'static>() -> (Arc<T>, TransferOptions) {
    let observer = Arc::new(T::default());
    let options = TransferOptions {
        observer: observer.clone(),
        ..TransferOptions::default()
    };
    (observer, options)
}

/// The shared sshd's address, for a proxy to stand in front of.
fn sshd_addr() -> std::net::SocketAddr {
    format!("127.0.0.1:{}", sshd().port()).parse().unwrap()
}

/// The 1.x access with the password to `path` (as `field`: `filePath` or `dirPath`), through
/// `proxy`.
fn through(proxy: &red_wasm_testkit::proxy::CutProxy, field: &str, path: &str) -> String {
    let mut access = json!({"host": "127.0.0.1", "port": proxy.port(),
                            "auth": {"username": USER, "password": PASSWORD}});
    access[field] = json!(path);
    access.to_string()
}

/// Sends `source` to `access`, recording the log.
async fn send_logged(
    access: &Value,
    source: &std::path::Path,
) -> (red_wasm::Result<red_wasm::Outcome>, Vec<String>) {
    let (recorder, options) = recorded();
    let result = connector("sftp")
        .send(&access.to_string(), source, &options)
        .await;
    (result, recorder.lines())
}

/// Receives `access` into `target`, recording the log.
async fn receive_logged(
    access: &str,
    target: &std::path::Path,
) -> (red_wasm::Result<red_wasm::Outcome>, Vec<String>) {
    let (recorder, options) = recorded();
    let result = connector("sftp")
        .receive(access, ReceiveTarget::File(target.to_path_buf()), &options)
        .await;
    (result, recorder.lines())
}

/// A server in configuration `config`, or `None` (with the reason printed) when this
/// machine cannot run it.
fn server(name: &str, config: Config) -> Option<Sshd> {
    match Sshd::start_with(config) {
        Ok(server) => Some(server),
        Err(why) => {
            eprintln!("SKIPPED: the {name} sshd cannot run here: {why}");
            None
        }
    }
}

fn access_on(server: &Sshd, path: &str) -> Value {
    json!({"host": "127.0.0.1", "port": server.port(),
           "auth": {"username": USER, "password": PASSWORD}, "filePath": path})
}

#[tokio::test]
async fn a_drop_box_that_refuses_renames_and_removals_gets_the_file_written_directly() {
    let Some(server) = server(
        "drop box",
        Config {
            drop_box: true,
            ..Config::default()
        },
    ) else {
        return;
    };
    let scratch = server.scratch();
    scratch.put("existing.csv", b"old");
    let dir = temp();
    let source = dir.path().join("s");
    std::fs::write(&source, pattern(3 << 20)).unwrap();
    for name in ["new.csv", "existing.csv"] {
        let remote = format!("{}/{name}", scratch.path.display());
        let (result, log) = send_logged(&access_on(&server, &remote), &source).await;
        result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            std::fs::read(&remote).unwrap() == pattern(3 << 20),
            "{name}"
        );
        assert!(
            log.iter()
                .any(|l| l.contains("refuses renames") && l.contains("directly")),
            "{log:?}"
        );
    }
    assert_eq!(
        scratch.listing(),
        ["existing.csv", "new.csv"],
        "nothing else was created"
    );
}

#[tokio::test]
async fn a_writable_file_in_a_folder_of_root_is_overwritten_in_place() {
    let scratch = sshd().scratch();
    let locked = scratch.path.join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = locked.join("f.txt");
    std::fs::write(&file, b"old").unwrap();
    let (uid, gid) = sshd().user_ids();
    std::os::unix::fs::chown(&file, Some(uid), Some(gid)).unwrap();
    let dir = temp();
    let source = dir.path().join("s");
    std::fs::write(&source, b"new contents").unwrap();

    let (result, log) = send_logged(&password_access(&file.display().to_string()), &source).await;
    result.unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), b"new contents");
    assert!(
        log.iter()
            .any(|l| l.contains("create temporary file") && l.contains("directly")),
        "{log:?}"
    );
    assert_eq!(scratch.listing(), ["locked", "locked/f.txt"]);

    // A new file there cannot be written at all: the message names the step and the path.
    let new = locked.join("new.txt");
    let (result, _) = send_logged(&password_access(&new.display().to_string()), &source).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert!(
        err.message.contains(&format!(
            "write {USER}@127.0.0.1:{}:{}",
            sshd().port(),
            new.display()
        )),
        "{}",
        err.message
    );
    assert!(err.message.contains("permission denied"), "{}", err.message);
    assert_eq!(scratch.listing(), ["locked", "locked/f.txt"]);
}

#[tokio::test]
async fn overwriting_keeps_the_mode_and_group_of_the_file() {
    let scratch = sshd().scratch();
    let remote = scratch.put("shared.txt", b"old");
    let users = 100; // Debian's group `users`; .ci/deps puts the test user in it.
    std::os::unix::fs::chown(&remote, None, Some(users)).unwrap();
    std::fs::set_permissions(&remote, std::fs::Permissions::from_mode(0o660)).unwrap();
    let dir = temp();
    let source = dir.path().join("s");
    std::fs::write(&source, b"new contents").unwrap();
    send(
        "sftp",
        password_access(&remote.display().to_string()),
        &source,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&remote).unwrap(), b"new contents");
    let meta = std::fs::metadata(&remote).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o660);
    assert_eq!(meta.gid(), users, "the group stays `users`");
    assert_eq!(scratch.listing(), ["shared.txt"]);
}

#[tokio::test]
async fn a_chroot_server_takes_uploads_and_downloads_inside_it() {
    let Some(server) = server(
        "chroot",
        Config {
            chroot: true,
            ..Config::default()
        },
    ) else {
        return;
    };
    let dir = temp();
    let source = dir.path().join("s");
    std::fs::write(&source, b"inside the chroot").unwrap();
    send("sftp", access_on(&server, "/upload/in/f.txt"), &source)
        .await
        .unwrap();
    let on_disk = server.chroot().unwrap().join("upload/in/f.txt");
    assert_eq!(std::fs::read(&on_disk).unwrap(), b"inside the chroot");
    let target = dir.path().join("back");
    receive("sftp", access_on(&server, "upload/in/f.txt"), &target)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"inside the chroot");
    let names: Vec<_> = std::fs::read_dir(on_disk.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["f.txt"]);
}

#[tokio::test]
async fn a_server_taking_passwords_only_by_keyboard_interactive_logs_in() {
    let Some(server) = server(
        "keyboard-interactive (PAM)",
        Config {
            keyboard_interactive_only: true,
            ..Config::default()
        },
    ) else {
        return;
    };
    let scratch = server.scratch();
    scratch.put("f", b"through PAM");
    let dir = temp();
    let target = dir.path().join("f");
    let remote = format!("{}/f", scratch.relative);
    receive("sftp", access_on(&server, &remote), &target)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"through PAM");
    let mut wrong = access_on(&server, &remote);
    wrong["auth"]["password"] = json!("not-the-Pa55word");
    let err = receive("sftp", wrong, &dir.path().join("g"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
}

#[tokio::test]
async fn any_host_key_type_can_be_pinned() {
    let Some(server) = server(
        "Ed25519 + ECDSA + RSA host keys",
        Config {
            more_host_keys: vec![HostKey::Ecdsa, HostKey::Rsa],
            ..Config::default()
        },
    ) else {
        return;
    };
    let scratch = server.scratch();
    scratch.put("f", b"pinned");
    let access = access_on(&server, &format!("{}/f", scratch.relative)).to_string();
    let dir = temp();
    let sftp = connector("sftp");
    let with = |check: HostKeyCheck| TransferOptions {
        ssh_host_keys: check,
        ..TransferOptions::default()
    };
    let target = ReceiveTarget::File(dir.path().join("f"));
    for kind in [HostKey::Rsa, HostKey::Ecdsa, HostKey::Ed25519] {
        let (fingerprint, line) = server.host_key(kind);
        let pinned = HostKeyCheck::Fingerprints(vec![fingerprint]);
        sftp.receive(&access, target.clone(), &with(pinned))
            .await
            .unwrap_or_else(|e| panic!("pinned {kind:?}: {e}"));
        let known = dir.path().join(format!("known_{kind:?}"));
        std::fs::write(&known, line).unwrap();
        sftp.receive(
            &access,
            target.clone(),
            &with(HostKeyCheck::KnownHosts(known)),
        )
        .await
        .unwrap_or_else(|e| panic!("known_hosts with {kind:?} only: {e}"));
    }
    let wrong = HostKeyCheck::Fingerprints(vec![
        "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    ]);
    let err = sftp
        .receive(&access, target, &with(wrong))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    for kind in [HostKey::Rsa, HostKey::Ecdsa, HostKey::Ed25519] {
        let (fingerprint, _) = server.host_key(kind);
        assert!(
            err.message.contains(&fingerprint),
            "{kind:?}: {}",
            err.message
        );
    }
}

/// Servers restricted to one cipher (and MAC), as sites configure them: every cipher family
/// libssh2 speaks moves a file both ways, byte-identical, also when the server renews the keys
/// every MiB (`RekeyLimit`). The file's odd length leaves a short last packet. This guards the
/// patched libssh2 (runtime/vendor/libssh2-sys), which encrypts a packet's middle blocks in
/// one call: AES-GCM (the tag in a call of its own), AES-CTR with a MAC over the plain text
/// and with encrypt-then-MAC, AES-CBC, and ChaCha20-Poly1305 (a whole-packet cipher of
/// libssh2's own, unchanged). A server with only SHA-1 MACs, which libssh2 1.11 dropped, is
/// refused at the handshake with the server named.
#[tokio::test]
async fn every_cipher_family_moves_files_both_ways() {
    let size = (3 << 20) + 1234;
    let data = pattern(size);
    for (ciphers, macs, rekey_limit) in [
        ("aes128-gcm@openssh.com", None, None),
        ("aes256-gcm@openssh.com", None, Some("1M")),
        ("aes128-ctr", Some("hmac-sha2-256"), None),
        (
            "aes256-ctr",
            Some("hmac-sha2-512-etm@openssh.com"),
            Some("1M"),
        ),
        ("aes192-ctr", Some("hmac-sha2-256-etm@openssh.com"), None),
        ("aes256-cbc", Some("hmac-sha2-256-etm@openssh.com"), None),
        ("aes128-cbc", Some("hmac-sha2-512"), Some("1M")),
        ("chacha20-poly1305@openssh.com", None, None),
    ] {
        let name = format!(
            "{ciphers} {} {}",
            macs.unwrap_or(""),
            rekey_limit.unwrap_or("")
        );
        let Some(server) = server(
            &name,
            Config {
                ciphers: Some(ciphers.into()),
                macs: macs.map(Into::into),
                rekey_limit: rekey_limit.map(Into::into),
                ..Config::default()
            },
        ) else {
            return;
        };
        let scratch = server.scratch();
        let dir = temp();
        let source = dir.path().join("s");
        std::fs::write(&source, &data).unwrap();
        let remote = format!("{}/cipher.bin", scratch.path.display());
        send("sftp", access_on(&server, &remote), &source)
            .await
            .unwrap_or_else(|e| panic!("{name}: send: {e}"));
        assert!(
            std::fs::read(&remote).unwrap() == data,
            "{name}: sent byte-identical"
        );
        let target = dir.path().join("back");
        receive("sftp", access_on(&server, &remote), &target)
            .await
            .unwrap_or_else(|e| panic!("{name}: receive: {e}"));
        assert!(
            std::fs::read(&target).unwrap() == data,
            "{name}: received byte-identical"
        );
    }
    // libssh2 1.11 has no SHA-1 MACs: a server with nothing else fails at the handshake,
    // naming the server.
    let Some((err, endpoint)) = receive_refused(
        "hmac-sha1 only",
        Config {
            ciphers: Some("aes128-ctr".into()),
            macs: Some("hmac-sha1".into()),
            ..Config::default()
        },
    )
    .await
    else {
        return;
    };
    assert!(
        err.message.contains("SSH handshake failed") && err.message.contains(&endpoint),
        "{err}"
    );
}

/// Starts a server in `config` (None where this machine cannot) and receives from it a file
/// that it must refuse: the error and the server's `host:port`, once checked that no file was
/// left.
async fn receive_refused(name: &str, config: Config) -> Option<(red_wasm::Error, String)> {
    let as_root = config.root_login;
    let server = server(name, config)?;
    let mut access = access_on(&server, "/etc/hostname");
    if as_root {
        access["auth"] = json!({"username": "root", "privateKey": server.key(KeyKind::Ed25519)});
    }
    let dir = temp();
    let target = dir.path().join("never");
    let err = receive("sftp", access, &target).await.unwrap_err();
    assert!(!target.exists(), "{name}: a file was left");
    Some((err, format!("127.0.0.1:{}", server.port())))
}

/// A server with no SFTP subsystem (no `Subsystem sftp`) refuses the channel's request and
/// keeps the connection: `remote`, naming the server, where a cut link would be `network`.
#[tokio::test]
async fn a_server_without_sftp_is_a_remote_error() {
    // No `Subsystem sftp` line; sessions that run a command that ends at once, through the
    // test user's shell (nologin) and through root's (`false`), which libssh2 reports as a
    // response it waited for in vain.
    for (name, command, root_login) in [
        ("no SFTP", "", false),
        ("nologin instead of SFTP", "true", false),
        ("`false` instead of SFTP", "false", true),
    ] {
        let config = Config {
            force_command: Some(command.into()),
            root_login,
            ..Config::default()
        };
        let Some((err, endpoint)) = receive_refused(name, config).await else {
            return;
        };
        assert_eq!(err.kind, ErrorKind::Remote, "{name}: {err}");
        assert!(
            err.message.contains("offers no SFTP") && err.message.contains(&endpoint),
            "{name}: {err}"
        );
    }
}

/// A wrong password at a server that hangs up after one failed try (`MaxAuthTries 1`, its
/// SSH_MSG_DISCONNECT first): `auth`, with the server's reason, not a broken link.
#[tokio::test]
async fn a_wrong_password_that_the_server_hangs_up_on_is_an_auth_error() {
    let Some(server) = server(
        "MaxAuthTries 1",
        Config {
            max_auth_tries: Some(1),
            ..Config::default()
        },
    ) else {
        return;
    };
    let mut access = access_on(&server, "/etc/hostname");
    access["auth"]["password"] = json!("not the password");
    let dir = temp();
    let err = receive("sftp", access, &dir.path().join("never"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert!(
        err.message.contains("the server ended the session"),
        "{err}"
    );
}

/// A server whose SFTP subsystem never answers (its sessions run `sleep` instead): the start
/// fails once the idle timeout passes without a byte, once (not twice: dropping the
/// half-opened channel used to wait for the server again), and a stop during the wait ends it
/// at once. No file is left.
#[tokio::test]
async fn an_sftp_start_that_never_answers_ends_at_the_idle_timeout_or_a_stop() {
    let Some(server) = server(
        "silent SFTP subsystem",
        Config {
            force_command: Some("sleep 30".into()),
            root_login: true,
            ..Config::default()
        },
    ) else {
        return;
    };
    let access = json!({"host": "127.0.0.1", "port": server.port(),
        "auth": {"username": "root", "privateKey": server.key(KeyKind::Ed25519)},
        "filePath": "/etc/hostname"})
    .to_string();
    let dir = temp();
    let target = dir.path().join("never");
    let idle = std::time::Duration::from_secs(1);
    let started = std::time::Instant::now();
    let err = runtime_with_idle_timeout(idle)
        .load("sftp")
        .unwrap()
        .receive(
            &access,
            ReceiveTarget::File(target.clone()),
            &TransferOptions::default(),
        )
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::Network, "{err}");
    assert!(
        err.message.contains("SFTP subsystem could not start"),
        "{err}"
    );
    assert!(took >= idle && took < idle * 2, "ended after {took:?}");

    let token = red_wasm::CancellationToken::new();
    let options = TransferOptions {
        cancel: Some(token.clone()),
        ..TransferOptions::default()
    };
    let cancel = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        token.cancel();
        std::time::Instant::now()
    });
    let err = connector("sftp")
        .receive(&access, ReceiveTarget::File(target.clone()), &options)
        .await
        .unwrap_err();
    let after_cancel = cancel.await.unwrap().elapsed();
    assert!(err.message.contains("cancelled"), "{err}");
    assert!(
        after_cancel < std::time::Duration::from_millis(400),
        "returned {after_cancel:?} after the cancel"
    );
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

/// A link cut at any point of a session's start (key exchange, login, channel open,
/// subsystem request, SFTP version) is the network's doing: every cut ends as `network`,
/// never as a server without SFTP (`remote`) or a refused login (`auth`), for each way of
/// logging in. libssh2 reports a keyboard-interactive or key login that breaks as refused.
#[tokio::test]
async fn a_cut_anywhere_in_a_sessions_start_is_a_network_error() {
    let scratch = sshd().scratch();
    let remote = scratch.put("small.bin", b"small");
    let path = remote.display().to_string();
    // A whole session (with the five-byte file) is about 2.7 kB from the server; past its
    // start, a cut is in the download, which is `network` too.
    let every = (0..3200).step_by(24);
    cut_everywhere("password", sshd_addr(), every.clone(), |proxy| {
        through(proxy, "filePath", &path)
    })
    .await;
    // From the end of the key exchange on, for the other two.
    let login = (1000..3200).step_by(24);
    cut_everywhere("Ed25519 key", sshd_addr(), login.clone(), |proxy| {
        json!({"host": "127.0.0.1", "port": proxy.port(),
               "auth": {"username": USER, "privateKey": sshd().key(KeyKind::Ed25519)},
               "filePath": path})
        .to_string()
    })
    .await;
    let Some(pam) = server(
        "keyboard-interactive (PAM)",
        Config {
            keyboard_interactive_only: true,
            ..Config::default()
        },
    ) else {
        return;
    };
    let pam_scratch = pam.scratch();
    let pam_file = pam_scratch.put("small.bin", b"small");
    let pam_addr = format!("127.0.0.1:{}", pam.port()).parse().unwrap();
    cut_everywhere("keyboard-interactive", pam_addr, login, |proxy| {
        through(proxy, "filePath", &pam_file.display().to_string())
    })
    .await;
}

/// Receives through a proxy to `server` that cuts the server's bytes after each of `cuts`
/// (`access` gives the access through it): each receive is whole or `network`, leaving no
/// file, and both happen.
async fn cut_everywhere(
    login: &str,
    server: std::net::SocketAddr,
    cuts: impl Iterator<Item = u64>,
    access: impl Fn(&red_wasm_testkit::proxy::CutProxy) -> String,
) {
    let dir = temp();
    let target = dir.path().join("small.bin");
    let options = TransferOptions {
        retries: 0,
        ..TransferOptions::default()
    };
    let (mut broken, mut whole) = (0, 0);
    for cut in cuts {
        let proxy = red_wasm_testkit::proxy::CutProxy::start(server, cut);
        let result = connector("sftp")
            .receive(
                &access(&proxy),
                ReceiveTarget::File(target.clone()),
                &options,
            )
            .await;
        match result {
            Ok(_) => {
                whole += 1;
                std::fs::remove_file(&target).unwrap();
            }
            Err(e) => {
                assert_eq!(
                    e.kind,
                    ErrorKind::Network,
                    "{login}, cut after {cut} bytes: {e}"
                );
                assert!(
                    !target.exists(),
                    "{login}, cut after {cut} bytes: a file was left"
                );
                broken += 1;
            }
        }
    }
    assert!(
        broken > 20 && whole > 0,
        "{login}: {broken} cut, {whole} whole"
    );
}

/// A server that goes silent at any point of a session (the proxy stops forwarding its
/// bytes) costs at most two waits of the timeout (1 s here, for every step): the one that
/// notices, and the file handle's close. Freeing the session used to wait again, up to four
/// times in all, even after the file was in place.
#[tokio::test]
async fn a_server_that_goes_silent_costs_at_most_two_timeouts() {
    let scratch = sshd().scratch();
    let remote = scratch.put("small.bin", b"small");
    let path = remote.display().to_string();
    let dir = temp();
    let target = dir.path().join("small.bin");
    let idle = std::time::Duration::from_secs(1);
    let runtime = runtime_with_idle_timeout(idle);
    let options = TransferOptions {
        retries: 0,
        ..TransferOptions::default()
    };
    let mut whole = 0;
    for after in (0..3200).step_by(200) {
        let proxy = red_wasm_testkit::proxy::CutProxy::start_stalling(sshd_addr(), 0, after);
        let mut access: Value = serde_json::from_str(&through(&proxy, "filePath", &path)).unwrap();
        for field in ["timeout", "authTimeout", "bannerTimeout"] {
            access[field] = json!(1);
        }
        let started = std::time::Instant::now();
        let result = runtime
            .load("sftp")
            .unwrap()
            .receive(
                &access.to_string(),
                ReceiveTarget::File(target.clone()),
                &options,
            )
            .await;
        let took = started.elapsed();
        match result {
            Ok(_) => {
                whole += 1;
                std::fs::remove_file(&target).unwrap();
            }
            Err(e) => {
                assert_eq!(
                    e.kind,
                    ErrorKind::Network,
                    "silent after {after} bytes: {e}"
                );
                assert!(
                    !target.exists(),
                    "silent after {after} bytes: a file was left"
                );
            }
        }
        assert!(
            took < idle * 2 + idle / 2,
            "silent after {after} bytes: ended after {took:?}"
        );
    }
    assert!(whole > 0, "no session was whole");
}

/// An embedder that means "no limit" by the longest Duration (as the idle timeout and as the
/// time limit) gets a working transfer, not a panic from adding it to the clock.
#[tokio::test]
async fn the_longest_durations_mean_no_limit() {
    let scratch = sshd().scratch();
    let data = pattern(100_000);
    let remote = scratch.put("long.bin", &data);
    let dir = temp();
    let target = dir.path().join("long.bin");
    let access = access_on(sshd(), &remote.display().to_string());
    receive_with_the_longest_durations("sftp", access, &target)
        .await
        .unwrap();
    assert!(std::fs::read(&target).unwrap() == data);
}

/// A download whose connection drops part-way (a proxy that cuts its first connection)
/// continues over a new session from where it stopped, byte-identical; with retries off it fails
/// and leaves nothing.
#[tokio::test]
async fn a_download_cut_off_is_resumed_over_a_new_session() {
    let scratch = sshd().scratch();
    let data = pattern(24 << 20);
    scratch.put("cut.bin", &data);
    let target_addr = sshd_addr();
    let dir = temp();
    let path = format!("{}/cut.bin", scratch.relative);
    let access_via = |proxy: &red_wasm_testkit::proxy::CutProxy| through(proxy, "filePath", &path);
    let sftp = connector("sftp");

    let proxy = red_wasm_testkit::proxy::CutProxy::start(target_addr, 5 << 20);
    let target = dir.path().join("resumed.bin");
    sftp.receive(
        &access_via(&proxy),
        ReceiveTarget::File(target.clone()),
        &TransferOptions::default(),
    )
    .await
    .unwrap();
    assert!(std::fs::read(&target).unwrap() == data, "byte-identical");
    assert_eq!(proxy.connections(), 2, "one new session");

    let proxy = red_wasm_testkit::proxy::CutProxy::start(target_addr, 5 << 20);
    let options = TransferOptions {
        retries: 0,
        ..TransferOptions::default()
    };
    let lost = dir.path().join("lost.bin");
    let err = sftp
        .receive(
            &access_via(&proxy),
            ReceiveTarget::File(lost.clone()),
            &options,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Network, "{}", err.message);
    assert_eq!(listing(dir.path()), ["resumed.bin"]);
}

/// A file rewritten in place while its download is cut off, at the same size and with its
/// modification time set back (or within the same second: SFTP's times are whole seconds), is
/// still seen to have changed (the bytes just before the cut differ) and is fetched again from
/// its start: the result is all the new version, not the old one's start joined to the new
/// one's end.
#[tokio::test]
async fn a_file_rewritten_in_the_same_second_is_not_spliced() {
    let scratch = sshd().scratch();
    let old = pattern(24 << 20);
    let new: Vec<u8> = old.iter().map(|b| b ^ 0x5a).collect();
    let file = scratch.put("rewritten.bin", &old);
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    let target_addr = sshd_addr();
    let (rewrite, with) = (file.clone(), new.clone());
    let proxy = red_wasm_testkit::proxy::CutProxy::start_with(target_addr, 5 << 20, move || {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&rewrite)
            .unwrap();
        f.write_all(&with).unwrap();
        f.set_modified(mtime).unwrap();
    });
    let access = through(
        &proxy,
        "filePath",
        &format!("{}/rewritten.bin", scratch.relative),
    );
    let dir = temp();
    let target = dir.path().join("rewritten.bin");
    let (received, lines) = receive_logged(&access, &target).await;
    received.unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), mtime);
    assert!(
        std::fs::read(&target).unwrap() == new,
        "all of the new version"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("the file changed: starting over")),
        "{lines:?}"
    );
}

/// A download that started over because its file changed resumes, at the next cut, against
/// the file as it is now (it does not start over again and again).
#[tokio::test]
async fn after_starting_over_a_download_resumes_against_the_new_file() {
    let scratch = sshd().scratch();
    let old = pattern(24 << 20);
    let new: Vec<u8> = old.iter().map(|b| b ^ 0xa5).collect();
    let file = scratch.put("changing.bin", &old);
    let target_addr = sshd_addr();
    let (rewrite, with) = (file.clone(), new.clone());
    let rewrite = move || {
        std::fs::write(&rewrite, &with).unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&rewrite)
            .unwrap()
            .set_modified(later)
            .unwrap();
    };
    let proxy =
        red_wasm_testkit::proxy::CutProxy::start_with_then(target_addr, 5 << 20, rewrite, 10 << 20);
    let access = through(
        &proxy,
        "filePath",
        &format!("{}/changing.bin", scratch.relative),
    );
    let dir = temp();
    let target = dir.path().join("changing.bin");
    let (received, lines) = receive_logged(&access, &target).await;
    received.unwrap();
    assert!(
        std::fs::read(&target).unwrap() == new,
        "all of the new version"
    );
    assert_eq!(proxy.connections(), 3);
    let count = |what: &str| lines.iter().filter(|l| l.contains(what)).count();
    assert_eq!(count("the file changed: starting over"), 1, "{lines:?}");
    assert_eq!(count("resuming from byte"), 1, "{lines:?}");
}

/// A download whose new session breaks too, early (logging in, opening the file again,
/// reading its last bytes again), tries once more and arrives whole.
#[tokio::test]
async fn a_resumption_whose_new_session_breaks_early_tries_again() {
    let scratch = sshd().scratch();
    let data = pattern(12 << 20);
    scratch.put("twice.bin", &data);
    let target_addr = sshd_addr();
    let dir = temp();
    for early in [3000, 4000, 5000, 6000, 8000, 12000] {
        let proxy =
            red_wasm_testkit::proxy::CutProxy::start_with_then(target_addr, 5 << 20, || {}, early);
        let access = through(
            &proxy,
            "filePath",
            &format!("{}/twice.bin", scratch.relative),
        );
        let target = dir.path().join(format!("twice-{early}.bin"));
        connector("sftp")
            .receive(
                &access,
                ReceiveTarget::File(target.clone()),
                &TransferOptions::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("second session cut after {early} bytes: {e}"));
        assert!(std::fs::read(&target).unwrap() == data, "cut after {early}");
        assert_eq!(proxy.connections(), 3, "cut after {early}");
    }
}

/// A download whose connection drops while the server cannot be reached for a moment (a
/// restarting sshd: the first new connection is closed at once) dials again after a pause
/// and resumes, byte-identical.
#[tokio::test]
async fn a_resumption_waits_for_a_restarting_server() {
    let scratch = sshd().scratch();
    let data = pattern(24 << 20);
    scratch.put("restart.bin", &data);
    let target_addr = sshd_addr();
    let proxy = red_wasm_testkit::proxy::CutProxy::start_then_refusing(target_addr, 5 << 20, 1);
    let access = through(
        &proxy,
        "filePath",
        &format!("{}/restart.bin", scratch.relative),
    );
    let dir = temp();
    let target = dir.path().join("restart.bin");
    let (received, lines) = receive_logged(&access, &target).await;
    received.unwrap();
    assert!(std::fs::read(&target).unwrap() == data, "byte-identical");
    assert_eq!(proxy.connections(), 3, "cut, refused, resumed");
    assert!(
        lines.iter().any(|l| l.contains("dialing again in 1 s")),
        "{lines:?}"
    );
}

/// A file of 64 MiB or more comes in two halves over two sessions: the half whose session
/// drops continues over a third.
#[tokio::test]
async fn a_two_session_download_cut_off_is_resumed() {
    let scratch = sshd().scratch();
    let data = pattern(80 << 20);
    scratch.put("halves.bin", &data);
    let target_addr = sshd_addr();
    let proxy = red_wasm_testkit::proxy::CutProxy::start(target_addr, 10 << 20);
    let access = through(
        &proxy,
        "filePath",
        &format!("{}/halves.bin", scratch.relative),
    );
    let dir = temp();
    let target = dir.path().join("halves.bin");
    connector("sftp")
        .receive(
            &access,
            ReceiveTarget::File(target.clone()),
            &TransferOptions::default(),
        )
        .await
        .unwrap();
    assert!(std::fs::read(&target).unwrap() == data, "byte-identical");
    assert_eq!(proxy.connections(), 3, "two sessions, and one to resume");
}

/// An upload whose connection drops part-way continues over a new session from what the
/// server acknowledged, into the same temporary file, and is renamed onto the target only when
/// whole: byte-identical, nothing left beside it. With retries off it fails, and the target and
/// temporary file are not there.
#[tokio::test]
async fn a_send_cut_off_is_resumed_over_a_new_session() {
    let scratch = sshd().scratch();
    let data = pattern(24 << 20);
    let dir = temp();
    let source = dir.path().join("up.bin");
    std::fs::write(&source, &data).unwrap();
    let target_addr = sshd_addr();
    let access_via = |proxy: &red_wasm_testkit::proxy::CutProxy, name: &str| {
        through(proxy, "filePath", &format!("{}/{name}", scratch.relative))
    };
    let sftp = connector("sftp");
    let (logged, options) = recorded();

    let proxy = red_wasm_testkit::proxy::CutProxy::start_upstream(target_addr, 5 << 20);
    sftp.send(&access_via(&proxy, "resumed.bin"), &source, &options)
        .await
        .unwrap();
    let sent = std::fs::read(scratch.path.join("resumed.bin")).unwrap();
    assert!(sent == data, "byte-identical");
    assert_eq!(proxy.connections(), 2, "one new session");
    assert_eq!(listing(&scratch.path), ["resumed.bin"]);
    let said = logged.lines();
    assert!(
        said.iter().any(|m| m.contains("resuming the upload with")),
        "{said:?}"
    );

    let proxy = red_wasm_testkit::proxy::CutProxy::start_upstream(target_addr, 5 << 20);
    let options = TransferOptions {
        retries: 0,
        ..TransferOptions::default()
    };
    let err = sftp
        .send(&access_via(&proxy, "lost.bin"), &source, &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Network, "{}", err.message);
    assert_eq!(
        listing(&scratch.path),
        ["resumed.bin"],
        "no target, no temporary file"
    );
}

/// A session that drops while the upload's temporary file is renamed onto the target (OpenSSH
/// renames onto no existing file, so the old target is removed first): at each of the last
/// bytes the client sends, the send still ends with the new file in place and nothing beside
/// it, never with the target gone.
#[tokio::test]
async fn a_send_cut_while_renaming_never_loses_the_target() {
    let scratch = sshd().scratch();
    let data = pattern(1 << 20);
    let dir = temp();
    let source = dir.path().join("new.bin");
    std::fs::write(&source, &data).unwrap();
    let target_addr = sshd_addr();
    let access_via = |proxy: &red_wasm_testkit::proxy::CutProxy| {
        through(
            proxy,
            "filePath",
            &format!("{}/target.bin", scratch.relative),
        )
    };
    let target = scratch.path.join("target.bin");
    let sftp = connector("sftp");
    // How many bytes a whole send of it over an existing target takes.
    scratch.put("target.bin", b"old");
    let counter = red_wasm_testkit::proxy::CutProxy::start(target_addr, u64::MAX);
    sftp.send(&access_via(&counter), &source, &TransferOptions::default())
        .await
        .unwrap();
    let total = counter.upstream_bytes();
    let mut renamed_again = 0;
    for cut in (total - 640..total).step_by(40) {
        scratch.put("target.bin", b"old");
        let proxy = red_wasm_testkit::proxy::CutProxy::start_upstream(target_addr, cut);
        let (logged, options) = recorded();
        let sent = sftp.send(&access_via(&proxy), &source, &options).await;
        let lines = logged.lines();
        renamed_again += usize::from(lines.iter().any(|l| l.contains("renaming over a new")));
        let now = std::fs::read(&target).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert!(sent.is_ok(), "cut at {cut} of {total}: {sent:?}");
        assert!(now == data, "cut at {cut} of {total}: the new file");
        assert_eq!(
            listing(&scratch.path),
            ["target.bin"],
            "cut at {cut}: {lines:?}"
        );
    }
    assert!(renamed_again > 0, "no cut fell while renaming");
}

/// A file of 64 MiB or more goes in two halves over two sessions: when the first session
/// drops, its half continues over a third, and the file arrives whole.
#[tokio::test]
async fn a_two_session_send_cut_off_is_resumed() {
    let scratch = sshd().scratch();
    let data = pattern(80 << 20);
    let dir = temp();
    let source = dir.path().join("halves.bin");
    std::fs::write(&source, &data).unwrap();
    let target_addr = sshd_addr();
    let proxy = red_wasm_testkit::proxy::CutProxy::start_upstream(target_addr, 10 << 20);
    let access = through(
        &proxy,
        "filePath",
        &format!("{}/halves.bin", scratch.relative),
    );
    connector("sftp")
        .send(&access, &source, &TransferOptions::default())
        .await
        .unwrap();
    let sent = std::fs::read(scratch.path.join("halves.bin")).unwrap();
    assert!(sent == data, "byte-identical");
    assert_eq!(proxy.connections(), 3, "two sessions, and one to resume");
    assert_eq!(listing(&scratch.path), ["halves.bin"]);
}

/// A write the server refuses (its disk is full: a 2 MiB tmpfs) fails at once as `remote`:
/// not tried again over new sessions, and no temporary file is left.
#[tokio::test]
async fn a_write_the_server_refuses_is_not_resumed() {
    let scratch = sshd().scratch();
    let full = scratch.path.join("full");
    std::fs::create_dir(&full).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&full)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)");
        return;
    }
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&full);
    let (uid, gid) = sshd().user_ids();
    std::os::unix::fs::chown(&full, Some(uid), Some(gid)).unwrap();
    let dir = temp();
    let source = dir.path().join("big.bin");
    std::fs::write(&source, pattern(8 << 20)).unwrap();
    let target_addr = sshd_addr();
    let counter = red_wasm_testkit::proxy::CutProxy::start(target_addr, u64::MAX);
    let access = through(
        &counter,
        "filePath",
        &format!("{}/full/big.bin", scratch.relative),
    );
    let err = connector("sftp")
        .send(&access, &source, &TransferOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Remote, "{}", err.message);
    assert_eq!(counter.connections(), 1, "not tried again: {}", err.message);
    assert!(listing(&full).is_empty(), "{:?}", listing(&full));
}

#[path = "sftp_dirs.rs"]
mod dirs;
