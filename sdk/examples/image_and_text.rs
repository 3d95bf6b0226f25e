//! A multimodal turn: text plus an image given by URL (`https://…` or a `data:` URL).
//!
//! ```sh
//! cargo run --example image_and_text [-- <image-url>]
//! cargo run --example image_and_text -- --offline
//! ```
//!
//! A turn's input is anything that converts into `Inputs`: a string, one `Input`, or a
//! `Vec`/array of them. The URL is passed to the model as is; the offline run uses a
//! `data:` URL so nothing leaves the machine.

mod support;

use codex_driver::testing::{MockModel, MockResponse};
use codex_driver::{Codex, Input, ThreadOptions};

const REMOTE_IMAGE: &str =
    "https://upload.wikimedia.org/wikipedia/commons/thumb/4/47/PNG_transparency_demonstration_1.png/280px-PNG_transparency_demonstration_1.png";

/// A 1x1 red PNG.
const RED_PIXEL: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;
    let url = match std::env::args().skip(1).find(|a| !a.starts_with("--")) {
        Some(url) => url,
        None if env.is_offline() => RED_PIXEL.to_owned(),
        None => REMOTE_IMAGE.to_owned(),
    };

    let codex = Codex::spawn(env.config()).await?;
    let thread = codex.thread_start(&ThreadOptions::default()).await?;
    let input = [Input::text("What is in this image? Answer in one sentence."), Input::image_url(&url)];
    let result = thread.run(input).await?;
    println!("image:  {}", if url.len() > 80 { &url[..80] } else { &url });
    println!("answer: {}", result.final_response().unwrap_or("(none)"));

    if let Some(offline) = env.offline() {
        // The offline kit records what the model was sent: the image went along.
        let request = offline.model.last_request().expect("one model request");
        println!("(the model received {} image(s))", request.input_image_urls().len());
    }
    codex.close().await;
    env.finish()
}

/// Offline runs only: the description of the image.
fn offline_script(model: &MockModel) {
    model.push(MockResponse::text("A single red pixel."));
}
