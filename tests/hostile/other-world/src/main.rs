//! A wasi:cli command, not a connector.

fn main() {
    println!("I am not a connector");
}
