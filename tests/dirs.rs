//! Folders (RED's receive-dir and send-dir): HTTP with a listing, http-archive's host-side
//! unpacking, the host's confinement of every path against hostile connectors and hostile
//! archives, the listing checks, and the command lines (`run --dir`, CLI 1's dir modes).
//! SFTP's folders are in tests/sftp.rs, XNAT's in tests/xnat.rs.

mod support;

use std::io::Write as _;
use std::path::Path;

use red_wasm::{Connector, Direction, ErrorKind, Limits, TransferOptions};
use red_wasm_testkit::http::{pattern, HttpServer};
use serde_json::json;
use support::*;

fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::Digest as _;
    sha1::Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `n` bytes that do not compress (a 64-bit LCG's high bytes).
fn noise(n: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

/// Receives a folder with `name` into `target`.
async fn receive_dir(
    name: &str,
    access: serde_json::Value,
    listing: Option<serde_json::Value>,
    target: &Path,
    options: &TransferOptions,
) -> red_wasm::Result<red_wasm::Outcome> {
    let listing = listing.map(|l| l.to_string());
    connector(name)
        .receive_dir(&access.to_string(), listing.as_deref(), target, options)
        .await
}

/// Every file under `root` with its bytes, by relative path.
fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                out.push((format!("{relative}/"), Vec::new()));
                walk(&path, root, out);
            } else {
                out.push((relative, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[tokio::test]
async fn http_receive_dir_fetches_each_listed_file_from_the_url_joined_with_its_path() {
    let server = HttpServer::start();
    let big = pattern(3 << 20);
    server.put_file("tree/a.txt", b"alpha");
    server.put_file("tree/sub dir/b.bin", &big);
    let listed = json!([
        {"class": "File", "basename": "a.txt", "size": 5, "checksum": format!("sha1${}", sha1_hex(b"alpha"))},
        {"class": "Directory", "basename": "sub dir", "listing": [
            {"class": "File", "basename": "b.bin", "checksum": format!("sha1${}", sha1_hex(&big))}
        ]},
        {"class": "Directory", "basename": "empty"}
    ]);
    let dir = temp();
    let target = dir.path().join("in");
    let access = json!({"url": server.url("/files/tree")});
    let outcome = receive_dir(
        "http",
        access,
        Some(listed),
        &target,
        &TransferOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(outcome.bytes, 5 + big.len() as u64);
    assert_eq!(
        tree(&target),
        vec![
            ("a.txt".to_owned(), b"alpha".to_vec()),
            ("empty/".to_owned(), vec![]),
            ("sub dir/".to_owned(), vec![]),
            ("sub dir/b.bin".to_owned(), big.clone()),
        ]
    );
    let targets: Vec<String> = server.seen().into_iter().map(|s| s.target).collect();
    assert!(
        targets.contains(&"/files/tree/sub%20dir/b.bin".to_owned()),
        "each segment percent-encoded: {targets:?}"
    );
    assert_eq!(listing(dir.path()), ["in"], "no staging folder left");
}

#[tokio::test]
async fn a_failed_receive_dir_leaves_no_folder_and_an_empty_target_empty() {
    let server = HttpServer::start();
    server.put_file("t/a.txt", b"alpha");
    let dir = temp();
    let access = json!({"url": server.url("/files/t")});
    let options = TransferOptions::default();

    // A listed file the server does not have.
    let missing =
        json!([{"class": "File", "basename": "a.txt"}, {"class": "File", "basename": "nope"}]);
    let target = dir.path().join("new");
    let err = receive_dir(
        "http",
        access.clone(),
        Some(missing.clone()),
        &target,
        &options,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{}", err.message);
    assert_eq!(listing(dir.path()), Vec::<String>::new(), "nothing left");

    // The empty folder RED's agent made stays, empty.
    let made = dir.path().join("made");
    std::fs::create_dir(&made).unwrap();
    receive_dir("http", access.clone(), Some(missing), &made, &options)
        .await
        .unwrap_err();
    assert_eq!(listing(&made), Vec::<String>::new());
    assert_eq!(listing(dir.path()), ["made"]);

    // A checksum or size the listing gives and the bytes do not have.
    for wrong in [
        json!([{"class": "File", "basename": "a.txt", "checksum": format!("sha1${}", sha1_hex(b"other"))}]),
        json!([{"class": "File", "basename": "a.txt", "size": 6}]),
    ] {
        let err = receive_dir("http", access.clone(), Some(wrong), &made, &options)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Remote, "{}", err.message);
        assert!(err.message.contains("a.txt has"), "{}", err.message);
        assert_eq!(listing(&made), Vec::<String>::new());
    }

    // Into the same folder, right this time.
    let right = json!([{"class": "File", "basename": "a.txt", "size": 5}]);
    receive_dir("http", access.clone(), Some(right), &made, &options)
        .await
        .unwrap();
    assert_eq!(std::fs::read(made.join("a.txt")).unwrap(), b"alpha");

    // A folder with something in it is refused before any request.
    let before = server.seen().len();
    let right = json!([{"class": "File", "basename": "a.txt"}]);
    let err = receive_dir("http", access.clone(), Some(right), &made, &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::LocalIo, "{}", err.message);
    assert!(err.message.contains("not empty"), "{}", err.message);
    assert_eq!(server.seen().len(), before);
}

#[tokio::test]
async fn listings_are_checked_before_anything_moves() {
    let http = connector("http");
    let access = json!({"url": "https://example.org/d"}).to_string();
    let err = http
        .validate_dir(Direction::Receive, &access, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidAccess);
    assert!(err.message.contains("listing"), "{}", err.message);
    let bad = json!([{"class": "File", "basename": "../../etc/passwd"}, {"class": "Link", "basename": "x"}]);
    let err = http
        .validate_dir(Direction::Receive, &access, Some(&bad.to_string()))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidAccess);
    assert!(
        err.message.contains("listing/0/basename") && err.message.contains("listing/1/class"),
        "{}",
        err.message
    );
    // HTTP sends no folders; http-json and http-mock-send receive none.
    let err = http
        .validate_dir(Direction::Send, &access, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied);
    assert!(err.message.contains("single files only"), "{}", err.message);
    let err = connector("http-json")
        .validate_dir(Direction::Receive, &access, Some("[]"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied);
}

/// A component of the contract's first world (no `directories` export), as connectors built
/// before folders existed are.
#[tokio::test]
async fn a_connector_of_the_first_world_still_loads_and_says_it_moves_files_only() {
    let old: Connector = runtime()
        .load_bytes(&component_with_memories(0, 0), "first-world")
        .unwrap();
    assert!(!old.moves_directories());
    let dir = temp();
    let err = old
        .receive_dir(
            "{}",
            None,
            &dir.path().join("x"),
            &TransferOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied);
    assert!(
        err.message.contains("first-world moves single files only"),
        "{}",
        err.message
    );
    assert!(connector("http").moves_directories());
}

/// The archives of one small tree, in every format.
fn archive(format: &str, entries: &[(&str, &[u8])]) -> Vec<u8> {
    if format == "zip" {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            if name.ends_with('/') {
                zip.add_directory(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
            } else {
                zip.start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                zip.write_all(bytes).unwrap();
            }
        }
        return zip.finish().unwrap().into_inner();
    }
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        if name.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
        } else {
            header.set_size(bytes.len() as u64);
        }
        header.set_mode(0o644);
        set_raw_name(&mut header, name);
        header.set_cksum();
        builder.append(&header, *bytes).unwrap();
    }
    compress(format, builder.into_inner().unwrap())
}

/// Writes `name` into the header as it is (tar's own setters refuse `..` and absolute paths,
/// which is what an attacker's archive has).
fn set_raw_name(header: &mut tar::Header, name: &str) {
    let field = &mut header.as_old_mut().name;
    field.fill(0);
    field[..name.len()].copy_from_slice(name.as_bytes());
}

fn compress(format: &str, tar: Vec<u8>) -> Vec<u8> {
    match format {
        "tar" => tar,
        "gztar" => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&tar).unwrap();
            gz.finish().unwrap()
        }
        "bztar" => {
            let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            bz.write_all(&tar).unwrap();
            bz.finish().unwrap()
        }
        "xztar" => {
            let mut xz =
                lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default()).unwrap();
            xz.write_all(&tar).unwrap();
            xz.finish().unwrap()
        }
        other => panic!("no format {other}"),
    }
}

const FORMATS: [&str; 5] = ["zip", "tar", "gztar", "bztar", "xztar"];

#[tokio::test]
async fn http_archive_unpacks_every_format_into_the_folder() {
    let server = HttpServer::start();
    let big = noise(2 << 20);
    let entries: [(&str, &[u8]); 5] = [
        ("./", b""),
        ("./data/", b""),
        ("./data/a.txt", b"alpha"),
        ("./data/deep/b.bin", &big),
        ("top.txt", b"top"),
    ];
    for format in FORMATS {
        server.put_file(&format!("a.{format}"), &archive(format, &entries));
        let dir = temp();
        let target = dir.path().join("unpacked");
        let access =
            json!({"url": server.url(&format!("/files/a.{format}")), "archiveFormat": format});
        let outcome = receive_dir(
            "http-archive",
            access,
            None,
            &target,
            &TransferOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert!(outcome.bytes > 0, "{format}");
        assert_eq!(
            tree(&target),
            vec![
                ("data/".to_owned(), vec![]),
                ("data/a.txt".to_owned(), b"alpha".to_vec()),
                ("data/deep/".to_owned(), vec![]),
                ("data/deep/b.bin".to_owned(), big.clone()),
                ("top.txt".to_owned(), b"top".to_vec()),
            ],
            "{format}"
        );
        assert_eq!(
            listing(dir.path()),
            ["unpacked"],
            "{format}: no temporary file left"
        );
    }
    // A body that is not the archive it is said to be.
    server.put_file("not.tgz", b"<html>login page</html>");
    let dir = temp();
    let access = json!({"url": server.url("/files/not.tgz"), "archiveFormat": "gztar"});
    let err = receive_dir(
        "http-archive",
        access,
        None,
        &dir.path().join("x"),
        &TransferOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Remote, "{}", err.message);
    assert!(
        err.message.contains("gzip-compressed tar"),
        "{}",
        err.message
    );
    assert_eq!(listing(dir.path()), Vec::<String>::new());
    // Its access is checked like the original's schema.
    let err = connector("http-archive")
        .validate_dir(
            Direction::Receive,
            &json!({"url": "https://x.org/a", "archiveFormat": "rar"}).to_string(),
            None,
        )
        .await
        .unwrap_err();
    assert!(err.message.contains("/archiveFormat"), "{}", err.message);
}

#[tokio::test]
async fn archives_that_escape_or_hold_links_and_devices_are_denied_and_leave_nothing() {
    let server = HttpServer::start();
    let dir = temp();
    let options = TransferOptions::default();
    let mut cases: Vec<(String, Vec<u8>, &str)> = Vec::new();
    for (name, why) in [
        ("../escaped.txt", "is refused"),
        ("ok/../../escaped.txt", "is refused"),
        ("/tmp/red-wasm-archive-absolute.txt", "is refused"),
    ] {
        for format in ["tar", "zip"] {
            let entries: [(&str, &[u8]); 2] = [("fine.txt", b"fine"), (name, b"evil")];
            cases.push((format!("{format} {name}"), archive(format, &entries), why));
        }
    }
    // Links and devices, which tar can carry.
    for (kind, why) in [
        (tar::EntryType::Symlink, "is a link"),
        (tar::EntryType::Link, "is a link"),
        (tar::EntryType::Char, "is a device"),
        (tar::EntryType::Fifo, "is a device or a FIFO"),
    ] {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(0);
        header.set_path("innocent").unwrap();
        header.set_link_name("/etc/passwd").unwrap();
        header.set_cksum();
        builder.append(&header, &b""[..]).unwrap();
        cases.push((format!("tar {kind:?}"), builder.into_inner().unwrap(), why));
    }
    // A zip symbolic link.
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.add_symlink(
        "innocent",
        "/etc/passwd",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    cases.push((
        "zip symlink".into(),
        zip.finish().unwrap().into_inner(),
        "is a link",
    ));

    for (i, (case, bytes, why)) in cases.into_iter().enumerate() {
        let format = if case.starts_with("zip") {
            "zip"
        } else {
            "tar"
        };
        server.put_file(&format!("evil{i}"), &bytes);
        let target = dir.path().join("box").join("in");
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let access =
            json!({"url": server.url(&format!("/files/evil{i}")), "archiveFormat": format});
        let err = receive_dir("http-archive", access, None, &target, &options)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Denied, "{case}: {}", err.message);
        assert!(err.message.contains(why), "{case}: {}", err.message);
        assert_eq!(
            listing(&dir.path().join("box")),
            Vec::<String>::new(),
            "{case}"
        );
        assert_eq!(listing(dir.path()), ["box"], "{case}: nothing beside it");
    }
    assert!(!Path::new("/tmp/red-wasm-archive-absolute.txt").exists());
}

#[tokio::test]
async fn a_zip_bomb_and_an_archive_of_too_many_files_are_denied() {
    let server = HttpServer::start();
    let zeros = vec![0u8; 64 << 20];
    let limited = |max_expansion| TransferOptions {
        limits: Limits {
            max_expansion,
            ..Limits::default()
        },
        ..TransferOptions::default()
    };
    // 64 MiB of zeros: bzip2 and xz pack them more than a thousand times (denied by default),
    // deflate about a thousand times (denied at --max-expansion 100, unpacked by default).
    for (format, refused, allowed) in [
        ("bztar", Limits::default().max_expansion, 1_000_000),
        ("xztar", Limits::default().max_expansion, 1_000_000),
        ("gztar", 100, Limits::default().max_expansion),
        ("zip", 100, Limits::default().max_expansion),
    ] {
        let bomb = archive(format, &[("zeros", &zeros)]);
        assert!(bomb.len() < 1 << 20, "{format}: {}", bomb.len());
        server.put_file(&format!("bomb.{format}"), &bomb);
        let dir = temp();
        let access =
            json!({"url": server.url(&format!("/files/bomb.{format}")), "archiveFormat": format});
        let target = dir.path().join("x");
        let err = receive_dir(
            "http-archive",
            access.clone(),
            None,
            &target,
            &limited(refused),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Denied, "{format}: {}", err.message);
        assert!(err.message.contains("--max-expansion"), "{}", err.message);
        assert_eq!(listing(dir.path()), Vec::<String>::new());
        receive_dir("http-archive", access, None, &target, &limited(allowed))
            .await
            .unwrap();
        assert_eq!(
            std::fs::metadata(target.join("zeros")).unwrap().len(),
            64 << 20
        );
    }
    let names: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    server.put_file("many.tar", &archive("tar", &entries));
    let dir = temp();
    let options = TransferOptions {
        limits: Limits {
            max_files: 10,
            ..Limits::default()
        },
        ..TransferOptions::default()
    };
    let access = json!({"url": server.url("/files/many.tar"), "archiveFormat": "tar"});
    let err = receive_dir(
        "http-archive",
        access,
        None,
        &dir.path().join("x"),
        &options,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{}", err.message);
    assert!(err.message.contains("--max-files"), "{}", err.message);
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

fn hostile() -> Connector {
    runtime()
        .load_file(&hostile_dir().join("hostile_contract.wasm"))
        .unwrap()
}

#[tokio::test]
async fn a_hostile_connector_cannot_name_a_path_outside_its_folder() {
    let dir = temp();
    let target = dir.path().join("in");
    let access = json!({"attack": "dir-escape"}).to_string();
    hostile()
        .receive_dir(&access, None, &target, &TransferOptions::default())
        .await
        .unwrap();
    let report = std::fs::read_to_string(target.join("report.txt")).unwrap();
    let parts: Vec<&str> = report.split("\n--\n").collect();
    for part in &parts[..3] {
        assert_eq!(part.lines().count(), 7, "{report}");
        for line in part.lines() {
            assert!(line.ends_with("Denied"), "{line} in\n{report}");
        }
    }
    assert_eq!(
        parts[3], "\"same\"=ok\n\"same\"=ErrorKind::Conflict",
        "{report}"
    );
    assert_eq!(listing(dir.path()), ["in"]);
    assert_eq!(listing(&target), ["report.txt", "same"]);
    assert!(!Path::new("/tmp/red-wasm-absolute-escape.txt").exists());
}

#[tokio::test]
async fn a_hostile_connector_is_bounded_in_files_and_open_files_and_its_failure_leaves_nothing() {
    let dir = temp();
    let target = dir.path().join("in");
    let options = TransferOptions {
        limits: Limits {
            max_files: 100,
            ..Limits::default()
        },
        ..TransferOptions::default()
    };
    for (attack, kind, says) in [
        ("dir-many-files", ErrorKind::Denied, "--max-files"),
        ("dir-hold-open", ErrorKind::Denied, "--max-open"),
        ("dir-fail-late", ErrorKind::Remote, "failed after ten files"),
    ] {
        let access = json!({"attack": attack}).to_string();
        let err = hostile()
            .receive_dir(&access, None, &target, &options)
            .await
            .unwrap_err();
        assert_eq!(err.kind, kind, "{attack}: {}", err.message);
        assert!(err.message.contains(says), "{attack}: {}", err.message);
        assert_eq!(listing(dir.path()), Vec::<String>::new(), "{attack}");
    }
}

#[tokio::test]
async fn a_hostile_send_dir_reads_only_the_files_of_its_folder() {
    let dir = temp();
    let folder = dir.path().join("out");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("inside.txt"), b"inside").unwrap();
    std::fs::write(dir.path().join("outside.txt"), b"secret").unwrap();
    let access = json!({"attack": "send-dir-escape"}).to_string();
    let err = hostile()
        .send_dir(&access, None, &folder, &TransferOptions::default())
        .await
        .unwrap_err();
    let said = err.message;
    for line in said.lines().skip(1) {
        let expected = if line.starts_with("\"inside.txt\"") {
            "=ok"
        } else if line.starts_with("\"not-listed.txt\"") {
            "::NotFound"
        } else {
            "::Denied"
        };
        assert!(line.ends_with(expected), "{line} in\n{said}");
    }
    assert_eq!(said.lines().count(), 1 + 10, "{said}");
    // A link in the folder stops the send before the connector runs.
    std::os::unix::fs::symlink(dir.path().join("outside.txt"), folder.join("link")).unwrap();
    let err = hostile()
        .send_dir(&access, None, &folder, &TransferOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::LocalIo, "{}", err.message);
    assert!(
        err.message.contains("link: a symbolic link"),
        "{}",
        err.message
    );
}

/// Walks of the folder are bounded too: a page holds at most 1024 entries however many the
/// connector asks for, and walks held open count against `--max-open` (each holds a folder
/// open per level), so a connector cannot make the host hold the tree or its folders.
#[tokio::test]
async fn a_hostile_send_dir_is_bounded_in_its_walks() {
    let dir = temp();
    let folder = dir.path().join("out");
    std::fs::create_dir(&folder).unwrap();
    for i in 0..2000 {
        std::fs::write(folder.join(format!("f{i:04}")), b"x").unwrap();
    }
    for (attack, kind, says) in [
        (
            "send-dir-big-page",
            ErrorKind::Remote,
            "a page of 1024 entries",
        ),
        ("send-dir-hold-walks", ErrorKind::Denied, "--max-open"),
    ] {
        let access = json!({"attack": attack}).to_string();
        let err = hostile()
            .send_dir(&access, None, &folder, &TransferOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind, kind, "{attack}: {}", err.message);
        assert!(err.message.contains(says), "{attack}: {}", err.message);
    }
    still_works().await;
}

#[test]
fn the_command_lines_move_folders() {
    let server = HttpServer::start();
    server.put_file("t/a.txt", b"alpha");
    server.put_file("t/s/b.txt", b"beta");
    server.put_file("t.tar", &archive("tar", &[("a.txt", b"alpha")]));
    let dir = temp();
    let listing_file = dir.path().join("listing.json");
    std::fs::write(
        &listing_file,
        json!([{"class": "File", "basename": "a.txt"}, {"class": "Directory", "basename": "s", "listing": [{"class": "File", "basename": "b.txt", "size": 4}]}]).to_string(),
    )
    .unwrap();
    let l = listing_file.to_str().unwrap();
    let access = json!({"url": server.url("/files/t")}).to_string();

    // red-wasm run --dir.
    let target = dir.path().join("run");
    let out = cli(&[
        "run",
        "http",
        &access,
        "--dir",
        "-o",
        target.to_str().unwrap(),
        "--listing",
        l,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(target.join("s/b.txt")).unwrap(), b"beta");
    let out = cli(&[
        "run",
        "http",
        &access,
        "--send-dir",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(14), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("single files only"),
        "{}",
        stderr(&out)
    );
    let out = cli(&["validate", "http", &access, "--dir", "--listing", l]);
    assert!(out.status.success(), "{}", stderr(&out));

    // CLI 1, as cc-core's agent calls it: LOCALDIR made and empty, --listing=FILE last.
    let access_file = dir.path().join("access.json");
    std::fs::write(&access_file, &access).unwrap();
    let a = access_file.to_str().unwrap();
    let local = dir.path().join("cli1");
    std::fs::create_dir(&local).unwrap();
    let cli1 = |args: &[&str]| {
        let mut all = vec!["connector-cli", "http"];
        all.extend_from_slice(args);
        cli(&all)
    };
    let listing_arg = format!("--listing={l}");
    let out = cli1(&["receive-dir-validate", a, &listing_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cli1(&["receive-dir", a, local.to_str().unwrap(), &listing_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(local.join("a.txt")).unwrap(), b"alpha");
    let out = cli1(&["receive-dir-validate", a]);
    assert_eq!(out.status.code(), Some(1), "no listing: {}", stderr(&out));
    let out = cli1(&["mount-dir", a, local.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("use receive-dir"), "{}", stderr(&out));
    let archive_access = dir.path().join("archive.json");
    std::fs::write(
        &archive_access,
        json!({"url": server.url("/files/t.tar"), "archiveFormat": "tar"}).to_string(),
    )
    .unwrap();
    let unpacked = dir.path().join("unpacked");
    let out = cli(&[
        "connector-cli",
        "red-connector-http-archive",
        "receive-dir",
        archive_access.to_str().unwrap(),
        unpacked.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(unpacked.join("a.txt")).unwrap(), b"alpha");
}

/// A tar header of `kind` for `name` with `size` bytes of data, as raw bytes (so that it can
/// be what no well-behaved writer makes).
fn raw_header(name: &str, kind: tar::EntryType, size: u64) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    set_raw_name(&mut header, name);
    header.set_cksum();
    header.as_bytes().to_vec()
}

/// `bytes` padded to whole 512-byte tar blocks.
fn padded(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.resize(bytes.len().div_ceil(512) * 512, 0);
    bytes
}

#[tokio::test]
async fn archive_headers_and_skipped_data_cannot_make_the_host_hold_or_grind_without_bound() {
    let server = HttpServer::start();
    let dir = temp();
    // A GNU long name of 256 MiB (the tar reader would hold it in memory), and a folder entry
    // carrying 256 MiB of data (which the reader would decompress to skip it): each about
    // 250 KiB gzip-compressed.
    let big = 256 << 20;
    for (case, kind, name) in [
        ("long name", tar::EntryType::GNULongName, "././@LongLink"),
        ("folder with data", tar::EntryType::Directory, "d/"),
    ] {
        let mut tar = raw_header(name, kind, big as u64);
        tar.extend(std::iter::repeat_n(b'a', big));
        tar.extend(raw_header("after", tar::EntryType::Regular, 0));
        tar.extend([0u8; 1024]);
        server.put_file("h.tgz", &compress("gztar", padded(tar)));
        let access = json!({"url": server.url("/files/h.tgz"), "archiveFormat": "gztar"});
        let started = std::time::Instant::now();
        let err = receive_dir(
            "http-archive",
            access,
            None,
            &dir.path().join("x"),
            &TransferOptions::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Denied, "{case}: {}", err.message);
        assert!(err.message.contains("headers"), "{case}: {}", err.message);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{case}"
        );
        assert_eq!(listing(dir.path()), Vec::<String>::new(), "{case}");
    }
}

#[tokio::test]
async fn unpacking_stops_with_the_transfer() {
    let server = HttpServer::start();
    let dir = temp();
    // 4 GiB of zeros in one file, as bzip2 streams of 64 MiB each, concatenated: a few KiB,
    // allowed to expand, but stopped by --timeout long before the end.
    let size: u64 = 4 << 30;
    let mut archive = compress("bztar", raw_header("zeros", tar::EntryType::Regular, size));
    let chunk = compress("bztar", vec![0u8; 64 << 20]);
    for _ in 0..size / (64 << 20) {
        archive.extend_from_slice(&chunk);
    }
    archive.extend(compress("bztar", vec![0u8; 1024]));
    server.put_file("zeros.tbz", &archive);
    let access = json!({"url": server.url("/files/zeros.tbz"), "archiveFormat": "bztar"});
    let options = TransferOptions {
        limits: Limits {
            max_expansion: u64::MAX / (1 << 20),
            timeout: Some(std::time::Duration::from_secs(1)),
            ..Limits::default()
        },
        ..TransferOptions::default()
    };
    let started = std::time::Instant::now();
    let err = receive_dir(
        "http-archive",
        access,
        None,
        &dir.path().join("x"),
        &options,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{}", err.message);
    assert!(err.message.contains("--timeout"), "{}", err.message);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The unpacking thread lets go of its files within a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !listing(dir.path()).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn folders_count_against_the_file_limit_and_zip_devices_are_refused() {
    let server = HttpServer::start();
    let dir = temp();
    let names: Vec<String> = (0..50).map(|i| format!("d{i}/")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
    server.put_file("dirs.tar", &archive("tar", &entries));
    let options = TransferOptions {
        limits: Limits {
            max_files: 10,
            ..Limits::default()
        },
        ..TransferOptions::default()
    };
    let access = json!({"url": server.url("/files/dirs.tar"), "archiveFormat": "tar"});
    let err = receive_dir(
        "http-archive",
        access,
        None,
        &dir.path().join("x"),
        &options,
    )
    .await
    .unwrap_err();
    assert!(err.message.contains("--max-files"), "{}", err.message);

    // A zip entry whose Unix mode says FIFO (writers mask the type bits: set them in the
    // central directory by hand, as a hostile archive would).
    let mut zip = archive("zip", &[("pipe", b"")]);
    let central = zip
        .windows(4)
        .position(|w| w == b"PK\x01\x02")
        .expect("a central directory entry");
    zip[central + 5] = 3; // made by Unix
    zip[central + 38..central + 42].copy_from_slice(&((0o010_644u32) << 16).to_le_bytes());
    server.put_file("fifo.zip", &zip);
    let access = json!({"url": server.url("/files/fifo.zip"), "archiveFormat": "zip"});
    let err = receive_dir(
        "http-archive",
        access,
        None,
        &dir.path().join("y"),
        &TransferOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{}", err.message);
    assert!(err.message.contains("a FIFO"), "{}", err.message);
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn an_empty_folder_that_receives_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt as _;
    let server = HttpServer::start();
    server.put_file("t/a", b"a");
    let dir = temp();
    let made = dir.path().join("made");
    std::fs::create_dir(&made).unwrap();
    std::fs::set_permissions(&made, std::fs::Permissions::from_mode(0o750)).unwrap();
    let listed = json!([{"class": "File", "basename": "a"}]);
    receive_dir(
        "http",
        json!({"url": server.url("/files/t")}),
        Some(listed),
        &made,
        &TransferOptions::default(),
    )
    .await
    .unwrap();
    let mode = std::fs::metadata(&made).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o750);
}

#[tokio::test]
async fn a_folder_may_make_a_few_requests_per_file_beyond_max_requests() {
    let server = HttpServer::start();
    let names: Vec<String> = (0..30).map(|i| format!("f{i}")).collect();
    for name in &names {
        server.put_file(&format!("many/{name}"), name.as_bytes());
    }
    let listed: Vec<serde_json::Value> = names
        .iter()
        .map(|n| json!({"class": "File", "basename": n}))
        .collect();
    let options = TransferOptions {
        limits: Limits {
            max_requests: 10,
            ..Limits::default()
        },
        ..TransferOptions::default()
    };
    let dir = temp();
    let access = json!({"url": server.url("/files/many")});
    // 30 files, one request each: beyond 10, within 10 + 4 per file.
    receive_dir(
        "http",
        access.clone(),
        Some(json!(listed)),
        &dir.path().join("a"),
        &options,
    )
    .await
    .unwrap();
    assert_eq!(listing(&dir.path().join("a")).len(), 30);
    // Even one request allowed: each file counts before its request (eight go at once).
    let one = TransferOptions {
        limits: Limits {
            max_requests: 1,
            ..Limits::default()
        },
        ..TransferOptions::default()
    };
    receive_dir(
        "http",
        access.clone(),
        Some(json!(listed)),
        &dir.path().join("b"),
        &one,
    )
    .await
    .unwrap();
    assert_eq!(listing(&dir.path().join("b")).len(), 30);
    // A single file gets no such room: 11 requests for one file are refused.
    let hostile_like = json!({"url": server.url("/loop/0")});
    let err = connector("http")
        .receive(
            &hostile_like.to_string(),
            red_wasm::ReceiveTarget::File(dir.path().join("one")),
            &options,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{}", err.message);
    assert!(err.message.contains("--max-requests"), "{}", err.message);
}

/// A listing of more files than the connector fetches in one host call (1000): 10,000 files
/// in ten folders, fetched a page at a time, arrive whole, with the connector's memory capped
/// at 4 MiB. (Read into a JSON tree, as before, the listing alone took more than that.)
#[tokio::test]
async fn http_receive_dir_of_a_listing_of_many_pages_arrives_whole() {
    let server = HttpServer::start();
    let mut listed = Vec::new();
    let mut expected = Vec::new();
    for folder in 0..10 {
        let mut files = Vec::new();
        for i in 0..1000 {
            let name = format!("f{i:03}");
            let text = format!("file {folder}/{i}");
            server.put_file(&format!("pages/d{folder}/{name}"), text.as_bytes());
            files.push(json!({"class": "File", "basename": name, "size": text.len()}));
            expected.push((format!("d{folder}/{name}"), text.into_bytes()));
        }
        listed.push(
            json!({"class": "Directory", "basename": format!("d{folder}"), "listing": files}),
        );
        expected.push((format!("d{folder}/"), Vec::new()));
    }
    expected.sort();
    let dir = temp();
    let target = dir.path().join("in");
    let access = json!({"url": server.url("/files/pages")});
    let options = TransferOptions {
        limits: Limits {
            max_memory: 4 << 20,
            ..Limits::default()
        },
        ..TransferOptions::default()
    };
    receive_dir("http", access, Some(json!(listed)), &target, &options)
        .await
        .unwrap();
    assert_eq!(tree(&target), expected);
}
