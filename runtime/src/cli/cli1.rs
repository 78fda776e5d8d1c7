//! The RED connector CLI 1 (the protocol the cc-core agent speaks to connector commands), over
//! one red-wasm connector: `red-wasm connector-cli CONNECTOR MODE ...`, usually through the
//! wrapper scripts that `red-wasm install-commands` writes (`red-connector-http`, ...).
//!
//! Exit codes: 0 success, 1 invalid access, 2 usage error, 3 any other failure. Messages go
//! to standard error; standard output carries only `cli-version`'s `1`.

use std::sync::Arc;

use red_wasm::{Direction, Error, ErrorKind, ReceiveTarget, TransferOptions};

use super::display::CliObserver;

const INVALID: i32 = 1;
const USAGE: i32 = 2;
const FAILED: i32 = 3;

/// The modes of CLI 1 for directories and mounts: red-wasm connectors move single files.
const DIRECTORY_MODES: &[&str] = &[
    "receive-dir",
    "receive-dir-validate",
    "send-dir",
    "send-dir-validate",
    "mount-dir",
    "mount-dir-validate",
    "umount-dir",
];

fn help(connector: &str) -> String {
    format!(
        "RED connector CLI 1 over red-wasm's {connector} connector (sandboxed WebAssembly).\n\n\
         Usage:\n  \
         COMMAND cli-version\n  \
         COMMAND receive-file ACCESS LOCALFILE\n  \
         COMMAND receive-file-validate ACCESS\n  \
         COMMAND send-file ACCESS LOCALFILE\n  \
         COMMAND send-file-validate ACCESS\n\n\
         ACCESS is a JSON file holding the access document. The action modes validate it too.\n\
         Directory and mount modes are not offered (exit 3).\n\
         Exit codes: 0 success, 1 invalid access, 2 usage error, 3 other failure.\n"
    )
}

/// Runs CLI 1 for `connector` with the command's arguments; returns the exit code.
pub fn main(connector: &str, args: &[String]) -> i32 {
    let mut positional = Vec::new();
    let mut listing = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--listing" => {
                listing = true;
                if iter.next().is_none() {
                    return usage(connector, "--listing needs a FILE");
                }
            }
            a if a.starts_with("--listing=") => listing = true,
            "-v" | "--version" => {
                println!(
                    "red-wasm {} ({connector} connector)",
                    env!("CARGO_PKG_VERSION")
                );
                return 0;
            }
            "-h" | "--help" => {
                print!("{}", help(connector));
                return 0;
            }
            _ => positional.push(arg.as_str()),
        }
    }
    let Some((&mode, rest)) = positional.split_first() else {
        print!("{}", help(connector));
        return 0;
    };
    let (direction, action) = match mode {
        "cli-version" => {
            println!("1");
            return 0;
        }
        "receive-file" => (Direction::Receive, true),
        "send-file" => (Direction::Send, true),
        "receive-file-validate" => (Direction::Receive, false),
        "send-file-validate" => (Direction::Send, false),
        m if DIRECTORY_MODES.contains(&m) => {
            eprintln!(
                "{connector}: {m} is not offered: red-wasm's connectors move single files (receive-file, send-file)"
            );
            return FAILED;
        }
        other => return usage(connector, &format!("unknown mode {other:?}")),
    };
    if listing {
        return usage(connector, "--listing is only for the directory modes");
    }
    let expected = if action { 2 } else { 1 };
    if rest.len() != expected {
        return usage(
            connector,
            &format!("{mode} takes {expected} argument(s), got {}", rest.len()),
        );
    }
    let tokio = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{connector}: cannot start: {e}");
            return FAILED;
        }
    };
    let local = rest.get(1).copied();
    match tokio.block_on(run(connector, direction, rest[0], local)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!(
                "{connector}: {}: {}",
                e.kind,
                e.message.replace('\n', "\n  ")
            );
            if e.kind == ErrorKind::InvalidAccess {
                INVALID
            } else {
                FAILED
            }
        }
    }
}

fn usage(connector: &str, why: &str) -> i32 {
    eprintln!("{connector}: {why}\n\n{}", help(connector));
    USAGE
}

/// Validates, then (with a local file) transfers.
async fn run(
    connector: &str,
    direction: Direction,
    access_file: &str,
    local: Option<&str>,
) -> Result<(), Error> {
    let access = std::fs::read_to_string(access_file).map_err(|e| {
        Error::new(
            ErrorKind::InvalidAccess,
            format!("cannot read the access file {access_file}: {e}"),
        )
    })?;
    let connector = super::process_runtime(red_wasm::RuntimeOptions::default())?.load(connector)?;
    connector.validate(direction, &access).await?;
    let Some(local) = local else {
        return Ok(());
    };
    let options = TransferOptions {
        observer: Arc::new(CliObserver::new(false, false)),
        // An agent stopping the command (SIGTERM) gets the same clean-up as `run`.
        cancel: Some(super::cancel_on_interrupt()),
        ..TransferOptions::default()
    };
    match direction {
        Direction::Receive => {
            let target = ReceiveTarget::File(local.into());
            connector.receive(&access, target, &options).await?;
        }
        Direction::Send => {
            connector.send(&access, local.as_ref(), &options).await?;
        }
    }
    Ok(())
}
