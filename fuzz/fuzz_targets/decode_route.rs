//! Arbitrary bytes as the app-server's stdout (or WebSocket frames), through the SDK's reader,
//! router, streams and typed decoders (see `fuzz/harness/decode_route.rs` for the input
//! format and the checks).
#![no_main]

#[path = "../harness/decode_route.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(
    init: {
        // libFuzzer's `main` skips Rust's runtime setup, which ignores SIGPIPE: without it, a
        // write to a socket the SDK closed would kill the process instead of failing.
        // SAFETY: setting a signal disposition to SIG_IGN at startup, before any thread.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
    },
    |data: &[u8]| {
        harness::run(data);
    }
);
