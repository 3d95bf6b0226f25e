//! Bearer tokens the SDK never mints (expired, not yet valid, unsigned, without `exp`),
//! signed with jsonwebtoken, for the server's 401 paths. Sent with
//! `WebSocketEndpoint::capability_token`, which puts any string in `Authorization: Bearer`.

use base64::Engine as _;
use serde_json::{json, Value};

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// `claims` as an HS256 JWT signed with `secret`.
pub fn hs256(secret: &str, claims: &Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), claims, &key).expect("signs")
}

/// An unsigned token (`alg: none`, empty signature): no signing involved.
pub fn unsigned(claims: &Value) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(claims))
}
