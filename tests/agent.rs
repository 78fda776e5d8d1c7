//! The real cc-core 9.3.0 agent (`restricted_red`, installed by `.ci/deps`) runs RED files
//! whose inputs and outputs name the RED connector CLI 1 commands, with red-wasm's commands
//! first on PATH, against the project's HTTP server, sshd and XNAT test server.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use red_wasm_testkit::http::{pattern, HttpServer, PASSWORD, USER};
use red_wasm_testkit::sshd::{self, Sshd};
use red_wasm_testkit::xnat::{self, XnatServer};
use serde_json::{json, Value};
use support::*;

/// The agent's Python, from the virtual environment `.ci/deps` makes.
fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.ci/.venv-cc-core/bin/python");
    assert!(
        python.exists(),
        "cc-core 9.3.0 is not installed: run `bash .ci/deps`"
    );
    python
}

/// A work folder with red-wasm's CLI 1 commands installed in `bin/`.
struct Agent {
    dir: tempfile::TempDir,
}

impl Agent {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let out = cli(&["install-commands", bin.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::create_dir(dir.path().join("work")).unwrap();
        Agent { dir }
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// Runs the agent on `red` (with `--outputs`); returns its result document and all it
    /// printed.
    fn run(&self, red: &Value) -> (Value, String) {
        let file = self.dir.path().join("red.json");
        std::fs::write(&file, red.to_string()).unwrap();
        let path = format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new(python())
            .args(["-m", "cc_core.agent.restricted_red"])
            .arg(&file)
            .arg("--outputs")
            .current_dir(self.work())
            .env("PATH", path)
            .env("RED_WASM_CACHE_DIR", cache_dir())
            .output()
            .expect("run the agent");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let everything = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let result: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("the agent printed no result ({e}):\n{everything}"));
        (result, everything)
    }
}

/// A RED file that copies input `infile` to `out.dat` with `cp`, and sends `out.dat`.
fn copy_red(input: Value, output_connector: Value) -> Value {
    json!({
        "command": ["cp"],
        "cli": {
            "inputs": {
                "infile": {"type": "File", "inputBinding": {"position": 0}},
                "outname": {"type": "string", "inputBinding": {"position": 1}}
            },
            "outputs": {"outfile": {"type": "File", "outputBinding": {"glob": "out.dat"}}},
            // cc-core 9.3.0's agent needs these to report a failure (it opens the stderr file).
            "stdout": "stdout.txt",
            "stderr": "stderr.txt"
        },
        "inputs": {"infile": input, "outname": "out.dat"},
        "outputs": {"outfile": {"class": "File", "connector": output_connector}}
    })
}

fn input(agent: &Agent, name: &str, command: &str, access: Value) -> Value {
    json!({
        "class": "File",
        "path": agent.dir.path().join("inputs").join(name).display().to_string(),
        "connector": {"command": command, "access": access}
    })
}

fn sha1(path: &Path) -> String {
    let out = Command::new("sha1sum").arg(path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha1${}", text.split_whitespace().next().unwrap())
}

fn assert_succeeded(result: &Value, everything: &str) {
    assert_eq!(result["state"], "succeeded", "{everything}");
}

#[test]
fn http_in_and_out_with_basic_auth_size_and_checksum() {
    let server = HttpServer::start();
    let data = pattern(200_000);
    server.put_file("in.dat", &data);
    let reference = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(reference.path(), &data).unwrap();
    // The same input, with basic auth, for an agent's work folder.
    let protected = |agent: &Agent| {
        let access = json!({"url": server.url("/basic/in.dat"),
                            "auth": {"username": USER, "password": PASSWORD}});
        input(agent, "in.dat", "red-connector-http", access)
    };
    let agent = Agent::new();
    let mut infile = protected(&agent);
    infile["size"] = json!(data.len());
    infile["checksum"] = json!(sha1(reference.path()));
    let put = json!({"command": "red-connector-http",
                     "access": {"url": server.url("/files/result.dat"), "method": "PUT"}});
    let (result, everything) = agent.run(&copy_red(infile, put.clone()));
    assert_succeeded(&result, &everything);
    assert_eq!(
        server.file("result.dat").unwrap(),
        data,
        "the output arrived"
    );
    assert!(
        !everything.contains(PASSWORD),
        "the password appears nowhere"
    );

    // A checksum that does not match fails the run before the command.
    let agent = Agent::new();
    let mut infile = protected(&agent);
    infile["checksum"] = json!("sha1$0000000000000000000000000000000000000000");
    let (result, everything) = agent.run(&copy_red(infile, put));
    assert_eq!(result["state"], "failed", "{everything}");
    assert!(everything.contains("checksum"), "{everything}");
    assert_eq!(result["process"]["executed"], false);
}

#[test]
fn http_json_in_and_out() {
    let server = HttpServer::start();
    server.put_file("doc.json", b"{\"a\": [1, 2, 3]}");
    let agent = Agent::new();
    let infile = input(
        &agent,
        "doc.json",
        "red-connector-http-json",
        json!({"url": server.url("/files/doc.json")}),
    );
    let out = json!({"command": "red-connector-http-json",
                     "access": {"url": server.url("/files/back.json"), "method": "POST"}});
    let (result, everything) = agent.run(&copy_red(infile, out));
    assert_succeeded(&result, &everything);
    assert_eq!(server.file("back.json").unwrap(), b"{\"a\": [1, 2, 3]}");
    let seen = server.seen();
    assert_eq!(
        seen.last().unwrap().header("content-type"),
        Some("application/json")
    );
}

#[test]
fn sftp_in_and_out_into_a_new_nested_folder() {
    let sshd = Sshd::shared();
    let scratch = sshd.scratch();
    scratch.put("in.dat", b"over ssh");
    let agent = Agent::new();
    let access = |path: String| {
        json!({"host": "127.0.0.1", "port": sshd.port(),
        "auth": {"username": sshd::USER, "password": sshd::PASSWORD}, "filePath": path})
    };
    let infile = input(
        &agent,
        "in.dat",
        "red-connector-ssh",
        access(format!("{}/in.dat", scratch.relative)),
    );
    let out = json!({"command": "red-connector-ssh",
                     "access": access(format!("{}/results/run1/out.dat", scratch.relative))});
    let (result, everything) = agent.run(&copy_red(infile, out));
    assert_succeeded(&result, &everything);
    assert_eq!(
        std::fs::read(scratch.path.join("results/run1/out.dat")).unwrap(),
        b"over ssh"
    );
    assert!(!everything.contains(sshd::PASSWORD));
}

#[test]
fn xnat_in_and_out() {
    let xnat = XnatServer::start();
    xnat.add_project("P1");
    xnat.add_subject("P1", "S1", "S1");
    xnat.add_experiment("P1", "S1", "E1", "E1");
    xnat.put_file(
        "projects/P1/subjects/S1/experiments/E1",
        "NIFTI",
        "in.nii",
        b"nifti bytes",
    );
    let agent = Agent::new();
    let auth = json!({"username": xnat::USER, "password": xnat::PASSWORD});
    let infile = input(
        &agent,
        "in.nii",
        "red-connector-xnat-http",
        json!({
            "baseUrl": xnat.base(), "project": "P1", "subject": "S1", "session": "E1",
            "resource": "NIFTI", "file": "in.nii", "auth": auth
        }),
    );
    let out = json!({"command": "red-connector-xnat-http", "access": {
        "baseUrl": xnat.base(), "project": "P1", "subject": "S1", "session": "E1",
        "containerType": "assessors", "container": "QC1", "xsiType": "xnat:qcAssessmentData",
        "resource": "RESULT", "file": "out.nii", "auth": auth
    }});
    let (result, everything) = agent.run(&copy_red(infile, out));
    assert_succeeded(&result, &everything);
    let owner = "projects/P1/subjects/S1/experiments/E1/assessors/QC1";
    assert_eq!(
        xnat.file(owner, "RESULT", "out.nii").unwrap(),
        b"nifti bytes"
    );
    assert_eq!(xnat.live_sessions(), 0, "every session logged out");
    assert!(!everything.contains(xnat::PASSWORD));
}

#[test]
fn failures_reach_the_agent_with_the_connectors_message_and_no_password() {
    let server = HttpServer::start();
    let agent = Agent::new();
    let infile = input(
        &agent,
        "x",
        "red-connector-http",
        json!({"url": server.url("/files/missing.dat")}),
    );
    let put = json!({"command": "red-connector-http", "access": {"url": server.url("/files/o"), "method": "PUT"}});
    let (result, everything) = agent.run(&copy_red(infile, put.clone()));
    assert_eq!(result["state"], "failed", "{everything}");
    let debug = result["debugInfo"].to_string();
    assert!(
        debug.contains("404") && debug.contains("missing.dat"),
        "{debug}"
    );

    let sshd = Sshd::shared();
    let wrong = "not-the-Pa55word";
    let infile = input(
        &agent,
        "y",
        "red-connector-ssh",
        json!({"host": "127.0.0.1", "port": sshd.port(),
        "auth": {"username": sshd::USER, "password": wrong}, "filePath": "whatever.dat"}),
    );
    let (result, everything) = agent.run(&copy_red(infile, put));
    assert_eq!(result["state"], "failed", "{everything}");
    let debug = result["debugInfo"].to_string();
    assert!(
        debug.contains("SSH login") && debug.contains("failed"),
        "{debug}"
    );
    assert!(
        !everything.contains(wrong),
        "the password appears nowhere: {everything}"
    );
}

/// A RED file that copies the Directory input `indir` to `outdir` with `cp -r` and sends the
/// file `outdir/{file}` with `output_connector`.
fn copy_dir_red(input: Value, file: &str, output_connector: Value) -> Value {
    json!({
        "command": ["cp", "-r"],
        "cli": {
            "inputs": {
                "indir": {"type": "Directory", "inputBinding": {"position": 0}},
                "outname": {"type": "string", "inputBinding": {"position": 1}}
            },
            "outputs": {"outfile": {"type": "File", "outputBinding": {"glob": format!("outdir/{file}")}}},
            "stdout": "stdout.txt",
            "stderr": "stderr.txt"
        },
        "inputs": {"indir": input, "outname": "outdir"},
        "outputs": {"outfile": {"class": "File", "connector": output_connector}}
    })
}

fn dir_input(agent: &Agent, command: &str, access: Value, listing: Option<Value>) -> Value {
    let mut input = json!({
        "class": "Directory",
        "path": agent.dir.path().join("inputs").join("indir").display().to_string(),
        "connector": {"command": command, "access": access}
    });
    if let Some(listing) = listing {
        input["listing"] = listing;
    }
    input
}

#[test]
fn directory_inputs_over_http_with_a_listing_and_as_an_archive() {
    let server = HttpServer::start();
    let data = pattern(300_000);
    server.put_file("tree/a.txt", b"alpha");
    server.put_file("tree/sub/b.dat", &data);
    let reference = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(reference.path(), &data).unwrap();
    let listing = json!([
        {"class": "File", "basename": "a.txt"},
        {"class": "Directory", "basename": "sub", "listing": [
            {"class": "File", "basename": "b.dat", "size": data.len(), "checksum": sha1(reference.path())}
        ]}
    ]);
    let put = |name: &str| {
        json!({"command": "red-connector-http",
               "access": {"url": server.url(&format!("/files/{name}")), "method": "PUT"}})
    };

    // red-connector-http receive-dir: each listed file from the url joined with its path.
    let agent = Agent::new();
    let access = json!({"url": server.url("/files/tree")});
    let indir = dir_input(
        &agent,
        "red-connector-http",
        access.clone(),
        Some(listing.clone()),
    );
    let (result, everything) = agent.run(&copy_dir_red(indir, "sub/b.dat", put("from-listing")));
    assert_succeeded(&result, &everything);
    assert_eq!(server.file("from-listing").unwrap(), data);

    // red-connector-http-archive receive-dir: the tree as a gzip-compressed tar.
    let tree = tempfile::tempdir().unwrap();
    std::fs::create_dir(tree.path().join("sub")).unwrap();
    std::fs::write(tree.path().join("a.txt"), b"alpha").unwrap();
    std::fs::write(tree.path().join("sub/b.dat"), &data).unwrap();
    let tgz = tree.path().join("tree.tgz");
    let status = Command::new("tar")
        .args([
            "czf",
            tgz.to_str().unwrap(),
            "-C",
            tree.path().to_str().unwrap(),
            "a.txt",
            "sub",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    server.put_file("tree.tgz", &std::fs::read(&tgz).unwrap());
    let agent = Agent::new();
    let access = json!({"url": server.url("/files/tree.tgz"), "archiveFormat": "gztar"});
    let indir = dir_input(
        &agent,
        "red-connector-http-archive",
        access,
        Some(listing.clone()),
    );
    let (result, everything) = agent.run(&copy_dir_red(indir, "sub/b.dat", put("from-archive")));
    assert_succeeded(&result, &everything);
    assert_eq!(server.file("from-archive").unwrap(), data);

    // A listing whose checksum the bytes do not have: the run fails with the connector's
    // words, before the command runs, and nothing is sent.
    let mut wrong = listing;
    wrong[1]["listing"][0]["checksum"] = json!(format!("sha1${}", "0".repeat(40)));
    let agent = Agent::new();
    let indir = dir_input(
        &agent,
        "red-connector-http",
        access_of(&server),
        Some(wrong),
    );
    let (result, everything) = agent.run(&copy_dir_red(indir, "sub/b.dat", put("never")));
    assert_eq!(result["state"], "failed", "{everything}");
    assert!(
        everything.contains("the listing says sha1$0000"),
        "{everything}"
    );
    assert!(server.file("never").is_none());
}

fn access_of(server: &HttpServer) -> Value {
    json!({"url": server.url("/files/tree")})
}

#[test]
fn a_directory_in_and_a_directory_out_over_sftp() {
    let sshd = Sshd::shared();
    let scratch = sshd.scratch();
    let data = pattern(200_000);
    scratch.put("run/in/a.txt", b"alpha");
    scratch.put("run/in/sub/b.dat", &data);
    let reference = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(reference.path(), &data).unwrap();
    let access = |path: String| {
        json!({"host": "127.0.0.1", "port": sshd.port(),
        "auth": {"username": sshd::USER, "password": sshd::PASSWORD}, "dirPath": path})
    };
    let listing = json!([
        {"class": "File", "basename": "a.txt", "size": 5},
        {"class": "Directory", "basename": "sub", "listing": [
            {"class": "File", "basename": "b.dat", "checksum": sha1(reference.path())}
        ]}
    ]);
    let agent = Agent::new();
    // The input with a listing; the output folder (the copy) with one too, which the agent
    // checks before send-dir.
    let indir = dir_input(
        &agent,
        "red-connector-ssh",
        access(format!("{}/run/in", scratch.relative)),
        Some(listing.clone()),
    );
    let red = json!({
        "command": ["cp", "-r"],
        "cli": {
            "inputs": {
                "indir": {"type": "Directory", "inputBinding": {"position": 0}},
                "outname": {"type": "string", "inputBinding": {"position": 1}}
            },
            "outputs": {"outdir": {"type": "Directory", "outputBinding": {"glob": "outdir"}}},
            "stdout": "stdout.txt",
            "stderr": "stderr.txt"
        },
        "inputs": {"indir": indir, "outname": "outdir"},
        "outputs": {"outdir": {
            "class": "Directory",
            "connector": {"command": "red-connector-ssh",
                          "access": access(format!("{}/results/run2", scratch.relative))},
            "listing": listing
        }}
    });
    let (result, everything) = agent.run(&red);
    assert_succeeded(&result, &everything);
    let sent = scratch.path.join("results/run2");
    assert_eq!(std::fs::read(sent.join("a.txt")).unwrap(), b"alpha");
    assert_eq!(std::fs::read(sent.join("sub/b.dat")).unwrap(), data);
    assert!(!everything.contains(sshd::PASSWORD));

    // Without listings: the whole tree in, the whole tree out.
    let agent = Agent::new();
    let mut red = red;
    red["inputs"]["indir"] = dir_input(
        &agent,
        "red-connector-ssh",
        access(format!("{}/run/in", scratch.relative)),
        None,
    );
    red["outputs"]["outdir"]
        .as_object_mut()
        .unwrap()
        .remove("listing");
    red["outputs"]["outdir"]["connector"]["access"] =
        access(format!("{}/results/run3", scratch.relative));
    let (result, everything) = agent.run(&red);
    assert_succeeded(&result, &everything);
    let sent = scratch.path.join("results/run3");
    assert_eq!(std::fs::read(sent.join("sub/b.dat")).unwrap(), data);
}
