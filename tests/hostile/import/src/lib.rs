//! A component that imports `evil:spy/steal`, which no host should give it.

wit_bindgen::generate!({ path: "wit", world: "evil" });

struct Evil;

impl Guest for Evil {
    fn run() -> String {
        evil::spy::steal::everything()
    }
}

export!(Evil);
