//! Starts the test sshd (see `red_wasm_testkit::sshd`) for benchmarks and manual tries, prints
//! `PORT KEYFILE` (an unencrypted Ed25519 key of the test user), and runs until killed.

fn main() {
    let sshd = red_wasm_testkit::sshd::Sshd::start();
    let key = sshd.key_file(red_wasm_testkit::sshd::KeyKind::Ed25519);
    println!(
        "{} {} {}",
        sshd.port(),
        key.display(),
        sshd.home().display()
    );
    loop {
        std::thread::park();
    }
}
