//! Arbitrary bytes as the app-server's stdout, through the SDK's reader, router, streams and
//! typed decoders (see `fuzz/harness/decode_route.rs` for the input format and the checks).
#![no_main]

#[path = "../harness/decode_route.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::run(data);
});
