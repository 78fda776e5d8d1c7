//! A local HTTP server for the quick-start demo and the benchmarks: serves the routes of
//! `red_wasm_testkit::http` on 127.0.0.1 until killed.
//!
//! Usage: red-wasm-testserver PORT [FILE NAME]...
//! Each FILE is served at /files/NAME.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port: u16 = args
        .first()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("usage: red-wasm-testserver PORT [FILE NAME]...");
            std::process::exit(2);
        });
    let server = red_wasm_testkit::http::HttpServer::start_on(port);
    for pair in args[1..].chunks(2) {
        let [file, name] = pair else {
            eprintln!("FILE and NAME come in pairs");
            std::process::exit(2);
        };
        let bytes = std::fs::read(file).unwrap_or_else(|e| {
            eprintln!("cannot read {file}: {e}");
            std::process::exit(2);
        });
        server.put_file(name, &bytes);
    }
    println!("{}", server.base());
    loop {
        std::thread::park();
    }
}
