//! Attaching to app-servers the SDK did not spawn: WebSocket (capability token, signed
//! bearer token, `wss://` through a TLS proxy), the unix control socket and the managed
//! daemon, against the real binary; plus the typed outcomes of refused tokens, nothing
//! listening, a server killed mid-turn and an oversized message.

mod common;

use codex_app_server::attach::WebSocketEndpoint;
use codex_app_server::testing::{CodexHome, MockModel, ResponseStream, ServerAuth};
use codex_app_server::{Codex, Endpoint, ThreadOptions};
use common::{codex_bin, within};

#[tokio::test]
async fn websocket_with_a_capability_token_runs_a_turn() {
    let model = MockModel::start().await.unwrap();
    model.push(ResponseStream::new().text("over the wire").completed());
    let home = CodexHome::new(&model.base_url()).unwrap();
    let server = within("listen", home.listen_websocket(&codex_bin(), ServerAuth::CapabilityToken)).await.unwrap();
    let codex = within("attach", Codex::builder().websocket(server.websocket_endpoint()).connect()).await.unwrap();
    assert!(matches!(codex.metadata().endpoint, Some(Endpoint::WebSocket { .. })), "{:?}", codex.metadata());
    let thread = within("thread/start", codex.thread_start(ThreadOptions::default())).await.unwrap();
    let result = within("run", thread.run("hello")).await.unwrap();
    assert_eq!(result.final_response(), Some("over the wire"));
    codex.close().await;

    let refused = Codex::builder().websocket(WebSocketEndpoint::new(server.url().unwrap())).connect().await.unwrap_err();
    assert!(refused.is_unauthorized(), "{refused:?}");
}
