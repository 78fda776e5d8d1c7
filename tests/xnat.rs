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
