//! The `sftp` connector's folders (receive-dir, send-dir with `dirPath`) against the real
//! sshd: with and without a RED listing, nested and empty folders, the host's checks of the
//! listing, failures that leave no local folder and name what was sent, links, a cancel in
//! the middle of a batch, and the two command lines (CLI 1 and `red-wasm run`).
//! (A module of the `sftp` test binary.)

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use red_wasm::{CancellationToken, Direction, ErrorKind, Limits, TransferOptions};
use red_wasm_testkit::http::pattern;
use red_wasm_testkit::sshd::{KeyKind, Scratch, PASSWORD, USER};
use serde_json::{json, Value};

use super::support::*;
use super::{observed, recorded, sshd, sshd_addr, through};

/// The 1.x access of the folder `path`, with the password.
fn dir_access(path: &str) -> Value {
    json!({"host": "127.0.0.1", "port": sshd().port(),
           "auth": {"username": USER, "password": PASSWORD}, "dirPath": path})
}

/// The 1.x access of the folder `path`, with a key.
fn dir_key_access(path: &str) -> Value {
    json!({"host": "127.0.0.1", "port": sshd().port(),
           "auth": {"username": USER, "privateKey": sshd().key(KeyKind::Ed25519)}, "dirPath": path})
}

async fn receive_dir(
    access: &Value,
    listing: Option<&Value>,
    target: &Path,
    options: &TransferOptions,
) -> red_wasm::Result<red_wasm::Outcome> {
    let listing = listing.map(Value::to_string);
    connector("sftp")
        .receive_dir(&access.to_string(), listing.as_deref(), target, options)
        .await
}

async fn send_dir(
    access: &Value,
    listing: Option<&Value>,
    source: &Path,
) -> red_wasm::Result<red_wasm::Outcome> {
    let listing = listing.map(Value::to_string);
    connector("sftp")
        .send_dir(
            &access.to_string(),
            listing.as_deref(),
            source,
            &TransferOptions::default(),
        )
        .await
}

/// Every file and folder under `dir`, relative and sorted (folders end in `/`).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(base).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.push(format!("{name}/"));
                walk(&path, base, out);
            } else {
                out.push(name);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Asserts that every file of `expected` (relative paths) holds the same bytes under both
/// folders.
fn same_files(a: &Path, b: &Path, files: &[&str]) {
    for file in files {
        let left = std::fs::read(a.join(file)).unwrap();
        let right = std::fs::read(b.join(file)).unwrap();
        assert!(left == right, "{file} differs");
    }
}

/// `sha1$<hex>` of `bytes`, by sha1sum.
fn sha1(bytes: &[u8]) -> String {
    let dir = temp();
    let file = dir.path().join("f");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new("sha1sum").arg(&file).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha1${}", text.split_whitespace().next().unwrap())
}

/// A remote tree: nested folders, an empty folder, a 3 MiB file, a link to a file and a link
/// to a folder.
fn remote_tree(scratch: &Scratch) {
    scratch.put("top/a.txt", b"alpha");
    scratch.put("top/sub/b.bin", &pattern(3 << 20));
    scratch.put("top/sub/deeper/c.txt", b"gamma");
    let empty = scratch.path.join("top/empty");
    std::fs::create_dir(&empty).unwrap();
    let (uid, gid) = sshd().user_ids();
    std::os::unix::fs::chown(&empty, Some(uid), Some(gid)).unwrap();
    std::os::unix::fs::symlink("a.txt", scratch.path.join("top/link-to-a")).unwrap();
    std::os::unix::fs::symlink("sub", scratch.path.join("top/link-to-sub")).unwrap();
}

#[tokio::test]
async fn receive_dir_without_a_listing_takes_the_whole_tree_into_the_folder() {
    let scratch = sshd().scratch();
    remote_tree(&scratch);
    let top = scratch.path.join("top");
    let expected = [
        "a.txt",
        "empty/",
        "link-to-a",
        "sub/",
        "sub/b.bin",
        "sub/deeper/",
        "sub/deeper/c.txt",
    ];
    let dir = temp();
    // Relative to the login directory, into a new folder; the log says what was left out.
    let target = dir.path().join("new");
    let (recorder, options) = recorded();
    let access = dir_access(&format!("{}/top", scratch.relative));
    let outcome = receive_dir(&access, None, &target, &options).await.unwrap();
    assert_eq!(tree(&target), expected);
    same_files(&top, &target, &["a.txt", "sub/b.bin", "sub/deeper/c.txt"]);
    assert_eq!(std::fs::read(target.join("link-to-a")).unwrap(), b"alpha");
    assert_eq!(outcome.bytes, 5 + (3 << 20) + 5 + 5);
    let log = recorder.lines();
    assert!(
        log.iter()
            .any(|l| l.contains("link-to-sub") && l.contains("a link to a folder")),
        "{log:?}"
    );
    // Absolute, with a key, into an existing empty folder (as RED's agent makes it): the tree
    // goes directly into it, not one level deeper.
    let made = dir.path().join("made");
    std::fs::create_dir(&made).unwrap();
    let access = dir_key_access(&top.display().to_string());
    receive_dir(&access, None, &made, &TransferOptions::default())
        .await
        .unwrap();
    assert_eq!(tree(&made), expected);
    same_files(&top, &made, &["a.txt", "sub/b.bin", "sub/deeper/c.txt"]);
    assert_eq!(
        listing(dir.path()),
        ["made", "new"],
        "no staging folder left"
    );
}

/// A RED listing of `sub` (b.bin and deeper/c.txt) and an empty listed folder, with
/// checksums and sizes.
fn red_listing(b: &[u8]) -> Value {
    json!([
        {"class": "File", "basename": "a.txt", "checksum": sha1(b"alpha"), "size": 5},
        {"class": "Directory", "basename": "sub", "listing": [
            {"class": "File", "basename": "b.bin", "checksum": sha1(b), "size": b.len()},
            {"class": "Directory", "basename": "deeper", "listing": [
                {"class": "File", "basename": "c.txt"}
            ]}
        ]},
        {"class": "Directory", "basename": "empty", "listing": []}
    ])
}

#[tokio::test]
async fn receive_dir_with_a_listing_takes_exactly_the_listed_entries() {
    let scratch = sshd().scratch();
    remote_tree(&scratch);
    scratch.put("top/not-listed.txt", b"extra");
    scratch.put("top/sub/not-listed/x", b"extra");
    let dir = temp();
    let target = dir.path().join("in");
    std::fs::create_dir(&target).unwrap();
    let listing = red_listing(&pattern(3 << 20));
    let access = dir_access(&format!("{}/top/", scratch.path.display()));
    receive_dir(
        &access,
        Some(&listing),
        &target,
        &TransferOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        tree(&target),
        [
            "a.txt",
            "empty/",
            "sub/",
            "sub/b.bin",
            "sub/deeper/",
            "sub/deeper/c.txt"
        ]
    );
    same_files(
        &scratch.path.join("top"),
        &target,
        &["a.txt", "sub/b.bin", "sub/deeper/c.txt"],
    );
    // An empty listing: an empty folder, whatever is remote.
    let nothing = dir.path().join("nothing");
    receive_dir(
        &access,
        Some(&json!([])),
        &nothing,
        &TransferOptions::default(),
    )
    .await
    .unwrap();
    assert!(tree(&nothing).is_empty());
}

#[tokio::test]
async fn a_wrong_checksum_or_a_missing_file_fails_and_leaves_no_folder() {
    let scratch = sshd().scratch();
    remote_tree(&scratch);
    let access = dir_access(&format!("{}/top", scratch.relative));
    let dir = temp();
    // The host checks the listing's checksum: the remote file is not what the RED file says.
    let wrong = red_listing(b"other bytes of the same length?");
    let target = dir.path().join("in");
    let err = receive_dir(&access, Some(&wrong), &target, &TransferOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Remote, "{err}");
    assert!(err.message.contains("sub/b.bin"), "{}", err.message);
    assert!(listing(dir.path()).is_empty(), "no folder, no staging");

    // A listed file that is not on the server: not-found naming it; an existing (agent-made)
    // folder stays empty.
    std::fs::create_dir(&target).unwrap();
    let missing = json!([
        {"class": "File", "basename": "a.txt"},
        {"class": "Directory", "basename": "sub", "listing": [
            {"class": "File", "basename": "gone.txt"}
        ]}
    ]);
    let err = receive_dir(
        &access,
        Some(&missing),
        &target,
        &TransferOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(err.message.contains("top/sub/gone.txt"), "{}", err.message);
    assert_eq!(listing(dir.path()), ["in"]);
    assert!(tree(&target).is_empty(), "the folder stays empty");

    // No listing and no remote folder: not-found naming dirPath.
    let nowhere = format!("{}/no-such-folder", scratch.relative);
    let err = receive_dir(
        &dir_access(&nowhere),
        None,
        &dir.path().join("x"),
        &TransferOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(err.message.contains(&nowhere), "{}", err.message);
    assert_eq!(listing(dir.path()), ["in"]);
}

/// A local tree: nested folders, an empty folder, 20 small files and a 2 MiB one.
fn local_tree(root: &Path) -> Vec<&'static str> {
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(root.join("empty/inner-empty")).unwrap();
    for i in 0..20 {
        std::fs::write(root.join(format!("f{i:02}.txt")), format!("file {i}")).unwrap();
    }
    std::fs::write(root.join("sub/big.bin"), pattern(2 << 20)).unwrap();
    std::fs::write(root.join("sub/deeper/d.txt"), b"delta").unwrap();
    vec!["f00.txt", "f19.txt", "sub/big.bin", "sub/deeper/d.txt"]
}

#[tokio::test]
async fn send_dir_without_a_listing_makes_the_remote_tree() {
    let scratch = sshd().scratch();
    let dir = temp();
    let source = dir.path().join("out");
    let files = local_tree(&source);
    // A folder that does not exist yet, three levels down, relative to the login directory.
    let remote = format!("{}/results/run/1", scratch.relative);
    let outcome = send_dir(&dir_access(&remote), None, &source).await.unwrap();
    let landed = scratch.path.join("results/run/1");
    assert_eq!(
        tree(&landed),
        tree(&source),
        "the same tree, no temporary files"
    );
    same_files(&source, &landed, &files);
    // sub/big.bin, d.txt, f00..f09 ("file 0") and f10..f19 ("file 10").
    assert_eq!(outcome.bytes, (2 << 20) + 5 + 10 * 6 + 10 * 7);
    // Again onto the tree that is there now: every file replaced.
    std::fs::write(source.join("f00.txt"), b"changed").unwrap();
    send_dir(
        &dir_key_access(&landed.display().to_string()),
        None,
        &source,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(landed.join("f00.txt")).unwrap(), b"changed");
    assert_eq!(tree(&landed), tree(&source));
}

#[tokio::test]
async fn send_dir_with_a_listing_sends_exactly_the_listed_entries() {
    let scratch = sshd().scratch();
    let dir = temp();
    let source = dir.path().join("out");
    local_tree(&source);
    let listing = json!([
        {"class": "File", "basename": "f03.txt", "size": 6},
        {"class": "Directory", "basename": "sub", "listing": [
            {"class": "Directory", "basename": "deeper", "listing": [
                {"class": "File", "basename": "d.txt", "checksum": sha1(b"delta")}
            ]}
        ]},
        {"class": "Directory", "basename": "empty"}
    ]);
    let remote = scratch.path.join("listed");
    send_dir(
        &dir_access(&remote.display().to_string()),
        Some(&listing),
        &source,
    )
    .await
    .unwrap();
    assert_eq!(
        tree(&remote),
        [
            "empty/",
            "f03.txt",
            "sub/",
            "sub/deeper/",
            "sub/deeper/d.txt"
        ]
    );
    same_files(&source, &remote, &["f03.txt", "sub/deeper/d.txt"]);
    // A listing that the local folder does not match is refused before anything is sent.
    let wrong = json!([{"class": "File", "basename": "f03.txt", "checksum": sha1(b"no")}]);
    let elsewhere = scratch.path.join("never");
    let err = send_dir(
        &dir_access(&elsewhere.display().to_string()),
        Some(&wrong),
        &source,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::LocalIo, "{err}");
    assert!(!elsewhere.exists());
}

#[tokio::test]
async fn a_failed_send_dir_names_the_files_that_were_sent() {
    let scratch = sshd().scratch();
    let dir = temp();
    let source = dir.path().join("out");
    std::fs::create_dir_all(source.join("zz-locked")).unwrap();
    for i in 0..40 {
        std::fs::write(source.join(format!("f{i:02}.txt")), format!("file {i}")).unwrap();
    }
    std::fs::write(source.join("zz-locked/last.txt"), b"refused").unwrap();
    // The remote folder for the last file exists and may not be written to.
    let remote = scratch.path.join("dest");
    let locked = remote.join("zz-locked");
    std::fs::create_dir_all(&locked).unwrap();
    let (uid, gid) = sshd().user_ids();
    for folder in [&remote, &locked] {
        std::os::unix::fs::chown(folder, Some(uid), Some(gid)).unwrap();
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let err = send_dir(&dir_access(&remote.display().to_string()), None, &source)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    let message = &err.message;
    assert!(
        message.contains("zz-locked/last.txt") && message.contains("permission denied"),
        "{message}"
    );
    // Every file that arrived is counted (and the first ones named); nothing else is there.
    let arrived: Vec<String> = tree(&remote)
        .into_iter()
        .filter(|name| name.starts_with('f'))
        .collect();
    assert!(!arrived.is_empty(), "{message}");
    assert!(
        message.contains(&format!("{} of 41 files were done before", arrived.len())),
        "{} arrived: {message}",
        arrived.len()
    );
    // The files it names are files that arrived: as many as fit (20) of them.
    let named: Vec<&str> = message
        .split([' ', ',', ')'])
        .filter_map(|word| word.rsplit_once("dest/").map(|(_, name)| name))
        .filter(|name| name.starts_with('f'))
        .collect();
    assert_eq!(named.len(), arrived.len().min(20), "{message}");
    assert!(
        named.iter().all(|name| arrived.iter().any(|a| a == name)),
        "{message}"
    );
    assert_eq!(
        tree(&locked),
        Vec::<String>::new(),
        "nothing in the locked folder"
    );
    assert!(
        tree(&remote).iter().all(|n| !n.contains(".part")),
        "no temporary files"
    );
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();

    // A file where a folder must go: refused while making the folders, before any file.
    let blocked = scratch.path.join("blocked");
    std::fs::create_dir(&blocked).unwrap();
    std::os::unix::fs::chown(&blocked, Some(uid), Some(gid)).unwrap();
    scratch.put("blocked/zz-locked", b"a file");
    let err = send_dir(&dir_access(&blocked.display().to_string()), None, &source)
        .await
        .unwrap_err();
    assert!(
        err.message
            .contains("blocked/zz-locked: a file, not a folder, is there"),
        "{err}"
    );
    assert_eq!(tree(&blocked), ["zz-locked"], "nothing was sent");
}

#[tokio::test]
async fn a_link_in_the_local_folder_is_refused_before_anything_is_sent() {
    let scratch = sshd().scratch();
    let dir = temp();
    let source = dir.path().join("out");
    std::fs::create_dir_all(source.join("sub")).unwrap();
    std::fs::write(source.join("a.txt"), b"alpha").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", source.join("sub/passwd")).unwrap();
    let remote = scratch.path.join("dest");
    let err = send_dir(&dir_access(&remote.display().to_string()), None, &source)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::LocalIo, "{err}");
    assert!(
        err.message.contains("sub/passwd: a symbolic link"),
        "{}",
        err.message
    );
    assert!(scratch.listing().is_empty(), "nothing arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_receive_dir_of_many_files_stops_at_once_and_leaves_no_folder() {
    let scratch = sshd().scratch();
    let block = pattern(256 << 10);
    for i in 0..400 {
        scratch.put(&format!("many/{:02}/f{i:03}.bin", i % 10), &block);
    }
    let dir = temp();
    let target = dir.path().join("in");
    let token = CancellationToken::new();
    let options = TransferOptions {
        cancel: Some(token.clone()),
        ..TransferOptions::default()
    };
    let trigger = token.clone();
    let cancelled_at = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        trigger.cancel();
        Instant::now()
    });
    let access = dir_access(&format!("{}/many", scratch.relative));
    let err = receive_dir(&access, None, &target, &options)
        .await
        .unwrap_err();
    let returned = Instant::now();
    let cancelled_at = cancelled_at.await.unwrap();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("cancelled"), "{}", err.message);
    let took = returned - cancelled_at;
    assert!(
        took < Duration::from_millis(400),
        "returned {took:?} after the cancel"
    );
    assert!(listing(dir.path()).is_empty(), "no folder, no staging");
    // Nothing keeps writing there afterwards either.
    std::thread::sleep(Duration::from_millis(300));
    assert!(listing(dir.path()).is_empty());
}

#[tokio::test]
async fn the_file_limit_counts_the_remote_tree() {
    let scratch = sshd().scratch();
    for i in 0..5 {
        scratch.put(&format!("five/f{i}"), b"x");
    }
    let dir = temp();
    let options = TransferOptions {
        limits: Limits {
            max_files: 4,
            ..Limits::default()
        },
        ..TransferOptions::default()
    };
    let access = dir_access(&format!("{}/five", scratch.relative));
    let err = receive_dir(&access, None, &dir.path().join("in"), &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(
        err.message.contains(&format!(
            "the remote folder {USER}@127.0.0.1:{}:{}/five has more than 4 files and folders",
            sshd().port(),
            scratch.relative
        )) && err.message.contains("--max-files"),
        "{}",
        err.message
    );
    assert!(listing(dir.path()).is_empty());

    // Folders count as files do, both ways: three files in two folders are five entries.
    let source = dir.path().join("out");
    for name in ["a/f1", "a/b/f2", "f3"] {
        let file = source.join(name);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, name).unwrap();
    }
    let sftp = connector("sftp");
    let access = dir_access(&format!("{}/up", scratch.relative)).to_string();
    let err = sftp
        .send_dir(&access, None, &source, &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("files and folders"), "{}", err.message);
    assert!(!scratch.path.join("up").exists(), "nothing was sent");
    scratch.put("tree/a/f1", b"1");
    scratch.put("tree/a/b/f2", b"2");
    scratch.put("tree/f3", b"3");
    let access = dir_access(&format!("{}/tree", scratch.relative));
    let err = receive_dir(&access, None, &dir.path().join("tree"), &options)
        .await
        .unwrap_err();
    assert!(
        err.message.contains("more than 4 files and folders"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn folder_access_is_validated_with_json_paths() {
    let sftp = connector("sftp");
    let listing = json!([{"class": "File", "basename": "a"}]).to_string();
    for access in [
        dir_access("d"),
        json!({"host": "h", "username": "u", "password": "p", "dirPath": "/x"}),
        json!({"host": "h", "port": 2222, "auth": {"username": "u", "privateKey": "k"},
               "dirPath": "~/x", "timeout": 3}),
    ] {
        for direction in [Direction::Receive, Direction::Send] {
            for listing in [None, Some(listing.as_str())] {
                sftp.validate_dir(direction, &access.to_string(), listing)
                    .await
                    .unwrap_or_else(|e| panic!("{access}: {e}"));
            }
        }
    }
    for (access, direction, expected) in [
        (
            json!({"host": "h", "auth": {"username": "u", "password": "p"}, "filePath": "x"}),
            Some(Direction::Receive),
            vec!["/filePath: a file's path", "/dirPath: required"],
        ),
        (
            json!({"host": "h", "username": "u", "password": "p", "fileDir": "d", "fileName": "f"}),
            Some(Direction::Send),
            vec!["/fileDir: a file's path", "/fileName: a file's path"],
        ),
        (
            json!({"host": "h", "auth": {"username": "u", "password": "p"}, "filePath": "x", "dirPath": "d"}),
            None,
            vec!["/dirPath: a folder's path"],
        ),
        (
            json!({"host": "h", "auth": {"username": "u"}, "dirPath": 3}),
            Some(Direction::Receive),
            vec![
                "/auth/password: required (or privateKey)",
                "/dirPath: expected a string",
            ],
        ),
    ] {
        let err = match direction {
            Some(direction) => {
                sftp.validate_dir(direction, &access.to_string(), None)
                    .await
            }
            None => sftp.validate(Direction::Receive, &access.to_string()).await,
        }
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidAccess, "{err}");
        for line in expected {
            assert!(
                err.message.lines().any(|l| l.starts_with(line)),
                "{line:?} not in {}",
                err.message
            );
        }
    }
    let err = sftp
        .validate_dir(
            Direction::Receive,
            &dir_access("d").to_string(),
            Some(r#"[{"class": "Folder", "basename": "a"}]"#),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidAccess, "{err}");
    let info = sftp.info().await.unwrap();
    let forms = info.access_schema["oneOf"].as_array().unwrap();
    assert!(
        forms
            .iter()
            .any(|f| f["required"].to_string().contains("dirPath"))
            && forms
                .iter()
                .any(|f| f["required"].to_string().contains("filePath")),
        "{}",
        info.access_schema
    );
}

/// Runs an installed CLI 1 command.
fn command(bin: &Path, name: &str, args: &[&str]) -> std::process::Output {
    Command::new(bin.join(name))
        .args(args)
        .env("RED_WASM_CACHE_DIR", cache_dir())
        .output()
        .unwrap()
}

#[test]
fn cli1_receive_dir_and_send_dir_as_reds_agent_calls_them() {
    let scratch = sshd().scratch();
    remote_tree(&scratch);
    let dir = temp();
    let bin = dir.path().join("bin");
    let out = cli(&["install-commands", bin.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let write = |name: &str, value: &Value| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path
    };
    let access = write(
        "access.json",
        &dir_access(&format!("{}/top", scratch.relative)),
    );
    let listing = write("listing.json", &red_listing(&pattern(3 << 20)));
    let a = access.to_str().unwrap();
    let with_listing = format!("--listing={}", listing.display());
    let out = command(
        &bin,
        "red-connector-ssh",
        &["receive-dir-validate", a, &with_listing],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The agent makes LOCALDIR, empty, and passes --listing=FILE last.
    let local = dir.path().join("inputs/in");
    std::fs::create_dir_all(&local).unwrap();
    let out = command(
        &bin,
        "red-connector-ssh",
        &["receive-dir", a, local.to_str().unwrap(), &with_listing],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(
        tree(&local),
        [
            "a.txt",
            "empty/",
            "sub/",
            "sub/b.bin",
            "sub/deeper/",
            "sub/deeper/c.txt"
        ]
    );
    // send-dir of it, without a listing, to a new remote folder.
    let up = write(
        "up.json",
        &dir_access(&format!("{}/uploaded", scratch.relative)),
    );
    let out = command(
        &bin,
        "red-connector-ssh",
        &["send-dir", up.to_str().unwrap(), local.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(tree(&scratch.path.join("uploaded")), tree(&local));
    // A file's access for a folder: invalid access (exit 1), naming the field.
    let file_access = write(
        "file.json",
        &json!({"host": "127.0.0.1", "port": sshd().port(),
                "auth": {"username": USER, "password": PASSWORD}, "filePath": "x"}),
    );
    let out = command(
        &bin,
        "red-connector-ssh",
        &["receive-dir-validate", file_access.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("/filePath"), "{}", stderr(&out));
}

#[test]
fn red_wasm_run_moves_folders_with_dir_and_send_dir() {
    let scratch = sshd().scratch();
    remote_tree(&scratch);
    let dir = temp();
    let access = dir_access(&format!("{}/top", scratch.relative)).to_string();
    let target = dir.path().join("got");
    let out = cli(&[
        "run",
        "sftp",
        &access,
        "--dir",
        "-o",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(tree(&target).len(), 7, "{:?}", tree(&target));
    same_files(
        &scratch.path.join("top"),
        &target,
        &["a.txt", "sub/b.bin", "sub/deeper/c.txt"],
    );
    let back = dir_access(&format!("{}/back", scratch.relative)).to_string();
    let out = cli(&["run", "sftp", &back, "--send-dir", target.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(tree(&scratch.path.join("back")), tree(&target));
    same_files(&target, &scratch.path.join("back"), &["sub/b.bin"]);
    // A missing remote folder: not found (exit 12), no local folder.
    let missing = dir_access(&format!("{}/nope", scratch.relative)).to_string();
    let other = dir.path().join("other");
    let out = cli(&[
        "run",
        "sftp",
        &missing,
        "--dir",
        "-o",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(12), "{}", stderr(&out));
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    assert!(!other.exists());
}

#[tokio::test]
async fn the_extra_sessions_of_a_batch_stay_within_the_request_limit() {
    // One connection allowed, and four more per file of the folder: the batch's three extra
    // sessions wait for the first file to be counted, and fit.
    let scratch = sshd().scratch();
    for i in 0..10 {
        scratch.put(&format!("ten/f{i}"), format!("file {i}").as_bytes());
    }
    let dir = temp();
    let options = TransferOptions {
        limits: Limits {
            max_requests: 1,
            ..Limits::default()
        },
        ..TransferOptions::default()
    };
    let access = dir_access(&format!("{}/ten", scratch.relative));
    let target = dir.path().join("in");
    receive_dir(&access, None, &target, &options).await.unwrap();
    assert_eq!(tree(&target).len(), 10);
    let remote = format!("{}/back", scratch.relative);
    connector("sftp")
        .send_dir(&dir_access(&remote).to_string(), None, &target, &options)
        .await
        .unwrap();
    assert_eq!(tree(&scratch.path.join("back")), tree(&target));
}

#[tokio::test]
async fn a_drop_box_takes_a_folder_written_directly() {
    let Some(server) = super::server(
        "drop box",
        red_wasm_testkit::sshd::Config {
            drop_box: true,
            ..Default::default()
        },
    ) else {
        return;
    };
    let scratch = server.scratch();
    let dir = temp();
    let source = dir.path().join("out");
    let files = local_tree(&source);
    let access = json!({"host": "127.0.0.1", "port": server.port(),
        "auth": {"username": USER, "password": PASSWORD},
        "dirPath": format!("{}/drop", scratch.path.display())});
    let (recorder, options) = recorded();
    connector("sftp")
        .send_dir(&access.to_string(), None, &source, &options)
        .await
        .unwrap();
    let landed = scratch.path.join("drop");
    assert_eq!(tree(&landed), tree(&source), "no temporary files");
    same_files(&source, &landed, &files);
    let log = recorder.lines();
    assert!(
        log.iter()
            .any(|l| l.contains("refuses renames") && l.contains("directly")),
        "{log:?}"
    );
}

/// Keeps the transfer's progress reports.
#[derive(Default)]
struct Progress(std::sync::Mutex<Vec<(u64, Option<u64>)>>);

impl red_wasm::Observer for Progress {
    fn progress(&self, done: u64, total: Option<u64>) {
        self.0.lock().unwrap().push((done, total));
    }
}

#[tokio::test]
async fn a_batch_reports_the_progress_of_all_its_files_as_one() {
    let scratch = sshd().scratch();
    let dir = temp();
    let source = dir.path().join("out");
    local_tree(&source);
    let size = (2 << 20) + 5 + 10 * 6 + 10 * 7;
    let (progress, options) = observed::<Progress>();
    let remote = format!("{}/up", scratch.relative);
    connector("sftp")
        .send_dir(&dir_access(&remote).to_string(), None, &source, &options)
        .await
        .unwrap();
    let sent = progress.0.lock().unwrap().clone();
    assert!(
        sent.iter().all(|(_, total)| *total == Some(size)),
        "{sent:?}"
    );
    assert!(sent.windows(2).all(|w| w[0].0 <= w[1].0), "{sent:?}");
    assert_eq!(sent.last().unwrap().0, size);

    let (received, options) = observed::<Progress>();
    receive_dir(&dir_access(&remote), None, &dir.path().join("in"), &options)
        .await
        .unwrap();
    let received = received.0.lock().unwrap().clone();
    assert!(
        received.windows(2).all(|w| w[0].0 <= w[1].0),
        "{received:?}"
    );
    assert_eq!(received.last().unwrap().0, size);
}

/// A folder whose first session (the connector's own) drops part-way, either way: the file
/// it was moving resumes over a new session, and that session carries the worker's next
/// files, so the whole folder arrives, byte-identical.
#[tokio::test]
async fn a_folder_moves_whole_when_a_session_drops_mid_batch() {
    let scratch = sshd().scratch();
    let names: Vec<String> = (0..40).map(|i| format!("f{i:02}.bin")).collect();
    let data = |i: usize| pattern((512 << 10) + i * 4099);
    for (i, name) in names.iter().enumerate() {
        scratch.put(&format!("down/{name}"), &data(i));
    }
    let target_addr = sshd_addr();
    let access_via = |port: u16, dir: &str| {
        json!({"host": "127.0.0.1", "port": port,
               "auth": {"username": USER, "password": PASSWORD},
               "dirPath": format!("{}/{dir}", scratch.relative)})
    };

    let proxy = red_wasm_testkit::proxy::CutProxy::start(target_addr, 3 << 20);
    let local = temp();
    let target = local.path().join("down");
    receive_dir(
        &access_via(proxy.port(), "down"),
        None,
        &target,
        &TransferOptions::default(),
    )
    .await
    .unwrap();
    for (i, name) in names.iter().enumerate() {
        assert!(
            std::fs::read(target.join(name)).unwrap() == data(i),
            "{name}"
        );
    }
    assert_eq!(tree(&target).len(), names.len());
    assert_eq!(proxy.connections(), 5, "four sessions, and one to resume");

    let proxy = red_wasm_testkit::proxy::CutProxy::start_upstream(target_addr, 3 << 20);
    send_dir(&access_via(proxy.port(), "up"), None, &target)
        .await
        .unwrap();
    for (i, name) in names.iter().enumerate() {
        let sent = std::fs::read(scratch.path.join("up").join(name)).unwrap();
        assert!(sent == data(i), "{name}");
    }
    assert_eq!(
        listing(&scratch.path.join("up")).len(),
        names.len(),
        "no temporary files"
    );
    assert_eq!(proxy.connections(), 5, "four sessions, and one to resume");
}

/// A session of the batch that hangs (its link goes silent mid-file, open but forwarding
/// nothing) does not outlive the transfer's time limit: the receive-dir and the send-dir
/// return at the deadline, leave no local folder and no remote temporary file. (Sessions the
/// batch dials from its own threads are watched like the connector's own.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_batch_session_ends_at_the_time_limit() {
    let scratch = sshd().scratch();
    let local = temp();
    let source = local.path().join("up");
    std::fs::create_dir(&source).unwrap();
    for i in 0..200 {
        scratch.put(&format!("down/f{i:03}.bin"), &pattern(256 << 10));
        std::fs::write(source.join(format!("f{i:03}.bin")), pattern(256 << 10)).unwrap();
    }
    let target_addr = sshd_addr();
    let options = TransferOptions {
        limits: Limits {
            timeout: Some(Duration::from_secs(2)),
            ..Limits::default()
        },
        ..TransferOptions::default()
    };
    let access_via = |proxy: &red_wasm_testkit::proxy::CutProxy, dir: &str| {
        through(proxy, "dirPath", &format!("{}/{dir}", scratch.relative))
    };
    // A hang that the transfer does not end fails here rather than hanging the tests.
    let bounded = Duration::from_secs(20);
    let sftp = connector("sftp");

    // The second connection, the batch's first extra session, hangs in its first file.
    let proxy = red_wasm_testkit::proxy::CutProxy::start_stalling(target_addr, 1, 64 << 10);
    let target = local.path().join("down");
    let started = Instant::now();
    let access = access_via(&proxy, "down");
    let receiving = sftp.receive_dir(&access, None, &target, &options);
    let err = tokio::time::timeout(bounded, receiving)
        .await
        .expect("the receive-dir outlived its time limit")
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("time limit"), "{}", err.message);
    assert!(took < Duration::from_secs(4), "returned after {took:?}");
    assert_eq!(listing(local.path()), ["up"], "no folder, no staging");

    let proxy =
        red_wasm_testkit::proxy::CutProxy::start_stalling_upstream(target_addr, 1, 128 << 10);
    let started = Instant::now();
    let access = access_via(&proxy, "up");
    let sending = sftp.send_dir(&access, None, &source, &options);
    let err = tokio::time::timeout(bounded, sending)
        .await
        .expect("the send-dir outlived its time limit")
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(took < Duration::from_secs(4), "returned after {took:?}");
    // The hung session's temporary file is removed over a fresh session.
    std::thread::sleep(Duration::from_millis(500));
    let left: Vec<String> = listing(&scratch.path.join("up"))
        .into_iter()
        .filter(|name| name.ends_with(".part"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// A link that breaks every connection after 40 kB, so that sessions die in files' bytes,
/// between files (opening the next, making its temporary file) and while renaming: each file
/// resumes or is tried again over a new session, and both folders arrive whole.
#[tokio::test]
async fn a_folder_moves_whole_over_a_link_that_keeps_breaking() {
    let scratch = sshd().scratch();
    let data = |i: usize| pattern(1000 + i * 7);
    let local = temp();
    let source = local.path().join("up");
    std::fs::create_dir(&source).unwrap();
    for i in 0..300 {
        scratch.put(&format!("down/f{i:03}.bin"), &data(i));
        std::fs::write(source.join(format!("f{i:03}.bin")), data(i)).unwrap();
    }
    let target_addr = sshd_addr();
    let access_via = |proxy: &red_wasm_testkit::proxy::CutProxy, dir: &str| {
        through(proxy, "dirPath", &format!("{}/{dir}", scratch.relative))
    };
    let sftp = connector("sftp");

    let proxy =
        red_wasm_testkit::proxy::CutProxy::start_cutting_every(target_addr, 40_000, u64::MAX);
    let target = local.path().join("down");
    sftp.receive_dir(
        &access_via(&proxy, "down"),
        None,
        &target,
        &TransferOptions::default(),
    )
    .await
    .unwrap();
    for i in 0..300 {
        let name = format!("f{i:03}.bin");
        assert!(
            std::fs::read(target.join(&name)).unwrap() == data(i),
            "{name}"
        );
    }
    assert!(
        proxy.connections() > 6,
        "the link broke: {} connections",
        proxy.connections()
    );

    let proxy =
        red_wasm_testkit::proxy::CutProxy::start_cutting_every(target_addr, u64::MAX, 40_000);
    sftp.send_dir(
        &access_via(&proxy, "up"),
        None,
        &source,
        &TransferOptions::default(),
    )
    .await
    .unwrap();
    for i in 0..300 {
        let name = format!("f{i:03}.bin");
        let sent = std::fs::read(scratch.path.join("up").join(&name)).unwrap();
        assert!(sent == data(i), "{name}");
    }
    assert_eq!(
        listing(&scratch.path.join("up")).len(),
        300,
        "no temporary files"
    );
    assert!(
        proxy.connections() > 6,
        "the link broke: {} connections",
        proxy.connections()
    );
}

/// A send-dir whose session drops while a file is renamed onto its target and whose server
/// then cannot be reached: the file is not sent again from scratch, and when the target is
/// gone (OpenSSH removed it before the cut rename) the error says so and names the whole
/// temporary file left; otherwise the target is old or new, whole.
#[tokio::test]
async fn a_send_dir_that_cannot_finish_a_rename_says_where_the_file_is() {
    let scratch = sshd().scratch();
    let local = temp();
    let source = local.path().join("up");
    std::fs::create_dir(&source).unwrap();
    let data = pattern(1 << 20);
    std::fs::write(source.join("only.bin"), &data).unwrap();
    let target_addr = sshd_addr();
    let access_via = |proxy: &red_wasm_testkit::proxy::CutProxy| {
        through(proxy, "dirPath", &format!("{}/up", scratch.relative))
    };
    let target = scratch.path.join("up/only.bin");
    let sftp = connector("sftp");
    let options = TransferOptions {
        retries: 1,
        ..TransferOptions::default()
    };
    scratch.put("up/only.bin", b"old");
    let counter = red_wasm_testkit::proxy::CutProxy::start(target_addr, u64::MAX);
    sftp.send_dir(&access_via(&counter), None, &source, &options)
        .await
        .unwrap();
    let total = counter.upstream_bytes();
    let mut gone = 0;
    for cut in (total - 640..total).step_by(40) {
        scratch.put("up/only.bin", b"old");
        let proxy =
            red_wasm_testkit::proxy::CutProxy::start_upstream_then_refusing(target_addr, cut, 10);
        let sent = sftp
            .send_dir(&access_via(&proxy), None, &source, &options)
            .await;
        let parts: Vec<String> = listing(&scratch.path.join("up"))
            .into_iter()
            .filter(|n| n.ends_with(".part"))
            .collect();
        match std::fs::read(&target) {
            Ok(now) => {
                assert!(now == data || now == b"old", "cut at {cut}: a whole file");
                assert!(sent.is_err() || now == data, "cut at {cut}: {sent:?}");
                // With the server unreachable, a temporary file cannot be removed either.
                assert!(parts.is_empty() || sent.is_err(), "cut at {cut}: {parts:?}");
                for part in parts {
                    std::fs::remove_file(scratch.path.join("up").join(part)).unwrap();
                }
            }
            Err(_) => {
                gone += 1;
                let err = sent.expect_err("the target is gone, so the send failed");
                assert!(
                    err.message.contains("may be gone"),
                    "cut at {cut}: {}",
                    err.message
                );
                assert_eq!(parts.len(), 1, "cut at {cut}: {parts:?}");
                assert!(
                    err.message.contains(&parts[0]),
                    "cut at {cut}: {}",
                    err.message
                );
                let part = std::fs::read(scratch.path.join("up").join(&parts[0])).unwrap();
                assert!(part == data, "cut at {cut}: the temporary file is whole");
                std::fs::remove_file(scratch.path.join("up").join(&parts[0])).unwrap();
            }
        }
    }
    assert!(gone > 0, "no cut fell after the old target was removed");
}

/// A tree of more entries than a page (the connector asks for 1000 at a time): 2,400 files in
/// nested folders and an empty folder, received and sent back whole, each way over four
/// sessions in all (the batches' extra sessions stay open from one page to the next), with
/// progress that never goes back and ends at the tree's bytes.
#[tokio::test]
async fn a_tree_of_many_pages_moves_whole_over_the_same_sessions() {
    let scratch = sshd().scratch();
    let mut bytes = 0;
    for i in 0..2400 {
        let text = format!("file {i}");
        bytes += text.len() as u64;
        scratch.put(
            &format!("big/d{}/e{}/f{i:04}.txt", i % 4, i % 3),
            text.as_bytes(),
        );
    }
    let empty = scratch.path.join("big/empty/deeper");
    std::fs::create_dir_all(&empty).unwrap();
    let (uid, gid) = sshd().user_ids();
    for folder in [&empty, &scratch.path.join("big/empty")] {
        std::os::unix::fs::chown(folder, Some(uid), Some(gid)).unwrap();
    }
    let local = temp();
    let target = local.path().join("big");
    let proxy = red_wasm_testkit::proxy::CutProxy::start(sshd_addr(), u64::MAX);
    let (progress, options) = observed::<Progress>();
    let access = through(&proxy, "dirPath", &format!("{}/big", scratch.relative));
    let outcome = connector("sftp")
        .receive_dir(&access, None, &target, &options)
        .await
        .unwrap();
    let remote = scratch.path.join("big");
    assert_eq!(tree(&target).len(), 2400 + 4 * 3 + 4 + 2);
    assert_eq!(tree(&target), tree(&remote));
    same_files(&remote, &target, &["d3/e2/f2399.txt", "d0/e0/f0000.txt"]);
    assert_eq!(outcome.bytes, bytes);
    assert_eq!(
        proxy.connections(),
        4,
        "the same four sessions for three pages"
    );
    let reports = progress.0.lock().unwrap().clone();
    assert!(reports.windows(2).all(|w| w[0].0 <= w[1].0), "{reports:?}");
    assert_eq!(reports.last().unwrap().0, bytes);

    let proxy = red_wasm_testkit::proxy::CutProxy::start(sshd_addr(), u64::MAX);
    let (progress, options) = observed::<Progress>();
    let access = through(&proxy, "dirPath", &format!("{}/back", scratch.relative));
    let outcome = connector("sftp")
        .send_dir(&access, None, &target, &options)
        .await
        .unwrap();
    assert_eq!(tree(&scratch.path.join("back")), tree(&target));
    assert_eq!(outcome.bytes, bytes);
    assert_eq!(
        proxy.connections(),
        4,
        "the same four sessions for three pages"
    );
    let reports = progress.0.lock().unwrap().clone();
    assert!(
        reports.iter().all(|(_, total)| *total == Some(bytes)),
        "{:?}",
        &reports[..3]
    );
    assert!(reports.windows(2).all(|w| w[0].0 <= w[1].0));
    assert_eq!(reports.last().unwrap().0, bytes);
}

/// The session that walks a folder of 2,600 entries drops part-way: while it lists the first
/// page, while it moves that page's files (the batch goes on over a new session, which the walk
/// then takes), or while it lists the second page. The walk opens the folder again on the new
/// session and reads past the entries it gave, so the tree arrives whole: no file twice (that
/// would be a conflict), none missing.
#[tokio::test]
async fn a_walk_goes_on_over_a_new_session_when_its_session_drops() {
    let scratch = sshd().scratch();
    for i in 0..2500 {
        scratch.put(&format!("flat/f{i:04}.txt"), format!("file {i}").as_bytes());
    }
    for i in 0..100 {
        scratch.put(
            &format!("flat/sub/g{i:03}.txt"),
            format!("sub {i}").as_bytes(),
        );
    }
    let remote = scratch.path.join("flat");
    let access_via = |proxy: &red_wasm_testkit::proxy::CutProxy| {
        through(proxy, "dirPath", &format!("{}/flat", scratch.relative))
    };
    let mut walks_resumed = 0;
    for cut in [40_000, 130_000, 220_000, 300_000] {
        let proxy = red_wasm_testkit::proxy::CutProxy::start(sshd_addr(), cut);
        let local = temp();
        let target = local.path().join("flat");
        let (recorder, options) = recorded();
        connector("sftp")
            .receive_dir(&access_via(&proxy), None, &target, &options)
            .await
            .unwrap_or_else(|e| panic!("cut after {cut} bytes: {e}"));
        assert_eq!(tree(&target), tree(&remote), "cut after {cut} bytes");
        same_files(
            &remote,
            &target,
            &["f0000.txt", "f2499.txt", "sub/g099.txt"],
        );
        assert!(proxy.connections() > 4, "cut after {cut} bytes: no cut?");
        let resumed: Vec<String> = recorder
            .lines()
            .into_iter()
            .filter(|l| l.contains("the listing goes on over a new session"))
            .collect();
        // A cut is called one, not a timeout as libssh2 has it.
        assert!(
            resumed
                .iter()
                .all(|l| l.contains("the connection was lost")),
            "{resumed:?}"
        );
        walks_resumed += resumed.len();
    }
    assert!(walks_resumed > 0, "no cut fell into a listing");
}

/// Memory that does not grow with the file count, on the connector's side: 20,000 files
/// received and sent back with the connector's memory capped at 2 MiB. The connector needs
/// 1-1.5 MiB for 1,000 files; one that holds the whole tree's entries (`list-tree`) fails
/// under 2.5 MiB at this count.
#[tokio::test]
async fn twenty_thousand_files_move_in_a_small_fixed_connector_memory() {
    let scratch = sshd().scratch();
    for i in 0..20_000 {
        scratch.put(&format!("many/d{:02}/f{i:05}.bin", i % 10), b"x");
    }
    let options = TransferOptions {
        limits: Limits {
            max_memory: 2 << 20,
            ..Limits::default()
        },
        ..TransferOptions::default()
    };
    let local = temp();
    let target = local.path().join("many");
    let access = dir_access(&format!("{}/many", scratch.relative));
    receive_dir(&access, None, &target, &options).await.unwrap();
    assert_eq!(tree(&target), tree(&scratch.path.join("many")));
    let access = dir_access(&format!("{}/back", scratch.relative));
    connector("sftp")
        .send_dir(&access.to_string(), None, &target, &options)
        .await
        .unwrap();
    assert_eq!(tree(&scratch.path.join("back")), tree(&target));
}

/// The session that walks a folder of 1,200 files goes silent in the middle of the listing
/// (open, forwarding nothing): the walk gives it up after one idle timeout and goes on over a
/// new session, without waiting again for the silent one to close its folder handles. (It
/// takes less than one and a half idle timeouts longer than the same receive on a link that
/// stays up.)
#[tokio::test]
async fn a_walk_whose_server_goes_silent_goes_on_after_one_idle_timeout() {
    let scratch = sshd().scratch();
    for i in 0..1200 {
        scratch.put(
            &format!("quiet/f{i:04}.txt"),
            format!("file {i}").as_bytes(),
        );
    }
    let idle = Duration::from_secs(1);
    let runtime = runtime_with_idle_timeout(idle);
    let sftp = runtime.load("sftp").unwrap();
    let local = temp();
    let remote = scratch.path.join("quiet");
    let receive = |proxy: &red_wasm_testkit::proxy::CutProxy, name: &str| {
        let access = through(proxy, "dirPath", &format!("{}/quiet", scratch.relative));
        let target = local.path().join(name);
        let (sftp, remote) = (&sftp, &remote);
        async move {
            let (recorder, options) = recorded();
            let started = Instant::now();
            sftp.receive_dir(&access, None, &target, &options)
                .await
                .unwrap();
            let took = started.elapsed();
            assert_eq!(tree(&target), tree(remote));
            (took, recorder.lines())
        }
    };
    let steady = red_wasm_testkit::proxy::CutProxy::start(sshd_addr(), u64::MAX);
    let (usual, _) = receive(&steady, "usual").await;
    let silent = red_wasm_testkit::proxy::CutProxy::start_stalling(sshd_addr(), 0, 40_000);
    let (took, log) = receive(&silent, "quiet").await;
    assert!(
        log.iter()
            .any(|l| l.contains("the listing goes on over a new session")),
        "{log:?}"
    );
    assert!(
        took < usual + idle + idle / 2,
        "took {took:?}, {usual:?} without the silence: {log:?}"
    );
}

/// Removes a file at the first progress report: the send-dir is under way.
struct RemovesAFile(PathBuf, std::sync::Once);

impl red_wasm::Observer for RemovesAFile {
    fn progress(&self, _done: u64, _total: Option<u64>) {
        self.1.call_once(|| std::fs::remove_file(&self.0).unwrap());
    }
}

/// The entries under `dir` in the order a depth-first walk with `read_dir` meets them (the
/// host's walk of a local folder: each folder's entries as the file system lists them).
fn walk_order(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.clone());
        if path.is_dir() {
            out.extend(walk_order(&path));
        }
    }
    out
}

/// A local folder that changes while it is sent: a file that the walk has not come to yet
/// (the last of 1,503 entries, in the second page) is removed once the first file is on its
/// way; then the first file the walk gave, behind it. The send-dir fails, naming the folder,
/// rather than end well with a tree that is not the folder's. (The
/// walk keeps no list of the folder to compare against: it compares a count and a hash of the
/// entries' names with those of the look at the folder before the send.)
#[tokio::test]
async fn a_local_folder_that_changes_during_a_send_dir_fails_it() {
    let scratch = sshd().scratch();
    let local = temp();
    let source = local.path().join("out");
    for i in 0..1500 {
        let file = source.join(format!("d{}/f{i:04}.txt", i % 3));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, format!("file {i}")).unwrap();
    }
    let order = walk_order(&source);
    assert_eq!(order.len(), 1503);
    let last = order.iter().rev().find(|p| p.is_file()).unwrap().clone();
    let options = TransferOptions {
        observer: Arc::new(RemovesAFile(last.clone(), std::sync::Once::new())),
        ..TransferOptions::default()
    };
    let access = dir_access(&format!("{}/up", scratch.relative));
    let err = connector("sftp")
        .send_dir(&access.to_string(), None, &source, &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::LocalIo, "{err}");
    assert!(
        err.message.contains(&format!(
            "{}: the folder changed during the send-dir",
            source.display()
        )) && err.message.contains("1503 entries then, 1502 now"),
        "{}",
        err.message
    );

    // Behind the walk: the first file it gave, removed while it is being sent, is found
    // missing when the folder is looked at again at the walk's end.
    std::fs::write(&last, b"back").unwrap();
    let first = order.iter().find(|p| p.is_file()).unwrap().clone();
    let options = TransferOptions {
        observer: Arc::new(RemovesAFile(first, std::sync::Once::new())),
        ..TransferOptions::default()
    };
    let access = dir_access(&format!("{}/up2", scratch.relative));
    let err = connector("sftp")
        .send_dir(&access.to_string(), None, &source, &options)
        .await
        .unwrap_err();
    assert!(
        err.kind == ErrorKind::LocalIo && err.message.contains("1503 entries then, 1502 now")
            || err.kind == ErrorKind::NotFound && err.message.contains("no file"),
        "{err}"
    );
}

/// The session that walks a folder of 2,500 files drops part-way, and at that moment the
/// files it had listed first are removed on the server (the cut swept over the first and the
/// second page). A walk that went on past as many entries as it had read would skip files that
/// are still there and end well without them; this one either fails (`remote`: the folder
/// changed, or `not-found` for a removed file it still had to fetch) and leaves no folder, or
/// brings every file that stayed.
#[tokio::test]
async fn a_walk_that_cannot_go_on_where_it_was_fails_rather_than_skip_files() {
    let scratch = sshd().scratch();
    for i in 0..2500 {
        scratch.put(
            &format!("moving/f{i:04}.txt"),
            format!("file {i}").as_bytes(),
        );
    }
    let remote = scratch.path.join("moving");
    // The first 300 entries the server lists (its own order: an unchanged folder's).
    let listed_first: Vec<PathBuf> = std::fs::read_dir(&remote)
        .unwrap()
        .take(300)
        .map(|e| e.unwrap().path())
        .collect();
    let mut changed = 0;
    for cut in [60_000, 150_000, 250_000] {
        for (i, path) in listed_first.iter().enumerate() {
            if !path.exists() {
                scratch.put(
                    &format!("moving/{}", path.file_name().unwrap().to_str().unwrap()),
                    format!("again {i}").as_bytes(),
                );
            }
        }
        let kept: Vec<String> = tree(&remote)
            .into_iter()
            .filter(|name| !listed_first.iter().any(|p| p.ends_with(name)))
            .collect();
        let to_remove = listed_first.clone();
        let proxy = red_wasm_testkit::proxy::CutProxy::start_with(sshd_addr(), cut, move || {
            for path in &to_remove {
                let _ = std::fs::remove_file(path);
            }
        });
        let local = temp();
        let target = local.path().join("moving");
        let access = through(&proxy, "dirPath", &format!("{}/moving", scratch.relative));
        let result = connector("sftp")
            .receive_dir(&access, None, &target, &TransferOptions::default())
            .await;
        match result {
            Ok(_) => {
                let got = tree(&target);
                let missing: Vec<&String> = kept.iter().filter(|k| !got.contains(k)).collect();
                assert!(
                    missing.is_empty(),
                    "cut after {cut}: {} missing",
                    missing.len()
                );
            }
            Err(e) => {
                assert!(
                    matches!(e.kind, ErrorKind::Remote | ErrorKind::NotFound),
                    "cut after {cut}: {e}"
                );
                if e.message.contains("the folder changed") {
                    changed += 1;
                }
                assert!(
                    listing(local.path()).is_empty(),
                    "cut after {cut}: a folder was left"
                );
            }
        }
    }
    assert!(changed > 0, "no cut fell where the walk had to go on");
}

/// Names as long as the file system allows (255 bytes) go both ways: the upload's temporary
/// file (`.NAME.SUFFIX.part`) is cut short to fit, not refused by the server.
#[tokio::test]
async fn the_longest_names_go_both_ways() {
    let scratch = sshd().scratch();
    let local = temp();
    let source = local.path().join("out");
    let names = [
        "n".repeat(255),
        format!("{}.csv", "ü".repeat(125)),
        "x".repeat(233),
    ];
    std::fs::create_dir(&source).unwrap();
    for (i, name) in names.iter().enumerate() {
        std::fs::write(source.join(name), format!("file {i}")).unwrap();
    }
    let remote = format!("{}/long", scratch.relative);
    send_dir(&dir_access(&remote), None, &source).await.unwrap();
    assert_eq!(tree(&scratch.path.join("long")), tree(&source));
    let target = local.path().join("back");
    receive_dir(
        &dir_access(&remote),
        None,
        &target,
        &TransferOptions::default(),
    )
    .await
    .unwrap();
    same_files(
        &source,
        &target,
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    );
}

/// A remote file whose name is not UTF-8 cannot be named in the folder's paths: the
/// receive-dir fails naming it (as red-connector-ssh fails decoding it), rather than end well
/// without the file; no folder is left.
#[tokio::test]
async fn a_remote_name_that_is_not_utf8_fails_the_receive_dir() {
    use std::os::unix::ffi::OsStrExt as _;
    let scratch = sshd().scratch();
    scratch.put("odd/fine.txt", b"fine");
    let odd = scratch
        .path
        .join("odd")
        .join(std::ffi::OsStr::from_bytes(b"bad\xff\xfename"));
    std::fs::write(&odd, b"odd").unwrap();
    let (uid, gid) = sshd().user_ids();
    std::os::unix::fs::chown(&odd, Some(uid), Some(gid)).unwrap();
    let local = temp();
    let access = dir_access(&format!("{}/odd", scratch.relative));
    let err = receive_dir(
        &access,
        None,
        &local.path().join("odd"),
        &TransferOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Remote, "{err}");
    assert!(
        err.message.contains("odd/bad") && err.message.contains("not UTF-8"),
        "{}",
        err.message
    );
    assert!(listing(local.path()).is_empty(), "no folder left");
}

/// The transfer's time limit ends a receive-dir in the middle of a walk's listing (a slow
/// link, 32 KiB/s, under a folder of 2,500 entries whose first page alone takes seconds to
/// list): it returns at the deadline and leaves no folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_ends_a_walk_in_the_middle_of_its_listing() {
    let scratch = sshd().scratch();
    for i in 0..2500 {
        scratch.put(&format!("slow/f{i:04}.txt"), b"x");
    }
    let proxy = red_wasm_testkit::proxy::CutProxy::start_slow(sshd_addr(), 32 << 10);
    let access = through(&proxy, "dirPath", &format!("{}/slow", scratch.relative));
    let options = TransferOptions {
        limits: Limits {
            timeout: Some(Duration::from_secs(1)),
            ..Limits::default()
        },
        ..TransferOptions::default()
    };
    let local = temp();
    let target = local.path().join("slow");
    let sftp = connector("sftp");
    let started = Instant::now();
    let receiving = sftp.receive_dir(&access, None, &target, &options);
    let err = tokio::time::timeout(Duration::from_secs(20), receiving)
        .await
        .expect("the receive-dir outlived its time limit")
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("time limit"), "{}", err.message);
    assert!(
        took < Duration::from_millis(1800),
        "returned after {took:?}"
    );
    assert!(listing(local.path()).is_empty(), "no folder, no staging");
}
