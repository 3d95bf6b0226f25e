//! How a WebSocket client proves itself: the `Authorization: Bearer …` header of the upgrade
//! request, carrying a capability token or a JWT minted from a shared secret.

use super::secret::Secret;

/// The credentials sent with the WebSocket upgrade (`codex app-server --ws-auth …`).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum WebSocketAuth {
    /// No `Authorization` header (a server started without `--ws-auth`).
    #[default]
    None,
    /// `--ws-auth capability-token`: the token itself is the bearer.
    CapabilityToken(Secret),
    /// `--ws-auth signed-bearer-token`: a fresh HS256 JWT per connection (feature `jwt`).
    #[cfg(feature = "jwt")]
    SignedBearer(SignedBearerToken),
}

impl WebSocketAuth {
    /// The bearer to send, minted now for a signed token.
    pub(crate) fn bearer(&self) -> Result<Option<Secret>, String> {
        match self {
            WebSocketAuth::None => Ok(None),
            WebSocketAuth::CapabilityToken(token) => Ok(Some(token.clone())),
            #[cfg(feature = "jwt")]
            WebSocketAuth::SignedBearer(signed) => signed.mint().map(Some),
        }
    }
}

/// A signed bearer token for `--ws-auth signed-bearer-token`: an HS256 JWT signed with the
/// server's `--ws-shared-secret-file` content, with `exp` (and `iat`) always, and `iss` /
/// `aud` when the server requires them (`--ws-issuer`, `--ws-audience`). The server
/// refuses other algorithms, a missing or past `exp`, a future `nbf` and a wrong issuer or
/// audience with HTTP 401. Minted anew for every connection.
#[cfg(feature = "jwt")]
#[derive(Debug, Clone)]
pub struct SignedBearerToken {
    shared_secret: Secret,
    issuer: Option<String>,
    audience: Option<String>,
    subject: Option<String>,
    ttl: std::time::Duration,
}

#[cfg(feature = "jwt")]
impl SignedBearerToken {
    /// Tokens signed with `shared_secret`, valid for 5 minutes from minting.
    pub fn new(shared_secret: impl Into<Secret>) -> Self {
        SignedBearerToken {
            shared_secret: shared_secret.into(),
            issuer: None,
            audience: None,
            subject: None,
            ttl: std::time::Duration::from_secs(300),
        }
    }

    /// The `iss` claim.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The `aud` claim.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The `sub` claim.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// How long a minted token is valid (`exp` = now + `ttl`).
    pub fn ttl(mut self, ttl: std::time::Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// A token minted now.
    pub fn mint(&self) -> Result<Secret, String> {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
        let mut claims = serde_json::json!({ "iat": now, "exp": now + self.ttl.as_secs().max(1) });
        for (key, value) in [("iss", &self.issuer), ("aud", &self.audience), ("sub", &self.subject)] {
            if let Some(value) = value {
                claims[key] = value.clone().into();
            }
        }
        let key = jsonwebtoken::EncodingKey::from_secret(self.shared_secret.expose().as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key)
            .map(Secret::new)
            .map_err(|e| format!("cannot sign the bearer token: {e}"))
    }
}

#[cfg(all(test, feature = "jwt"))]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_with_the_secret() {
        let token =
            SignedBearerToken::new("0123456789abcdef0123456789abcdef").issuer("i").audience("a").mint().unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_issuer(&["i"]);
        validation.set_audience(&["a"]);
        let key = jsonwebtoken::DecodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let data = jsonwebtoken::decode::<serde_json::Value>(token.expose(), &key, &validation).unwrap();
        assert_eq!(data.claims["iss"], "i");
        let wrong = jsonwebtoken::DecodingKey::from_secret(b"another secret");
        assert!(jsonwebtoken::decode::<serde_json::Value>(token.expose(), &wrong, &validation).is_err());
        assert!(!format!("{:?}", SignedBearerToken::new("s3cr3t")).contains("s3cr3t"));
    }
}
