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

/// The modes of CLI 1 for mounts: a sandboxed connector mounts nothing (no FUSE).
const MOUNT_MODES: &[&str] = &["mount-dir", "mount-dir-validate", "umount-dir"];

/// What a mode does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    File(Direction),
    Dir(Direction),
}

fn help(connector: &str) -> String {
    format!(
        "RED connector CLI 1 over red-wasm's {connector} connector (sandboxed WebAssembly).\n\n\
         Usage:\n  \
         COMMAND cli-version\n  \
         COMMAND receive-file ACCESS LOCALFILE\n  \
         COMMAND receive-file-validate ACCESS\n  \
         COMMAND send-file ACCESS LOCALFILE\n  \
         COMMAND send-file-validate ACCESS\n  \
         COMMAND receive-dir ACCESS LOCALDIR [--listing LISTINGFILE]\n  \
         COMMAND receive-dir-validate ACCESS [--listing LISTINGFILE]\n  \
         COMMAND send-dir ACCESS LOCALDIR [--listing LISTINGFILE]\n  \
         COMMAND send-dir-validate ACCESS [--listing LISTINGFILE]\n\n\
         ACCESS is a JSON file holding the access document, LISTINGFILE a JSON file holding the\n\
         RED listing of the folder. The action modes validate them too. LOCALDIR of receive-dir\n\
         must not exist or be empty; it is filled only when the whole folder arrived.\n\
         mount-dir is not offered (exit 3): use receive-dir.\n\
         Exit codes: 0 success, 1 invalid access, 2 usage error, 3 other failure.\n"
    )
}

/// Runs CLI 1 for `connector` with the command's arguments; returns the exit code.
pub fn main(connector: &str, args: &[String]) -> i32 {
    let mut positional = Vec::new();
    let mut listing: Option<&str> = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--listing" => match iter.next() {
                Some(file) => listing = Some(file),
                None => return usage(connector, "--listing needs a FILE"),
            },
            a if a.starts_with("--listing=") => listing = Some(&a["--listing=".len()..]),
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
    let (kind, action) = match mode {
        "cli-version" => {
            println!("1");
            return 0;
        }
        "receive-file" => (Mode::File(Direction::Receive), true),
        "send-file" => (Mode::File(Direction::Send), true),
        "receive-file-validate" => (Mode::File(Direction::Receive), false),
        "send-file-validate" => (Mode::File(Direction::Send), false),
        "receive-dir" => (Mode::Dir(Direction::Receive), true),
        "send-dir" => (Mode::Dir(Direction::Send), true),
        "receive-dir-validate" => (Mode::Dir(Direction::Receive), false),
        "send-dir-validate" => (Mode::Dir(Direction::Send), false),
        m if MOUNT_MODES.contains(&m) => {
            eprintln!(
                "{connector}: {m} is not offered: a sandboxed connector cannot mount a folder; \
                 use receive-dir (remove \"mount\": true from the RED file's input)"
            );
            return FAILED;
        }
        other => return usage(connector, &format!("unknown mode {other:?}")),
    };
    if listing.is_some() && matches!(kind, Mode::File(_)) {
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
    match tokio.block_on(run(connector, kind, rest[0], listing, local)) {
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

/// Validates, then (with a local file or folder) transfers.
async fn run(
    connector: &str,
    mode: Mode,
    access_file: &str,
    listing_file: Option<&str>,
    local: Option<&str>,
) -> Result<(), Error> {
    let access = std::fs::read_to_string(access_file).map_err(|e| {
        Error::new(
            ErrorKind::InvalidAccess,
            format!(
                "cannot read the access file {}: {e}",
                super::shown_argument(access_file)
            ),
        )
    })?;
    let listing = listing_file
        .map(|file| super::read_listing(file.as_ref()))
        .transpose()?;
    let listing = listing.as_deref();
    let connector = super::process_runtime(red_wasm::RuntimeOptions::default())?.load(connector)?;
    match mode {
        Mode::File(direction) => connector.validate(direction, &access).await?,
        Mode::Dir(direction) => connector.validate_dir(direction, &access, listing).await?,
    }
    let Some(local) = local else {
        return Ok(());
    };
    let options = TransferOptions {
        observer: Arc::new(CliObserver::new(false, false)),
        // An agent stopping the command (SIGTERM) gets the same clean-up as `run`.
        cancel: Some(super::cancel_on_interrupt()),
        ..TransferOptions::default()
    };
    match mode {
        Mode::File(Direction::Receive) => {
            let target = ReceiveTarget::File(local.into());
            connector.receive(&access, target, &options).await?;
        }
        Mode::File(Direction::Send) => {
            connector.send(&access, local.as_ref(), &options).await?;
        }
        Mode::Dir(Direction::Receive) => {
            let target = std::path::Path::new(local);
            connector
                .receive_dir(&access, listing, target, &options)
                .await?;
        }
        Mode::Dir(Direction::Send) => {
            connector
                .send_dir(&access, listing, local.as_ref(), &options)
                .await?;
        }
    }
    Ok(())
}
