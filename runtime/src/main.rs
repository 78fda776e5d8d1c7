//! The `red-wasm` command: a thin layer over the library.

mod cli;

/// The static (musl) build allocates with mimalloc: musl's own malloc takes a lock per call and
/// would cost the transfers' throughput.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // `red-wasm connector-cli CONNECTOR ...` speaks the RED connector CLI 1 (the commands that
    // `install-commands` writes call it); its arguments are that protocol's, not clap's.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("connector-cli") {
        let Some(connector) = args.get(2) else {
            eprintln!("usage: red-wasm connector-cli CONNECTOR MODE ...");
            std::process::exit(2);
        };
        std::process::exit(cli::cli1::main(connector, &args[3..]));
    }
    std::process::exit(cli::main());
}
