//! Starts the XNAT test server (see `red_wasm_testkit::xnat`) for benchmarks and manual
//! tries, prints its base URL, and runs until killed.
//!
//! Usage: red-wasm-testxnat [FILE]
//! It holds project P1 with subject S1, experiment E1 and scan 1; FILE, when given, is served
//! at /REST/projects/P1/resources/DATA/files/data.bin. The account is the one in
//! `red_wasm_testkit::xnat::{USER, PASSWORD}`.

use red_wasm_testkit::xnat::XnatServer;

fn main() {
    let xnat = XnatServer::start();
    xnat.add_project("P1");
    xnat.add_subject("P1", "S1", "S1");
    xnat.add_experiment("P1", "S1", "E1", "E1");
    xnat.add_container(
        "projects/P1/subjects/S1/experiments/E1",
        "scans",
        "1",
        "1",
        "xnat:mrScanData",
    );
    if let Some(file) = std::env::args().nth(1) {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| {
            eprintln!("cannot read {file}: {e}");
            std::process::exit(2);
        });
        xnat.put_file("projects/P1", "DATA", "data.bin", &bytes);
    }
    println!("{}", xnat.base());
    loop {
        std::thread::park();
    }
}
