//! Typed decoding of every server notification and server request, and the round trip of
//! what decodes (see `fuzz/harness/typed_decode.rs`).
#![no_main]

#[path = "../harness/typed_decode.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::run(data);
});
