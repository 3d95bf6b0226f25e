//! Calls the blocking API inside an async runtime and lets it panic: `blocking.rs` runs
//! this binary and checks what a user sees on stderr (the SDK's message, not Tokio's).

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let _ = codex_driver::blocking::Codex::spawn(codex_driver::ClientConfig::default());
}
