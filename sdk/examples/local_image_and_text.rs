//! A multimodal turn with a local image file: `Input::local_image(path)`. The app-server reads
//! the file and sends it to the model inline, so the path is on the machine running Codex.
//!
//! ```sh
//! cargo run --example local_image_and_text [-- <path/to/image.png>]
//! cargo run --example local_image_and_text -- --offline
//! ```
//!
//! Without a path, the example writes a tiny sample PNG (a 2x2 blue square) to a temporary
//! directory and uses that.

mod support;

use codex_driver::testing::{MockModel, MockResponse};
use codex_driver::{Codex, Input, ThreadOptions};
use std::path::PathBuf;

/// A 2x2 blue PNG.
const BLUE_SQUARE_PNG: [u8; 72] = [
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 2, 0, 0, 0, 2, 8, 2, 0, 0, 0, 253, 212, 154,
    115, 0, 0, 0, 15, 73, 68, 65, 84, 120, 156, 99, 96, 96, 248, 15, 70, 96, 10, 0, 23, 246, 3, 253, 126, 235, 55, 243,
    0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;
    let scratch = tempfile::tempdir()?;
    let path = match std::env::args().skip(1).find(|a| !a.starts_with("--")) {
        Some(path) => PathBuf::from(path),
        None => {
            let path = scratch.path().join("blue-square.png");
            std::fs::write(&path, BLUE_SQUARE_PNG)?;
            path
        }
    };

    let codex = Codex::spawn(env.config()).await?;
    let thread = codex.thread_start(&ThreadOptions::default()).await?;
    let result =
        thread.run(vec![Input::text("Describe this image in one sentence."), Input::local_image(&path)]).await?;
    println!("image:  {}", path.display());
    println!("answer: {}", result.final_response().unwrap_or("(none)"));

    if let Some(offline) = env.offline() {
        let request = offline.model.last_request().expect("one model request");
        let urls = request.input_image_urls();
        println!(
            "(the model received the file inline: {}…)",
            urls.first().map(|u| &u[..30.min(u.len())]).unwrap_or("nothing")
        );
    }
    codex.close().await;
    env.finish()
}

/// Offline runs only: the description of the image.
fn offline_script(model: &MockModel) {
    model.push(MockResponse::text("A small blue square."));
}
