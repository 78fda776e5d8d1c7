//! Command-line parsing and the commands.

pub mod cli1;
mod display;
mod install;
mod new;
mod report;
mod serve;

use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use red_wasm::{
    Connector, Direction, Error, ErrorKind, HostKeyCheck, HostRule, Limits, ReceiveTarget, Runtime,
    RuntimeOptions, Timeouts, TransferOptions,
};

use display::CliObserver;

/// Exit code for a command line that cannot be understood.
const EXIT_USAGE: i32 = 2;

#[derive(Parser)]
#[command(
    name = "red-wasm",
    version,
    about = "Run RED connectors as sandboxed WebAssembly components",
    long_about = "Run RED connectors as sandboxed WebAssembly components.\n\n\
        A connector moves one file (or one folder) between this machine and a remote service, \
        configured by an access document (JSON). It runs in a sandbox: it can reach only the \
        hosts its access document names (and those given with --allow-host), and only the one \
        local file (or folder) of the transfer.",
    after_help = "Exit codes: 0 success, 2 usage error, 10 invalid access, 11 authentication \
        failed, 12 not found, 13 conflict, 14 denied by policy, 15 network error, 16 remote \
        error, 17 local I/O error, 18 internal error (or a connector that cannot be loaded)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print a JSON result document on standard output (see the README for its schema)
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Receive a file (to -o FILE, or standard output) or send one (--send FILE); or a
    /// folder (--dir -o DIR, --send-dir DIR)
    #[command(after_help = "Examples:\n  \
        red-wasm run http access.json -o data.csv\n  \
        red-wasm run http-archive '{\"url\": \"https://example.org/d.tar.gz\", \"archiveFormat\": \"gztar\"}' --dir -o data\n  \
        red-wasm run sftp dir-access.json --send-dir results/\n  \
        red-wasm run http '{\"url\": \"https://example.org/up\", \"method\": \"PUT\"}' --send data.csv\n  \
        red-wasm run sftp '{\"host\": \"sftp.example.org\", \"auth\": {\"username\": \"me\", \"password\": \"...\"}, \"filePath\": \"data/x.csv\"}' -o x.csv\n  \
        red-wasm run ./my-connector.wasm access.json -o data.bin")]
    Run(Box<RunArgs>),
    /// Check an access document without any network traffic
    Validate {
        #[command(flatten)]
        target: ConnectorAndAccess,
        /// Validate for a send (default: for a receive)
        #[arg(long)]
        send: bool,
        /// Validate for a folder transfer (receive-dir, or send-dir with --send)
        #[arg(long)]
        dir: bool,
        /// With --dir: the RED listing (a JSON file) to check too
        #[arg(long, value_name = "FILE", requires = "dir")]
        listing: Option<PathBuf>,
    },
    /// Show a connector's name, version, description and access schema
    Info {
        /// A built-in name, a RED connector command, a .wasm path or a connector object file
        connector: String,
    },
    /// List the built-in connectors
    List,
    /// Write a new connector project (Rust or Python) that builds as it is and has a test
    #[command(
        after_help = "The project holds the SDK and red-wasm's WIT contract, so it builds \
        anywhere: Rust needs `rustup target add wasm32-wasip2`, Python needs \
        `pip install componentize-py==0.25.1`. Its ./test.sh builds the connector and runs a \
        receive and a send through red-wasm against `red-wasm serve` (RED_WASM names the \
        command; PYTHON the Python with componentize-py).\n\n\
        Example:\n  red-wasm new my-connector --lang python && ./my-connector/test.sh"
    )]
    New {
        /// The connector's name: lower-case letters, digits and '-'
        name: String,
        /// The language
        #[arg(long, value_enum)]
        lang: new::Lang,
        /// Where to make the project's folder (default: here)
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
    /// Serve a folder over HTTP on 127.0.0.1, to test connectors against (GET, PUT, POST)
    #[command(
        after_help = "Prints the base URL (http://127.0.0.1:PORT) on standard output and \
        a line per request on standard error; Ctrl-C stops it. GET and HEAD serve DIR/PATH; PUT \
        and POST (with a Content-Length) write the body to DIR/PATH, making folders as needed. \
        No path leaves DIR."
    )]
    Serve {
        /// The folder to serve
        dir: PathBuf,
        /// The port (default: any free one)
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Precompile connectors into a folder, so that no launch compiles (for image builds)
    #[command(
        after_help = "Without CONNECTOR, precompiles every built-in connector.\n\n\
        red-wasm looks for precompiled connectors in $RED_WASM_PRECOMPILED (folders separated \
        by ':') and in .red-wasm-precompiled beside its own executable; install-commands fills \
        the latter for the commands it writes. The folder must be writable only by its owner \
        (root or the user running red-wasm): it holds native code.\n\n\
        Example:\n  red-wasm compile --out /usr/local/bin/.red-wasm-precompiled ./my-connector.wasm"
    )]
    Compile {
        /// Built-in names, RED connector command names or .wasm paths
        connectors: Vec<String>,
        /// The folder to write into (created if missing)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Write RED connector CLI 1 commands (red-connector-http, ...) into DIR
    #[command(
        after_help = "Without --component, writes red-connector-http, red-connector-http-json, \
        red-connector-http-mock-send, red-connector-http-archive, red-connector-ssh and \
        red-connector-xnat-http. Each is a small \
        script that runs this red-wasm binary; put DIR first on PATH so that RED files naming these \
        commands run through red-wasm."
    )]
    InstallCommands {
        /// Where to write the commands (created if missing)
        dir: PathBuf,
        /// Expose this .wasm component instead of the built-ins
        #[arg(long, value_name = "WASM", requires = "name")]
        component: Option<PathBuf>,
        /// The command name for --component
        #[arg(long, value_name = "COMMAND", requires = "component")]
        name: Option<String>,
    },
}

/// The arguments of `red-wasm run`.
#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    target: ConnectorAndAccess,
    /// Receive into FILE (written under a temporary name and renamed on success); with
    /// --dir, into the folder DIR (which must not exist or be empty)
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        conflicts_with_all = ["send", "send_dir"]
    )]
    output: Option<PathBuf>,
    /// Send FILE
    #[arg(long, value_name = "FILE", conflicts_with = "send_dir")]
    send: Option<PathBuf>,
    /// Receive a folder (receive-dir) into -o DIR: built under a temporary name beside it
    /// and renamed into place on success
    #[arg(long, requires = "output")]
    dir: bool,
    /// Send the folder DIR (send-dir)
    #[arg(long, value_name = "DIR")]
    send_dir: Option<PathBuf>,
    /// With --dir or --send-dir: the RED listing (a JSON file) of the folder's entries, which
    /// the folder is checked against (class, basename, checksum, size)
    #[arg(long, value_name = "FILE")]
    listing: Option<PathBuf>,
    /// Also allow this endpoint: HOST, HOST:PORT, *.DOMAIN or SCHEME://HOST[:PORT] (repeatable)
    #[arg(long = "allow-host", value_name = "PATTERN", value_parser = parse_host_rule)]
    allow_host: Vec<HostRule>,
    /// Accept only an SSH server whose host key has this SHA-256 fingerprint, as
    /// `ssh-keygen -lf` prints it: SHA256:... (repeatable; default: any key, as the original)
    #[arg(
        long = "ssh-host-key",
        value_name = "FINGERPRINT",
        conflicts_with = "ssh_known_hosts"
    )]
    ssh_host_key: Vec<String>,
    /// Accept only an SSH server whose host key this OpenSSH known-hosts file lists for it
    #[arg(long = "ssh-known-hosts", value_name = "FILE")]
    ssh_known_hosts: Option<PathBuf>,
    /// Let the connector skip the TLS certificate check of this endpoint (as the access
    /// document's "disableSSLVerification": true does for the URLs it names): HOST,
    /// HOST:PORT, *.DOMAIN or SCHEME://HOST[:PORT] (repeatable)
    #[arg(long = "insecure-host", value_name = "PATTERN", value_parser = parse_host_rule)]
    insecure_host: Vec<HostRule>,
    /// Do not allow the endpoints the access document names: only --allow-host ones
    #[arg(long)]
    deny_derived_hosts: bool,
    /// Also seal the values of this access field (besides password, privateKey and
    /// passphrase): the connector sees a token (repeatable)
    #[arg(long = "secret-field", value_name = "NAME")]
    secret_field: Vec<String>,
    /// The connector's memory limit, e.g. 64M (default 128M)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_memory: Option<u64>,
    /// Stop the transfer after SECONDS in all (default: no limit)
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    timeout: Option<Duration>,
    /// Stop the connector after about N WebAssembly instructions (default: no limit)
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Stop after moving SIZE bytes to the local file or the network, e.g. 10G
    /// (default: no limit)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_bytes: Option<u64>,
    /// Stop after N HTTP requests or SSH connections (default 1000)
    #[arg(long, value_name = "N")]
    max_requests: Option<u32>,
    /// Stop when the connector holds more than N HTTP responses, SFTP sessions, folder walks
    /// or open files of a folder at once (default 32)
    #[arg(long, value_name = "N")]
    max_open: Option<u32>,
    /// Stop a folder transfer with more than N files and folders, archive entries included
    /// (default 100000)
    #[arg(long, value_name = "N")]
    max_files: Option<u64>,
    /// Stop unpacking an archive that grows past N times its own size, plus 1 MiB
    /// (default 2000)
    #[arg(long, value_name = "N")]
    max_expansion: Option<u64>,
    /// Try an HTTP request that failed transiently (no connection, cut off before the answer,
    /// 408, 429, 500, 502, 503, 504) up to N more times where repeating it is safe, after 1,
    /// 2, 4... s or the server's Retry-After (default 3; 0 turns retries off)
    #[arg(long, value_name = "N")]
    retries: Option<u32>,
    /// Do not check a body against the digest its server states (Repr-Digest,
    /// Content-Digest, Digest, Content-MD5)
    #[arg(long)]
    no_digest_check: bool,
    /// Give up connecting after SECONDS (default 12)
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    connect_timeout: Option<Duration>,
    /// Give up when no byte arrives for SECONDS (default 1000)
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    idle_timeout: Option<Duration>,
    /// With --json: print newline-delimited JSON events (progress, log, then the result)
    #[arg(long, requires = "json")]
    events: bool,
    /// Print the connector's info messages
    #[arg(short, long)]
    verbose: bool,
    /// Never show a progress bar
    #[arg(long)]
    no_progress: bool,
}

#[derive(Args)]
struct ConnectorAndAccess {
    /// A built-in name (see `red-wasm list`), a RED connector command name
    /// (red-connector-http, ...), the path of a .wasm component, or a RED connector object
    /// file (.json, .yml, .yaml: {pyModule, pyClass, access}, {command, access} or
    /// {component, access})
    connector: String,
    /// The access document: a JSON file, `-` for standard input, or inline JSON; may be
    /// left out when CONNECTOR is a connector object with an access
    access: Option<String>,
}

impl ConnectorAndAccess {
    /// The connector and its access document.
    fn resolve(&self, runtime: &Runtime) -> Result<(Connector, String), Error> {
        let (connector, object_access) = load(runtime, &self.connector)?;
        let access = match (&self.access, object_access) {
            (Some(argument), _) => read_access(argument)?,
            (None, Some(access)) => access,
            (None, None) if !red_wasm::reference::is_object_file(&self.connector) => {
                use clap::CommandFactory as _;
                Cli::command()
                    .error(
                        clap::error::ErrorKind::MissingRequiredArgument,
                        "ACCESS is required unless CONNECTOR is a connector object file",
                    )
                    .exit()
            }
            (None, None) => {
                return Err(Error::new(
                    ErrorKind::InvalidAccess,
                    format!("{}: no access document: give ACCESS", self.connector),
                ))
            }
        };
        Ok((connector, access))
    }
}

/// The runtime of this process. It is never dropped: the process ends instead. Dropping
/// compiled code unregisters its unwind information one function at a time, which for a
/// CPython component costs more than the whole transfer (120 ms in the static build).
pub(crate) fn process_runtime(options: RuntimeOptions) -> Result<Runtime, Error> {
    let runtime = Runtime::with_options(options)?;
    std::mem::forget(runtime.clone());
    Ok(runtime)
}

/// A connector by any name `run` takes, and the access of a connector object.
fn load(runtime: &Runtime, reference: &str) -> Result<(Connector, Option<String>), Error> {
    let path = std::path::Path::new(reference);
    if red_wasm::reference::is_object_file(reference) && path.exists() {
        return runtime.load_object(path);
    }
    Ok((runtime.load(reference)?, None))
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    // One transfer per process: a single-threaded scheduler avoids waking another thread for
    // every chunk that arrives.
    let tokio = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("red-wasm: cannot start: {e}");
            return ErrorKind::Internal.exit_code().into();
        }
    };
    let json = cli.json;
    let events = matches!(&cli.command, Command::Run(args) if args.events);
    let name = cli.command.name();
    match tokio.block_on(run(cli.command, json)) {
        Ok(fields) => {
            if json {
                report::print(report::success(name, fields), events);
            }
            0
        }
        Err(e) => {
            if json {
                report::print(report::failure(name, &e), events);
            } else {
                eprintln!("red-wasm: {}: {}", e.kind, e.message.replace('\n', "\n  "));
            }
            e.kind.exit_code().into()
        }
    }
}

impl Command {
    /// The subcommand's name, as result documents give it.
    fn name(&self) -> &'static str {
        match self {
            Command::Run(_) => "run",
            Command::Validate { .. } => "validate",
            Command::Info { .. } => "info",
            Command::InstallCommands { .. } => "install-commands",
            Command::List => "list",
            Command::Compile { .. } => "compile",
            Command::New { .. } => "new",
            Command::Serve { .. } => "serve",
        }
    }
}

/// Runs a command; returns the fields of its result document (printed only with --json).
async fn run(command: Command, json: bool) -> Result<serde_json::Value, Error> {
    match command {
        Command::Run(args) => {
            let RunArgs {
                target,
                output,
                send,
                dir,
                send_dir,
                listing,
                allow_host,
                insecure_host,
                deny_derived_hosts,
                secret_field,
                max_memory,
                timeout,
                fuel,
                max_bytes,
                max_requests,
                max_open,
                max_files,
                max_expansion,
                retries,
                no_digest_check,
                ssh_host_key,
                ssh_known_hosts,
                connect_timeout,
                idle_timeout,
                events,
                verbose,
                no_progress,
            } = *args;
            if json && output.is_none() && send.is_none() && send_dir.is_none() {
                use clap::CommandFactory as _;
                Cli::command()
                    .error(
                        clap::error::ErrorKind::ArgumentConflict,
                        "--json needs -o FILE or --send FILE: standard output carries the result",
                    )
                    .exit()
            }
            if listing.is_some() && !dir && send_dir.is_none() {
                use clap::CommandFactory as _;
                Cli::command()
                    .error(
                        clap::error::ErrorKind::ArgumentConflict,
                        "--listing goes with --dir or --send-dir",
                    )
                    .exit()
            }
            let listing = listing.as_deref().map(read_listing).transpose()?;
            let defaults = Timeouts::default();
            let timeouts = Timeouts {
                connect: connect_timeout.unwrap_or(defaults.connect),
                idle: idle_timeout.unwrap_or(defaults.idle),
            };
            let runtime = process_runtime(RuntimeOptions {
                timeouts,
                ..RuntimeOptions::default()
            })?;
            let (connector, access) = target.resolve(&runtime)?;
            let cli_observer = Arc::new(CliObserver::new(verbose, !no_progress && !json));
            let observer: Arc<dyn red_wasm::Observer> = if events {
                Arc::new(report::Events::new())
            } else {
                cli_observer.clone()
            };
            let options = TransferOptions {
                allow_hosts: allow_host,
                allow_derived_hosts: !deny_derived_hosts,
                secret_fields: secret_field,
                limits: {
                    let defaults = Limits::default();
                    Limits {
                        max_memory: max_memory.map_or(defaults.max_memory, |m| {
                            usize::try_from(m).unwrap_or(usize::MAX)
                        }),
                        timeout,
                        fuel,
                        max_bytes,
                        max_requests: max_requests.unwrap_or(defaults.max_requests),
                        max_open: max_open.unwrap_or(defaults.max_open),
                        max_files: max_files.unwrap_or(defaults.max_files),
                        max_expansion: max_expansion.unwrap_or(defaults.max_expansion),
                    }
                },
                ssh_host_keys: match (ssh_known_hosts, ssh_host_key.is_empty()) {
                    (Some(file), _) => HostKeyCheck::KnownHosts(file),
                    (None, false) => HostKeyCheck::Fingerprints(ssh_host_key),
                    (None, true) => HostKeyCheck::AcceptAny,
                },
                observer: observer.clone(),
                insecure_tls_hosts: insecure_host,
                cancel: Some(cancel_on_interrupt()),
                retries: retries.unwrap_or(TransferOptions::default().retries),
                check_digests: !no_digest_check,
            };
            let listing = listing.as_deref();
            let (direction, result) = match (send, send_dir, output) {
                (Some(file), _, _) => ("send", connector.send(&access, &file, &options).await),
                (None, Some(folder), _) => (
                    "send-dir",
                    connector
                        .send_dir(&access, listing, &folder, &options)
                        .await,
                ),
                (None, None, Some(folder)) if dir => (
                    "receive-dir",
                    connector
                        .receive_dir(&access, listing, &folder, &options)
                        .await,
                ),
                (None, None, output) => {
                    let target = output.map_or(ReceiveTarget::Stdout, ReceiveTarget::File);
                    (
                        "receive",
                        connector.receive(&access, target, &options).await,
                    )
                }
            };
            cli_observer.finish();
            let outcome = result?;
            if verbose {
                eprintln!(
                    "red-wasm: {} bytes in {:.2?}",
                    outcome.bytes, outcome.duration
                );
            }
            Ok(serde_json::json!({
                "connector": connector.label(),
                "direction": direction,
                "bytes": outcome.bytes,
                "duration_ms": outcome.duration.as_secs_f64() * 1000.0,
            }))
        }
        Command::Validate {
            target,
            send,
            dir,
            listing,
        } => {
            let runtime = process_runtime(RuntimeOptions::default())?;
            let (connector, access) = target.resolve(&runtime)?;
            let direction = if send {
                Direction::Send
            } else {
                Direction::Receive
            };
            if dir {
                let listing = listing.as_deref().map(read_listing).transpose()?;
                connector
                    .validate_dir(direction, &access, listing.as_deref())
                    .await?;
            } else {
                connector.validate(direction, &access).await?;
            }
            if !json {
                println!("valid");
            }
            let direction = match (send, dir) {
                (false, false) => "receive",
                (true, false) => "send",
                (false, true) => "receive-dir",
                (true, true) => "send-dir",
            };
            Ok(serde_json::json!({"connector": connector.label(), "direction": direction}))
        }
        Command::Info { connector } => {
            let info = load(&process_runtime(RuntimeOptions::default())?, &connector)?
                .0
                .info()
                .await?;
            if !json {
                println!("name:        {}", info.name);
                println!("version:     {}", info.version);
                println!("description: {}", info.description);
                println!(
                    "access schema:\n{}",
                    serde_json::to_string_pretty(&info.access_schema).unwrap_or_default()
                );
            }
            Ok(serde_json::json!({"info": info}))
        }
        Command::InstallCommands {
            dir,
            component,
            name,
        } => install::install(&dir, component.zip(name), json)
            .map(|commands| serde_json::json!({"commands": commands})),
        Command::New { name, lang, dir } => {
            let project = new::create(&name, lang, &dir)?;
            if !json {
                println!(
                    "wrote {}: build and test it with {}/test.sh",
                    project.display(),
                    project.display()
                );
            }
            Ok(serde_json::json!({"project": project}))
        }
        Command::Serve { dir, port } => {
            serve::serve(dir, port).await?;
            Ok(serde_json::json!({}))
        }
        Command::Compile { connectors, out } => {
            let written = install::precompile(&out, &connectors, json)?;
            Ok(serde_json::json!({"precompiled": written}))
        }
        Command::List => {
            let runtime = process_runtime(RuntimeOptions::default())?;
            let mut connectors = Vec::new();
            for name in red_wasm::builtin_names() {
                let info = runtime.builtin(name)?.info().await?;
                if !json {
                    println!("{name:<16} {}", info.description);
                }
                connectors.push(serde_json::json!({"name": name, "description": info.description}));
            }
            Ok(serde_json::json!({"connectors": connectors}))
        }
    }
}

/// A token that Ctrl-C (SIGINT), SIGTERM and SIGHUP trigger (what `docker stop`, systemd and
/// batch schedulers send, and a closed terminal), so that a stopped transfer leaves no file:
/// no local `.part`, no remote temporary file. The transfer then fails as cancelled.
pub(crate) fn cancel_on_interrupt() -> red_wasm::CancellationToken {
    use tokio::signal::unix::{signal, SignalKind};
    let token = red_wasm::CancellationToken::new();
    let trigger = token.clone();
    // Installed now, not when the task first runs: a signal that comes early must cancel too.
    let terminate = signal(SignalKind::terminate()).ok();
    let hangup = signal(SignalKind::hangup()).ok();
    tokio::spawn(async move {
        async fn received(signal: Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let interrupt = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = interrupt => {}
            () = received(terminate) => {}
            () = received(hangup) => {}
        }
        trigger.cancel();
    });
    token
}

fn parse_seconds(value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "expected a positive number of seconds".to_owned())
}

/// A byte count: a number with an optional K, M, G or T suffix (powers of 1024).
fn parse_size(value: &str) -> Result<u64, String> {
    let text = value
        .trim()
        .trim_end_matches(['B', 'b'])
        .trim_end_matches('i');
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, ' '),
    };
    let shift = match unit {
        ' ' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        'T' => 40,
        _ => return Err("expected a number with an optional K, M, G or T suffix".into()),
    };
    let number: u64 = number
        .trim()
        .parse()
        .map_err(|_| "expected a number with an optional K, M, G or T suffix".to_owned())?;
    number
        .checked_mul(1 << shift)
        .filter(|n| *n > 0)
        .ok_or_else(|| "expected a positive size".to_owned())
}

fn parse_host_rule(value: &str) -> Result<HostRule, String> {
    HostRule::parse(value).map_err(|e| e.message)
}

/// The access document from a file, standard input (`-`) or the argument itself (`{...}`).
fn read_access(argument: &str) -> Result<String, Error> {
    if argument.trim_start().starts_with('{') {
        return Ok(argument.to_owned());
    }
    let mut text = String::new();
    let result = if argument == "-" {
        std::io::stdin().read_to_string(&mut text).map(drop)
    } else {
        std::fs::read_to_string(argument).map(|t| text = t)
    };
    result.map_err(|e| {
        let name = if argument == "-" {
            "standard input".to_owned()
        } else {
            shown_argument(argument)
        };
        Error::new(
            ErrorKind::InvalidAccess,
            format!("cannot read the access document from {name}: {e}"),
        )
    })?;
    Ok(text)
}

/// A file-name argument for a message: itself, unless it looks like a document (inline
/// JSON given where a file name goes may hold a password, and messages never show one).
pub(crate) fn shown_argument(argument: &str) -> String {
    if argument.contains(['{', '[', '"', '\n']) || argument.len() > 1024 {
        "(an argument that is not a file name: give the document in a file)".to_owned()
    } else {
        argument.to_owned()
    }
}

/// The RED listing in `path` (a JSON file); a file that cannot be read is invalid access.
fn read_listing(path: &std::path::Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::new(
            ErrorKind::InvalidAccess,
            format!("cannot read the listing {}: {e}", path.display()),
        )
    })
}
