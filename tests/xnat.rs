//! The `xnat` connector against the XNAT test server: the four download forms, the upload
//! flow with its exact request sequences, percent-encoding, errors, and logout every time.

mod support;

use std::sync::{Arc, Mutex};

use red_wasm::{Direction, ErrorKind, LogLevel, Observer, ReceiveTarget, TransferOptions};
use red_wasm_testkit::xnat::{XnatServer, PASSWORD, USER};
use serde_json::{json, Value};
use support::*;

const EXPERIMENT: &str = "projects/P1/subjects/S_ID/experiments/E_ID";

/// A server with project P1, subject S_ID (label "sub 01"), experiment E_ID (label "MR #1"),
/// scan 1, and assessor A_ID (label "qc/1", xsiType xnat:qcAssessmentData).
fn server() -> XnatServer {
    let xnat = XnatServer::start();
    xnat.add_project("P1");
    xnat.add_subject("P1", "S_ID", "sub 01");
    xnat.add_experiment("P1", "S_ID", "E_ID", "MR #1");
    xnat.add_container(EXPERIMENT, "scans", "1", "1", "xnat:mrScanData");
    xnat.add_container(
        EXPERIMENT,
        "assessors",
        "A_ID",
        "qc/1",
        "xnat:qcAssessmentData",
    );
    xnat
}

fn access(xnat: &XnatServer, fields: Value) -> Value {
    let base = json!({"baseUrl": xnat.base(), "project": "P1",
                      "auth": {"username": USER, "password": PASSWORD}});
    merged(&base, fields)
}

#[tokio::test]
async fn receive_all_four_forms() {
    let xnat = server();
    xnat.put_file(
        &format!("{EXPERIMENT}/scans/1"),
        "DICOM",
        "a.dcm",
        b"option 1",
    );
    xnat.put_file(EXPERIMENT, "NIFTI", "b.nii", b"option 2");
    xnat.put_file("projects/P1/subjects/S_ID", "DOCS", "c.txt", b"option 3");
    xnat.put_file("projects/P1", "META", "d.json", b"option 4");
    let dir = temp();
    let cases = [
        (
            json!({"subject": "S_ID", "session": "E_ID", "containerType": "scans", "container": "1",
                "resource": "DICOM", "file": "a.dcm"}),
            "option 1",
            "/REST/projects/P1/subjects/S_ID/experiments/E_ID/scans/1/resources/DICOM/files/a.dcm",
        ),
        (
            json!({"subject": "S_ID", "session": "E_ID", "resource": "NIFTI", "file": "b.nii"}),
            "option 2",
            "/REST/projects/P1/subjects/S_ID/experiments/E_ID/resources/NIFTI/files/b.nii",
        ),
        (
            json!({"subject": "S_ID", "resource": "DOCS", "file": "c.txt"}),
            "option 3",
            "/REST/projects/P1/subjects/S_ID/resources/DOCS/files/c.txt",
        ),
        (
            json!({"resource": "META", "file": "d.json"}),
            "option 4",
            "/REST/projects/P1/resources/META/files/d.json",
        ),
    ];
    for (i, (fields, expected, path)) in cases.into_iter().enumerate() {
        let target = dir.path().join(format!("out{i}"));
        receive("xnat", access(&xnat, fields), &target)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), expected.as_bytes());
        let seen = xnat.seen();
        let (get, logout) = (&seen[2 * i], &seen[2 * i + 1]);
        assert_eq!(
            format!("{} {}", get.method, get.target),
            format!("GET {path}")
        );
        assert!(get.header("authorization").unwrap().starts_with("Basic "));
        assert_eq!(
            format!("{} {}", logout.method, logout.target),
            "DELETE /data/JSESSION"
        );
        assert!(logout.header("cookie").unwrap().starts_with("JSESSIONID="));
        assert_eq!(
            logout.header("authorization"),
            None,
            "the session cookie, not the password"
        );
    }
    assert_eq!(xnat.live_sessions(), 0, "every session was logged out");
}

#[tokio::test]
async fn labels_are_percent_encoded_and_resolved() {
    let xnat = server();
    xnat.put_file(
        &format!("{EXPERIMENT}/assessors/A_ID"),
        "QC ä",
        "report #1.pdf",
        b"encoded",
    );
    let dir = temp();
    let target = dir.path().join("r.pdf");
    let fields = json!({"subject": "sub 01", "session": "MR #1", "containerType": "assessors",
                        "container": "qc/1", "resource": "QC ä", "file": "report #1.pdf"});
    receive("xnat", access(&xnat, fields), &target)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"encoded");
    assert_eq!(
        xnat.sequence()[0],
        "GET /REST/projects/P1/subjects/sub%2001/experiments/MR%20%231/assessors/qc%2F1/resources/QC%20%C3%A4/files/report%20%231.pdf"
    );
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_and_opens_no_session() {
    let xnat = server();
    xnat.put_file("projects/P1", "R", "f", b"x");
    let mut doc = access(&xnat, json!({"resource": "R", "file": "f"}));
    doc["auth"]["password"] = json!("wrong-xnat-pass");
    let dir = temp();
    let err = receive("xnat", doc, &dir.path().join("f"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert!(err.message.contains("401"), "{}", err.message);
    assert!(!err.message.contains("wrong-xnat-pass"));
    assert_eq!(xnat.sessions_opened(), 0);
    assert_eq!(xnat.sequence().len(), 1, "no logout without a session");
    assert!(listing(dir.path()).is_empty());
}

#[tokio::test]
async fn a_missing_file_or_project_is_not_found_and_still_logs_out() {
    let xnat = server();
    let dir = temp();
    for fields in [
        json!({"resource": "R", "file": "missing.txt"}),
        json!({"project": "NOPE", "resource": "R", "file": "f"}),
        json!({"subject": "S_ID", "session": "E_ID", "containerType": "scans", "container": "99",
               "resource": "R", "file": "f"}),
    ] {
        let err = receive("xnat", access(&xnat, fields.clone()), &dir.path().join("f"))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound, "{fields}: {err}");
        assert!(err.message.contains("404"), "{}", err.message);
        assert!(listing(dir.path()).is_empty());
        assert_eq!(xnat.sequence().last().unwrap(), "DELETE /data/JSESSION");
        assert_eq!(xnat.live_sessions(), 0);
    }
}

/// An observer that keeps the log lines.
#[derive(Default)]
struct Lines(Mutex<Vec<(LogLevel, String)>>);

impl Observer for Lines {
    fn log(&self, level: LogLevel, message: &str) {
        self.0.lock().unwrap().push((level, message.to_owned()));
    }
}

#[tokio::test]
async fn a_failed_logout_is_a_warning_that_hides_nothing() {
    let xnat = server();
    xnat.put_file("projects/P1", "R", "f", b"still here");
    xnat.fail_logouts();
    let dir = temp();
    let lines = Arc::new(Lines::default());
    let options = TransferOptions {
        observer: lines.clone(),
        ..TransferOptions::default()
    };
    let xnat_connector = connector("xnat");
    let ok = access(&xnat, json!({"resource": "R", "file": "f"})).to_string();
    xnat_connector
        .receive(&ok, ReceiveTarget::File(dir.path().join("f")), &options)
        .await
        .unwrap();
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"still here");
    let missing = access(&xnat, json!({"resource": "R", "file": "nope"})).to_string();
    let err = xnat_connector
        .receive(
            &missing,
            ReceiveTarget::File(dir.path().join("g")),
            &options,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::NotFound,
        "the transfer's own error, not the logout's"
    );
    let warnings: Vec<String> = lines
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(level, _)| *level == LogLevel::Warn)
        .map(|(_, m)| m.clone())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("DELETE") && warnings[0].contains("500"),
        "{warnings:?}"
    );
}

fn upload_access(xnat: &XnatServer, fields: Value) -> Value {
    let base = access(
        xnat,
        json!({"subject": "S_ID", "session": "E_ID", "file": "out.csv"}),
    );
    merged(&base, fields)
}

fn source(dir: &tempfile::TempDir, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join("out.csv");
    std::fs::write(&path, bytes).unwrap();
    path
}

const E: &str = "/REST/projects/P1/subjects/S_ID/experiments/E_ID";

#[tokio::test]
async fn send_into_a_new_container_without_and_with_xsi_type() {
    let xnat = server();
    let dir = temp();
    let file = source(&dir, b"a,b\n");
    send(
        "xnat",
        upload_access(&xnat, json!({"containerType": "scans", "container": "7"})),
        &file,
    )
    .await
    .unwrap();
    assert_eq!(
        xnat.sequence(),
        [
            format!("GET {E}/scans?format=json"),
            format!("PUT {E}/scans/7"),
            format!("GET {E}/scans/7/resources?format=json"),
            format!("PUT {E}/scans/7/resources/OTHER/files/out.csv?inbody=true"),
            "DELETE /data/JSESSION".to_owned(),
        ]
    );
    assert_eq!(
        xnat.file(&format!("{EXPERIMENT}/scans/7"), "OTHER", "out.csv")
            .unwrap(),
        b"a,b\n"
    );
    let seen = xnat.seen();
    assert!(seen[0].header("authorization").is_some());
    assert!(seen[1..]
        .iter()
        .all(|s| s.header("cookie").is_some() && s.header("authorization").is_none()));
    assert_eq!(seen[3].body, b"a,b\n");

    let fields = json!({"containerType": "reconstructions", "container": "R9",
                        "xsiType": "xnat:reconstructedImageData", "resource": "CSV"});
    send("xnat", upload_access(&xnat, fields), &file)
        .await
        .unwrap();
    assert_eq!(
        xnat.sequence()[5..],
        [
            format!("GET {E}/reconstructions?format=json"),
            format!("PUT {E}/reconstructions/R9?xsiType=xnat%3AreconstructedImageData"),
            format!("GET {E}/reconstructions/R9/resources?format=json"),
            format!("PUT {E}/reconstructions/R9/resources/CSV/files/out.csv?inbody=true"),
            "DELETE /data/JSESSION".to_owned(),
        ]
    );
    let (_, _, xsi) = xnat.container(EXPERIMENT, "reconstructions", "R9").unwrap();
    assert_eq!(xsi, "xnat:reconstructedImageData");
    assert_eq!(xnat.live_sessions(), 0);
}

#[tokio::test]
async fn send_into_an_existing_container_by_label_with_a_matching_xsi_type() {
    let xnat = server();
    let dir = temp();
    let file = source(&dir, b"qc");
    let fields = json!({"containerType": "assessors", "container": "qc/1",
                        "xsiType": "xnat:qcAssessmentData", "resource": "QC"});
    send("xnat", upload_access(&xnat, fields), &file)
        .await
        .unwrap();
    assert_eq!(
        xnat.sequence(),
        [
            format!("GET {E}/assessors?format=json"),
            format!("GET {E}/assessors/qc%2F1/resources?format=json"),
            format!("PUT {E}/assessors/qc%2F1/resources/QC/files/out.csv?inbody=true"),
            "DELETE /data/JSESSION".to_owned(),
        ]
    );
    assert_eq!(
        xnat.file(&format!("{EXPERIMENT}/assessors/A_ID"), "QC", "out.csv")
            .unwrap(),
        b"qc"
    );
}

#[tokio::test]
async fn a_mismatching_xsi_type_is_a_conflict_and_changes_nothing() {
    let xnat = server();
    let dir = temp();
    let file = source(&dir, b"x");
    let fields = json!({"containerType": "scans", "container": "1", "xsiType": "xnat:ctScanData"});
    let err = send("xnat", upload_access(&xnat, fields), &file)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict, "{err}");
    assert!(
        err.message.contains("xnat:mrScanData") && err.message.contains("xnat:ctScanData"),
        "{}",
        err.message
    );
    assert_eq!(
        xnat.sequence(),
        [
            format!("GET {E}/scans?format=json"),
            "DELETE /data/JSESSION".to_owned()
        ]
    );
    assert_eq!(
        xnat.container(EXPERIMENT, "scans", "1").unwrap().2,
        "xnat:mrScanData"
    );
}

#[tokio::test]
async fn an_existing_file_is_a_conflict_unless_overwrite_is_set() {
    let xnat = server();
    let owner = format!("{EXPERIMENT}/scans/1");
    xnat.put_file(&owner, "OTHER", "out.csv", b"old");
    let dir = temp();
    let file = source(&dir, b"new");
    let fields = json!({"containerType": "scans", "container": "1"});
    let err = send("xnat", upload_access(&xnat, fields.clone()), &file)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict, "{err}");
    assert!(
        err.message.contains("overwriteExistingFile"),
        "{}",
        err.message
    );
    assert_eq!(
        xnat.sequence(),
        [
            format!("GET {E}/scans?format=json"),
            format!("GET {E}/scans/1/resources?format=json"),
            format!("GET {E}/scans/1/resources/OTHER/files?format=json"),
            "DELETE /data/JSESSION".to_owned(),
        ]
    );
    assert_eq!(xnat.file(&owner, "OTHER", "out.csv").unwrap(), b"old");

    let mut fields = fields;
    fields["overwriteExistingFile"] = json!(true);
    send("xnat", upload_access(&xnat, fields), &file)
        .await
        .unwrap();
    assert_eq!(
        xnat.sequence()[4..],
        [
            format!("GET {E}/scans?format=json"),
            format!("GET {E}/scans/1/resources?format=json"),
            format!("GET {E}/scans/1/resources/OTHER/files?format=json"),
            format!("DELETE {E}/scans/1/resources/OTHER/files/out.csv"),
            format!("PUT {E}/scans/1/resources/OTHER/files/out.csv?inbody=true"),
            "DELETE /data/JSESSION".to_owned(),
        ]
    );
    assert_eq!(xnat.file(&owner, "OTHER", "out.csv").unwrap(), b"new");
    assert_eq!(xnat.live_sessions(), 0);
}

#[tokio::test]
async fn send_with_a_wrong_password_changes_nothing() {
    let xnat = server();
    let dir = temp();
    let file = source(&dir, b"x");
    let mut doc = upload_access(&xnat, json!({"containerType": "scans", "container": "8"}));
    doc["auth"]["password"] = json!("nope");
    let err = send("xnat", doc, &file).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth);
    assert!(xnat.container(EXPERIMENT, "scans", "8").is_none());
    assert_eq!(xnat.sequence().len(), 1);
}

#[tokio::test]
async fn validation_of_the_receive_and_send_forms() {
    let xnat_connector = connector("xnat");
    let base = json!({"baseUrl": "https://xnat.example.org", "project": "P",
                      "auth": {"username": "u", "password": "p"}, "resource": "R", "file": "f"});
    let with = |fields: Value| merged(&base, fields).to_string();
    for ok in [
        with(json!({"subject": "S", "session": "E", "containerType": "scans", "container": "1"})),
        with(json!({"subject": "S", "session": "E"})),
        with(json!({"subject": "S"})),
        with(json!({})),
    ] {
        xnat_connector
            .validate(Direction::Receive, &ok)
            .await
            .unwrap();
    }
    for (doc, direction, expected) in [
        (
            with(json!({"subject": "S", "session": "E", "container": "1"})),
            Direction::Receive,
            vec!["/containerType: required with container"],
        ),
        (
            with(json!({"containerType": "scans"})),
            Direction::Receive,
            vec!["/container: required with containerType"],
        ),
        (
            with(json!({"session": "E"})),
            Direction::Receive,
            vec!["/subject: required with session"],
        ),
        (
            with(
                json!({"containerType": "series", "container": "1", "subject": "S", "session": "E"}),
            ),
            Direction::Receive,
            vec!["/containerType: expected one of scans, reconstructions, assessors"],
        ),
        (
            with(json!({"xsiType": "x"})),
            Direction::Receive,
            vec!["/xsiType: unknown field"],
        ),
        (
            with(json!({})),
            Direction::Send,
            vec![
                "/subject: required",
                "/session: required",
                "/container: required",
                "/containerType: required",
            ],
        ),
        (
            with(
                json!({"subject": "S", "session": "E", "containerType": "scans", "container": "1",
                     "overwriteExistingFile": "yes"}),
            ),
            Direction::Send,
            vec!["/overwriteExistingFile: expected a boolean"],
        ),
    ] {
        let err = xnat_connector.validate(direction, &doc).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidAccess);
        for line in expected {
            assert!(
                err.message.lines().any(|l| l.starts_with(line)),
                "{line:?} not in {}",
                err.message
            );
        }
    }
    let send_ok = with(
        json!({"subject": "S", "session": "E", "containerType": "scans", "container": "1",
                              "xsiType": "xnat:mrScanData", "overwriteExistingFile": true}),
    );
    xnat_connector
        .validate(Direction::Send, &send_ok)
        .await
        .unwrap();
}

#[test]
fn cli_receives_and_sends_with_xnat() {
    let xnat = server();
    xnat.put_file(EXPERIMENT, "NIFTI", "b.nii", b"via cli");
    let dir = temp();
    let target = dir.path().join("b.nii");
    let doc = access(
        &xnat,
        json!({"subject": "S_ID", "session": "E_ID", "resource": "NIFTI", "file": "b.nii"}),
    );
    let out = cli(&[
        "run",
        "xnat",
        &doc.to_string(),
        "-o",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&target).unwrap(), b"via cli");
    let doc = upload_access(
        &xnat,
        json!({"containerType": "scans", "container": "1", "file": "up.nii"}),
    );
    let out = cli(&[
        "run",
        "xnat",
        &doc.to_string(),
        "--send",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        xnat.file(&format!("{EXPERIMENT}/scans/1"), "OTHER", "up.nii")
            .unwrap(),
        b"via cli"
    );
    let out = cli(&[
        "run",
        "xnat",
        &doc.to_string(),
        "--send",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(13), "conflict: {}", stderr(&out));
}

// receive-dir: a whole resource into a folder.

const SCAN: &str = "/REST/projects/P1/subjects/S_ID/experiments/E_ID/scans/1";

/// Receives resource fields into `target` as a folder (with a RED `listing` when given).
async fn receive_dir(
    xnat: &XnatServer,
    fields: Value,
    listing: Option<Value>,
    target: &std::path::Path,
) -> red_wasm::Result<red_wasm::Outcome> {
    connector("xnat")
        .receive_dir(
            &access(xnat, fields).to_string(),
            listing.map(|l| l.to_string()).as_deref(),
            target,
            &TransferOptions::default(),
        )
        .await
}

/// The tree under `root`: relative paths, folders with a trailing `/`, sorted.
fn tree(root: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let rel = entry
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if entry.file_type().unwrap().is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &entry.path(), out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Bytes that differ per file and are large enough to take several reads.
fn dicom(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[seed as usize % 4] ^ seed)
        .collect()
}

/// Scan 1's DICOM resource: three files at the top, two in sub-folders (one with a space and
/// a `#` in its folder and name).
fn scan_resource(xnat: &XnatServer) -> Vec<(&'static str, Vec<u8>)> {
    let files = vec![
        ("1.dcm", dicom(1, 700_000)),
        ("2.dcm", dicom(2, 5)),
        ("3.dcm", Vec::new()),
        ("secondary/4.dcm", dicom(4, 1234)),
        ("secondary/sub dir/x #5.dcm", dicom(5, 99)),
    ];
    for (path, bytes) in &files {
        xnat.put_file(&format!("{EXPERIMENT}/scans/1"), "DICOM", path, bytes);
    }
    files
}

fn scan_fields() -> Value {
    json!({"subject": "S_ID", "session": "E_ID", "containerType": "scans", "container": "1",
           "resource": "DICOM"})
}

#[tokio::test]
async fn receive_dir_of_a_scan_resource_with_sub_folders() {
    let xnat = server();
    let files = scan_resource(&xnat);
    let dir = temp();
    let target = dir.path().join("dicom");
    let outcome = receive_dir(&xnat, scan_fields(), None, &target)
        .await
        .unwrap();
    assert_eq!(
        tree(&target),
        [
            "1.dcm",
            "2.dcm",
            "3.dcm",
            "secondary/",
            "secondary/4.dcm",
            "secondary/sub dir/",
            "secondary/sub dir/x #5.dcm"
        ]
    );
    for (path, bytes) in &files {
        assert_eq!(&std::fs::read(target.join(path)).unwrap(), bytes, "{path}");
    }
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    // A receive-dir's outcome counts the bytes of the files it made.
    assert_eq!(outcome.bytes, total as u64);
    assert_eq!(
        xnat.sequence(),
        [
            format!("GET {SCAN}/resources/DICOM/files?format=json"),
            format!("GET {SCAN}/resources/DICOM/files/1.dcm"),
            format!("GET {SCAN}/resources/DICOM/files/2.dcm"),
            format!("GET {SCAN}/resources/DICOM/files/3.dcm"),
            format!("GET {SCAN}/resources/DICOM/files/secondary/4.dcm"),
            format!("GET {SCAN}/resources/DICOM/files/secondary/sub%20dir/x%20%235.dcm"),
            "DELETE /data/JSESSION".to_owned(),
        ]
    );
    // One session: the password once, the cookie after, and a logout.
    let seen = xnat.seen();
    assert!(seen[0]
        .header("authorization")
        .unwrap()
        .starts_with("Basic "));
    assert!(seen[0].header("cookie").is_none());
    for s in &seen[1..] {
        assert!(
            s.header("cookie").unwrap().starts_with("JSESSIONID="),
            "{}",
            s.target
        );
        assert_eq!(s.header("authorization"), None, "{}", s.target);
    }
    assert_eq!(xnat.sessions_opened(), 1);
    assert_eq!(xnat.logouts(), 1);
    assert_eq!(xnat.live_sessions(), 0);
}

#[tokio::test]
async fn receive_dir_in_the_forms_without_a_container() {
    let xnat = server();
    let owners = [
        (
            EXPERIMENT,
            json!({"subject": "S_ID", "session": "E_ID", "resource": "NIFTI"}),
        ),
        (
            "projects/P1/subjects/S_ID",
            json!({"subject": "sub 01", "resource": "DOCS"}),
        ),
        ("projects/P1", json!({"resource": "META"})),
    ];
    let dir = temp();
    for (i, (owner, fields)) in owners.into_iter().enumerate() {
        let resource = fields["resource"].as_str().unwrap();
        xnat.put_file(owner, resource, "top.txt", format!("top {i}").as_bytes());
        xnat.put_file(
            owner,
            resource,
            "a/b/deep.txt",
            format!("deep {i}").as_bytes(),
        );
        let target = dir.path().join(format!("out{i}"));
        receive_dir(&xnat, fields.clone(), None, &target)
            .await
            .unwrap();
        assert_eq!(
            tree(&target),
            ["a/", "a/b/", "a/b/deep.txt", "top.txt"],
            "{fields}"
        );
        assert_eq!(
            std::fs::read(target.join("top.txt")).unwrap(),
            format!("top {i}").as_bytes()
        );
        assert_eq!(
            std::fs::read(target.join("a/b/deep.txt")).unwrap(),
            format!("deep {i}").as_bytes()
        );
    }
    let gets: Vec<String> = xnat
        .sequence()
        .into_iter()
        .filter(|s| s.contains("deep.txt"))
        .collect();
    assert_eq!(
        gets,
        [
            format!("GET {E}/resources/NIFTI/files/a/b/deep.txt"),
            "GET /REST/projects/P1/subjects/sub%2001/resources/DOCS/files/a/b/deep.txt".to_owned(),
            "GET /REST/projects/P1/resources/META/files/a/b/deep.txt".to_owned(),
        ]
    );
    assert_eq!(xnat.logouts(), 3);
    assert_eq!(xnat.live_sessions(), 0);
}

#[tokio::test]
async fn an_empty_resource_is_an_empty_folder() {
    let xnat = server();
    xnat.add_resource(&format!("{EXPERIMENT}/scans/1"), "DICOM");
    let dir = temp();
    let target = dir.path().join("empty");
    let outcome = receive_dir(&xnat, scan_fields(), None, &target)
        .await
        .unwrap();
    assert!(target.is_dir());
    assert!(tree(&target).is_empty());
    assert_eq!(outcome.bytes, 0, "no file");
    assert_eq!(
        xnat.sequence(),
        [
            format!("GET {SCAN}/resources/DICOM/files?format=json"),
            "DELETE /data/JSESSION".to_owned(),
        ]
    );
}

#[tokio::test]
async fn a_missing_resource_is_not_found_and_leaves_no_folder() {
    let xnat = server();
    scan_resource(&xnat);
    let dir = temp();
    let mut fields = scan_fields();
    fields["resource"] = json!("NO_SUCH_RESOURCE");
    let err = receive_dir(&xnat, fields, None, &dir.path().join("d"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(
        err.message.contains("NO_SUCH_RESOURCE") && err.message.contains("404"),
        "{}",
        err.message
    );
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    assert_eq!(xnat.sequence().last().unwrap(), "DELETE /data/JSESSION");
    assert_eq!(xnat.live_sessions(), 0);
}

#[tokio::test]
async fn a_file_that_does_not_match_the_md5_xnat_lists_is_not_kept() {
    let xnat = server();
    scan_resource(&xnat);
    // The listing's MD5s are right: the whole resource arrives (each file checked).
    let dir = temp();
    receive_dir(&xnat, scan_fields(), None, &dir.path().join("ok"))
        .await
        .unwrap();
    // A damaged file (its listed MD5 says otherwise): remote, and no folder.
    let owner = format!("{EXPERIMENT}/scans/1");
    xnat.set_listed_digest(&owner, "DICOM", "2.dcm", &"0".repeat(32));
    let err = receive_dir(&xnat, scan_fields(), None, &dir.path().join("bad"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Remote, "{err}");
    assert!(
        err.message.contains("md5") && err.message.contains("2.dcm"),
        "{}",
        err.message
    );
    assert_eq!(listing(dir.path()), ["ok"]);
    assert_eq!(xnat.sequence().last().unwrap(), "DELETE /data/JSESSION");
}

#[tokio::test]
async fn a_listed_file_uri_off_the_xnat_origin_or_out_of_the_resource_is_refused() {
    let owner = format!("{EXPERIMENT}/scans/1");
    for (uri, named) in [
        (
            "http://evil.example/data/experiments/E_ID/scans/1/resources/1/files/2.dcm",
            "http://evil.example/",
        ),
        (
            "//evil.example/data/experiments/E_ID/scans/1/resources/1/files/2.dcm",
            "//evil.example/",
        ),
        (
            "/data/experiments/E_ID/scans/1/resources/1/files/../../../../x",
            "files/../../",
        ),
    ] {
        let xnat = server();
        scan_resource(&xnat);
        xnat.set_listed_uri(&owner, "DICOM", "2.dcm", uri);
        let dir = temp();
        let err = receive_dir(&xnat, scan_fields(), None, &dir.path().join("d"))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Remote, "{uri}: {err}");
        assert!(err.message.contains(named), "{uri}: {}", err.message);
        assert!(listing(dir.path()).is_empty(), "{uri}: nothing left");
        assert_eq!(
            xnat.sequence(),
            [
                format!("GET {SCAN}/resources/DICOM/files?format=json"),
                "DELETE /data/JSESSION".to_owned(),
            ],
            "{uri}: no file is fetched"
        );
    }
}

#[tokio::test]
async fn receive_dir_with_a_listing_receives_exactly_the_listed_files() {
    let xnat = server();
    let files = scan_resource(&xnat);
    let dir = temp();
    let target = dir.path().join("some");
    let listed = json!([
        {"class": "File", "basename": "2.dcm"},
        {"class": "Directory", "basename": "secondary", "listing": [
            {"class": "Directory", "basename": "sub dir", "listing": [
                {"class": "File", "basename": "x #5.dcm"}
            ]}
        ]}
    ]);
    receive_dir(&xnat, scan_fields(), Some(listed), &target)
        .await
        .unwrap();
    assert_eq!(
        tree(&target),
        [
            "2.dcm",
            "secondary/",
            "secondary/sub dir/",
            "secondary/sub dir/x #5.dcm"
        ]
    );
    assert_eq!(std::fs::read(target.join("2.dcm")).unwrap(), files[1].1);
    assert_eq!(
        std::fs::read(target.join("secondary/sub dir/x #5.dcm")).unwrap(),
        files[4].1
    );
    assert_eq!(
        xnat.sequence(),
        [
            format!("GET {SCAN}/resources/DICOM/files?format=json"),
            format!("GET {SCAN}/resources/DICOM/files/2.dcm"),
            format!("GET {SCAN}/resources/DICOM/files/secondary/sub%20dir/x%20%235.dcm"),
            "DELETE /data/JSESSION".to_owned(),
        ]
    );

    // A listed file that the resource does not have: not-found naming it, nothing fetched.
    let listed = json!([
        {"class": "File", "basename": "1.dcm"},
        {"class": "Directory", "basename": "secondary", "listing": [
            {"class": "File", "basename": "missing.dcm"}
        ]}
    ]);
    let before = xnat.sequence().len();
    let err = receive_dir(&xnat, scan_fields(), Some(listed), &dir.path().join("none"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(
        err.message.contains("secondary/missing.dcm"),
        "{}",
        err.message
    );
    assert_eq!(
        xnat.sequence()[before..],
        [
            format!("GET {SCAN}/resources/DICOM/files?format=json"),
            "DELETE /data/JSESSION".to_owned(),
        ]
    );
    // A listed folder that is a file in the resource: not-found naming it.
    let listed = json!([{"class": "Directory", "basename": "2.dcm"}]);
    let err = receive_dir(&xnat, scan_fields(), Some(listed), &dir.path().join("none"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(err.message.starts_with("2.dcm: "), "{}", err.message);
    assert_eq!(listing(dir.path()), ["some"], "no second folder");
    assert_eq!(xnat.live_sessions(), 0);
}

#[tokio::test]
async fn validation_of_receive_dir_and_no_send_dir() {
    let xnat_connector = connector("xnat");
    assert!(xnat_connector.moves_directories());
    let base = json!({"baseUrl": "https://xnat.example.org", "project": "P",
                      "auth": {"username": "u", "password": "p"}, "resource": "R"});
    let with = |fields: Value| merged(&base, fields).to_string();
    for ok in [
        with(json!({"subject": "S", "session": "E", "containerType": "scans", "container": "1"})),
        with(json!({"subject": "S", "session": "E"})),
        with(json!({"subject": "S"})),
        with(json!({})),
    ] {
        xnat_connector
            .validate_dir(Direction::Receive, &ok, None)
            .await
            .unwrap();
        xnat_connector
            .validate_dir(
                Direction::Receive,
                &ok,
                Some(r#"[{"class": "File", "basename": "a.dcm"}]"#),
            )
            .await
            .unwrap();
    }
    for (doc, expected) in [
        (with(json!({"file": "a.dcm"})), "/file: not for receive-dir"),
        (with(json!({"xsiType": "x"})), "/xsiType: unknown field"),
        (
            with(json!({"session": "E"})),
            "/subject: required with session",
        ),
        (
            merged(&base, json!({"resource": null})).to_string(),
            "/resource:",
        ),
    ] {
        let err = xnat_connector
            .validate_dir(Direction::Receive, &doc, None)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidAccess, "{doc}: {err}");
        assert!(
            err.message.lines().any(|l| l.starts_with(expected)),
            "{expected:?} not in {}",
            err.message
        );
    }
    // The file modes keep requiring `file`.
    let err = xnat_connector
        .validate(Direction::Receive, &with(json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidAccess);
    assert!(
        err.message
            .lines()
            .any(|l| l.starts_with("/file: required")),
        "{}",
        err.message
    );
    // No send-dir.
    let send = with(
        json!({"subject": "S", "session": "E", "containerType": "scans",
                           "container": "1"}),
    );
    let err = xnat_connector
        .validate_dir(Direction::Send, &send, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("send-dir"), "{}", err.message);
    let dir = temp();
    let err = xnat_connector
        .send_dir(&send, None, dir.path(), &TransferOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("single files only"), "{}", err.message);
}

#[test]
fn cli_receives_a_resource_folder_with_run_and_cli_1() {
    let xnat = server();
    let files = scan_resource(&xnat);
    let dir = temp();
    let doc = access(&xnat, scan_fields());
    let check = |target: &std::path::Path| {
        assert_eq!(tree(target).len(), 7, "{:?}", tree(target));
        for (path, bytes) in &files {
            assert_eq!(&std::fs::read(target.join(path)).unwrap(), bytes, "{path}");
        }
    };

    // red-wasm run xnat ACCESS --dir -o DIR
    let target = dir.path().join("run");
    let out = cli(&[
        "run",
        "xnat",
        &doc.to_string(),
        "--dir",
        "-o",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    check(&target);

    // CLI 1: red-wasm connector-cli xnat receive-dir ACCESS LOCALDIR [--listing FILE]
    let access_file = dir.path().join("access.json");
    std::fs::write(&access_file, doc.to_string()).unwrap();
    let a = access_file.to_str().unwrap();
    let target = dir.path().join("cli1");
    let out = cli(&[
        "connector-cli",
        "xnat",
        "receive-dir",
        a,
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    check(&target);

    let listing_file = dir.path().join("listing.json");
    std::fs::write(
        &listing_file,
        json!([{"class": "File", "basename": "1.dcm"}]).to_string(),
    )
    .unwrap();
    let l = listing_file.to_str().unwrap();
    let target = dir.path().join("listed");
    let out = cli(&[
        "connector-cli",
        "xnat",
        "receive-dir",
        a,
        target.to_str().unwrap(),
        "--listing",
        l,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(tree(&target), ["1.dcm"]);
    assert_eq!(std::fs::read(target.join("1.dcm")).unwrap(), files[0].1);

    let out = cli(&["connector-cli", "xnat", "receive-dir-validate", a]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let with_file = dir.path().join("with-file.json");
    std::fs::write(
        &with_file,
        merged(&doc, json!({"file": "1.dcm"})).to_string(),
    )
    .unwrap();
    let out = cli(&[
        "connector-cli",
        "xnat",
        "receive-dir",
        with_file.to_str().unwrap(),
        dir.path().join("bad").to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "invalid access: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("/file"), "{}", stderr(&out));

    let missing = dir.path().join("missing.json");
    std::fs::write(
        &missing,
        merged(&doc, json!({"resource": "NOPE"})).to_string(),
    )
    .unwrap();
    let out = cli(&[
        "run",
        "xnat",
        missing.to_str().unwrap(),
        "--dir",
        "-o",
        dir.path().join("nope").to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(ErrorKind::NotFound.exit_code() as i32),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("nope").exists());
    assert_eq!(xnat.live_sessions(), 0);
    assert_eq!(xnat.logouts(), xnat.sessions_opened());
}

#[tokio::test]
async fn a_percent_encoded_listing_uri_with_the_resource_label_gives_the_stored_path() {
    // XNAT lists paths as stored; a URI that is percent-encoded (and names the resource by
    // label, not ID) still yields the file's path, since only its decoded form ends in `Name`.
    let xnat = server();
    let owner = format!("{EXPERIMENT}/scans/1");
    xnat.put_file(&owner, "DICOM", "sub dir/a b.dcm", b"encoded uri");
    xnat.put_file(&owner, "DICOM", "100%.txt", b"a raw percent");
    xnat.set_listed_uri(
        &owner,
        "DICOM",
        "sub dir/a b.dcm",
        "/data/experiments/E_ID/scans/1/resources/DICOM/files/sub%20dir/a%20b.dcm",
    );
    let dir = temp();
    let target = dir.path().join("d");
    receive_dir(&xnat, scan_fields(), None, &target)
        .await
        .unwrap();
    assert_eq!(tree(&target), ["100%.txt", "sub dir/", "sub dir/a b.dcm"]);
    assert_eq!(
        std::fs::read(target.join("sub dir/a b.dcm")).unwrap(),
        b"encoded uri"
    );
    assert_eq!(
        std::fs::read(target.join("100%.txt")).unwrap(),
        b"a raw percent"
    );
    assert!(xnat
        .sequence()
        .contains(&format!("GET {SCAN}/resources/DICOM/files/100%25.txt")));
}
