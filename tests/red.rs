//! Existing RED files run unchanged: connector objects of both eras as `red-wasm run`
//! references, and the RED connector CLI 1 commands that `install-commands` writes.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use red_wasm_testkit::http::{pattern, HttpServer, PASSWORD, USER};
use serde_json::json;
use support::*;

#[test]
fn connector_objects_of_both_eras_run_without_an_access_argument() {
    let server = HttpServer::start();
    let data = pattern(10_000);
    server.put_file("in.csv", &data);
    let dir = temp();
    let url = server.url("/basic/in.csv");
    let yaml = format!(
        "# an input as it appears in a seed-era RED file\n\
         pyModule: cc_core.commons.connectors.http\npyClass: Http\naccess:\n  url: \"{url}\"\n  \
         method: GET\n  auth:\n    username: {USER}\n    password: \"{PASSWORD}\"\n"
    );
    let objects = [
        ("seed.yml", yaml),
        ("later.json", json!({"command": "red-connector-http", "access": {"url": url,
            "auth": {"username": USER, "password": PASSWORD, "method": "Basic"}}}).to_string()),
        ("spelling.yaml", format!(
            "pyModule: cc_core.connectors.http\npyClass: Http\naccess: {{url: \"{url}\", auth: {{username: {USER}, password: \"{PASSWORD}\"}}}}\n"
        )),
        ("ours.json", json!({"component": "http", "access": {"url": url,
            "auth": {"username": USER, "password": PASSWORD}}}).to_string()),
    ];
    for (name, text) in objects {
        let object = dir.path().join(name);
        std::fs::write(&object, text).unwrap();
        let target = dir.path().join(format!("{name}.out"));
        let out = cli(&[
            "run",
            object.to_str().unwrap(),
            "-o",
            target.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert_eq!(std::fs::read(&target).unwrap(), data, "{name}");
    }
}

#[test]
fn a_component_object_names_a_wasm_file_relative_to_itself_and_access_can_be_overridden() {
    let server = HttpServer::start();
    server.put_file("a", b"from a");
    server.put_file("b", b"from b");
    let dir = temp();
    std::fs::write(
        dir.path().join("mine.wasm"),
        red_wasm::builtin_component("http").unwrap(),
    )
    .unwrap();
    let object = dir.path().join("input.json");
    std::fs::write(
        &object,
        json!({"component": "mine.wasm", "access": {"url": server.url("/files/a")}}).to_string(),
    )
    .unwrap();
    let target = dir.path().join("out");
    let out = cli(&[
        "run",
        object.to_str().unwrap(),
        "-o",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&target).unwrap(), b"from a");
    let other = json!({"url": server.url("/files/b")}).to_string();
    let out = cli(&[
        "run",
        object.to_str().unwrap(),
        &other,
        "-o",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&target).unwrap(), b"from b");
}

#[test]
fn unknown_references_list_the_known_names() {
    let dir = temp();
    let object = dir.path().join("ftp.yml");
    std::fs::write(
        &object,
        "pyModule: red_connector_ftp.ftp\npyClass: Ftp\naccess: {}\n",
    )
    .unwrap();
    let out = cli(&["run", object.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let err = stderr(&out);
    for needle in [
        "red_connector_ftp.ftp/Ftp",
        "red-connector-ssh",
        "red_connectors_xnat.http/Http",
        ".wasm component",
    ] {
        assert!(err.contains(needle), "{needle} not in {err}");
    }
    let no_access = dir.path().join("noaccess.json");
    std::fs::write(&no_access, r#"{"command": "red-connector-http"}"#).unwrap();
    let out = cli(&["run", no_access.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(10));
    assert!(
        stderr(&out).contains("no access document"),
        "{}",
        stderr(&out)
    );
}

/// Installs the CLI 1 commands into a fresh folder.
fn commands() -> (tempfile::TempDir, PathBuf) {
    let dir = temp();
    let bin = dir.path().join("bin");
    let out = cli(&["install-commands", bin.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    (dir, bin)
}

/// `red-wasm install-commands BIN --component COMPONENT --name NAME`.
fn install_component(bin: &Path, component: &Path, name: &str) -> Output {
    cli(&[
        "install-commands",
        bin.to_str().unwrap(),
        "--component",
        component.to_str().unwrap(),
        "--name",
        name,
    ])
}

fn command(bin: &Path, name: &str, args: &[&str]) -> Output {
    Command::new(bin.join(name))
        .args(args)
        .env("RED_WASM_CACHE_DIR", cache_dir())
        .output()
        .unwrap()
}

#[test]
fn cli1_commands_speak_the_protocol() {
    let (dir, bin) = commands();
    for name in [
        "red-connector-http",
        "red-connector-http-json",
        "red-connector-http-mock-send",
        "red-connector-http-archive",
        "red-connector-ssh",
        "red-connector-xnat-http",
    ] {
        let out = command(&bin, name, &["cli-version", "extra", "ignored"]);
        assert_eq!(
            (out.status.code(), out.stdout.as_slice()),
            (Some(0), &b"1\n"[..]),
            "{name}"
        );
    }
    let out = command(&bin, "red-connector-http", &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("receive-file ACCESS LOCALFILE"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("receive-dir ACCESS LOCALDIR"));
    let out = command(&bin, "red-connector-http", &["--version"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("red-wasm"));

    let server = HttpServer::start();
    server.put_file("in", b"cli one");
    let access = dir.path().join("access.json");
    std::fs::write(&access, json!({"url": server.url("/files/in")}).to_string()).unwrap();
    let a = access.to_str().unwrap();
    let local = dir.path().join("data/in.txt");
    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
    let l = local.to_str().unwrap();
    let out = command(&bin, "red-connector-http", &["receive-file", a, l]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    assert_eq!(std::fs::read(&local).unwrap(), b"cli one");

    let put = dir.path().join("put.json");
    std::fs::write(
        &put,
        json!({"url": server.url("/files/out"), "method": "PUT"}).to_string(),
    )
    .unwrap();
    let out = command(
        &bin,
        "red-connector-http",
        &["send-file", put.to_str().unwrap(), l],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.file("out").unwrap(), b"cli one");

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"url": "ftp://x", "method": "DELETE"}"#).unwrap();
    let b = bad.to_str().unwrap();
    let cases: [(&[&str], i32); 13] = [
        (&["receive-file-validate", a], 0),
        (&["send-file-validate", a], 0),
        (&["receive-file-validate", b], 1),
        (&["receive-file", b, l], 1),
        (&["send-file", b, l], 1),
        (&["receive-file-validate", "/no/such/access.json"], 1),
        (&["receive-file", a], 2),
        (&["receive-file", a, l, "extra"], 2),
        (&["frobnicate"], 2),
        (&["receive-file-validate", a, "--listing", "l.json"], 2),
        (&["receive-dir", a, l, "--listing=/no/such/l.json"], 1),
        (&["mount-dir-validate", a], 3),
        (&["mount-dir", a, l], 3),
    ];
    for (args, code) in cases {
        let out = command(&bin, "red-connector-http", args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}: stdout stays empty");
        if code != 0 {
            assert!(!stderr(&out).is_empty(), "{args:?}: a message on stderr");
        }
    }
    // Inline JSON where the access file goes is refused without being quoted back.
    let inline =
        r#"{"url": "http://127.0.0.1:9/", "auth": {"username": "u", "password": "Hunter2Secret"}}"#;
    for mode in ["receive-file", "receive-dir"] {
        let out = command(&bin, "red-connector-http", &[mode, inline, l]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(!stderr(&out).contains("Hunter2Secret"), "{}", stderr(&out));
        assert!(stderr(&out).contains("not a file name"), "{}", stderr(&out));
    }
    let out = command(&bin, "red-connector-http", &["receive-file-validate", b]);
    assert!(
        stderr(&out).contains("/url:") && stderr(&out).contains("/method:"),
        "{}",
        stderr(&out)
    );
    let missing = dir.path().join("missing.json");
    std::fs::write(
        &missing,
        json!({"url": server.url("/files/nope")}).to_string(),
    )
    .unwrap();
    let out = command(
        &bin,
        "red-connector-http",
        &["receive-file", missing.to_str().unwrap(), l],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
}

#[test]
fn a_custom_component_gets_a_command_of_its_own() {
    let dir = temp();
    let wasm = dir.path().join("mine.wasm");
    std::fs::write(&wasm, red_wasm::builtin_component("http-json").unwrap()).unwrap();
    let bin = dir.path().join("bin");
    let out = install_component(&bin, &wasm, "red-connector-mine");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        listing(&bin),
        [red_wasm::PRECOMPILED_DIR_NAME, "red-connector-mine"],
        "the command, and the component precompiled beside it"
    );
    let precompiled = listing(&bin.join(red_wasm::PRECOMPILED_DIR_NAME));
    assert_eq!(
        precompiled.len(),
        2,
        "an entry and its checksum: {precompiled:?}"
    );
    assert!(
        precompiled.iter().any(|n| n.ends_with(".cwasm")),
        "{precompiled:?}"
    );
    let server = HttpServer::start();
    server.put_file("j", b"{\"ok\": true}");
    let access = dir.path().join("a.json");
    std::fs::write(&access, json!({"url": server.url("/files/j")}).to_string()).unwrap();
    let local = dir.path().join("j.json");
    let out = command(
        &bin,
        "red-connector-mine",
        &[
            "receive-file",
            access.to_str().unwrap(),
            local.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&local).unwrap(), b"{\"ok\": true}");
    let broken = dir.path().join("broken.wasm");
    std::fs::write(&broken, b"not wasm").unwrap();
    let out = install_component(&bin, &broken, "red-connector-broken");
    assert_eq!(out.status.code(), Some(18), "{}", stderr(&out));
    assert!(!bin.join("red-connector-broken").exists());
}

#[test]
fn install_commands_writes_no_text_of_the_caller_into_the_script_unquoted() {
    let dir = temp();
    let bin = dir.path().join("bin");
    // A component path with a line break that would be a shell command in a comment.
    let odd = dir.path().join("c\ntouch PWNED\n#.wasm");
    std::fs::write(&odd, red_wasm::builtin_component("http-mock-send").unwrap()).unwrap();
    let out = install_component(&bin, &odd, "red-connector-odd");
    assert!(out.status.success(), "{}", stderr(&out));
    // The path stands quoted in the script (a line break inside quotes is no command).
    let run = Command::new("sh")
        .arg(bin.join("red-connector-odd"))
        .arg("cli-version")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(!dir.path().join("PWNED").exists());
    for name in ["x\ntouch y", "../evil", ".hidden", "a b"] {
        let out = install_component(&bin, &odd, name);
        assert_eq!(out.status.code(), Some(10), "{name:?}: {}", stderr(&out));
    }
}
