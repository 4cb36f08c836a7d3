//! Runs a fake TiKV cluster until killed, printing its PD endpoint, so suites gated on a real
//! cluster can run against it by hand:
//!
//! ```sh
//! cargo run -p stowage-fake-tikv --example serve &      # prints 127.0.0.1:<port>
//! TIKV_PD_ENDPOINTS=127.0.0.1:<port> cargo test -p stowage-gateway --test meta_conformance
//! ```
//!
//! Everything lives in memory: stopping it loses every store on it.

fn main() {
    let tikv = fake_tikv::FakeTikv::start();
    println!("{}", tikv.pd_endpoint());
    loop {
        std::thread::park();
    }
}
