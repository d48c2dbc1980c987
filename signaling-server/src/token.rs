//! Join tokens: HMAC-SHA256 signed JWTs that bind a room, a display name, a role and an
//! expiry. A server with a token secret seats only joins that carry a valid one, uses the
//! token's name, and gives host powers only to `host` tokens.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Clock difference between the machine that minted a token and the server that is
/// forgiven at the expiry.
pub const CLOCK_LEEWAY: Duration = Duration::from_secs(30);

/// Longest token accepted, in bytes (a real one is about 250).
pub const MAX_TOKEN_BYTES: usize = 2048;

/// What a participant may do in the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Host powers: lower others' hands, turn chat on and off.
    Host,
    /// A participant without host powers.
    Guest,
}

/// What a token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The room it admits to.
    pub room: String,
    /// The display name the server will use.
    pub name: String,
    /// Host or guest.
    pub role: Role,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// When it was made, Unix seconds.
    #[serde(default)]
    pub iat: u64,
}

/// Why a token was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token, not signed by this server's secret, or missing a claim.
    #[error("{0}")]
    Bad(String),
    /// Its expiry has passed.
    #[error("the token expired at {0} (Unix seconds); ask for a new one")]
    Expired(u64),
}

/// The secret tokens are signed with. Its `Debug` never shows it.
#[derive(Clone)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// A secret; `None` when it is empty.
    pub fn new(secret: &str) -> Option<TokenSecret> {
        let secret = secret.trim();
        (!secret.is_empty()).then(|| TokenSecret(secret.to_string()))
    }
}

impl std::fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSecret(…)")
    }
}

impl TokenSecret {
    /// The secret given as text, or else read from the first line of `file`; `None` when
    /// neither is given. An empty secret is an error.
    pub fn from_flags(
        text: Option<&str>,
        file: Option<&std::path::Path>,
    ) -> anyhow::Result<Option<TokenSecret>> {
        use anyhow::Context;
        let text = match (text, file) {
            (Some(text), _) => text.to_string(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token secret file {}", path.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            (None, None) => return Ok(None),
        };
        match TokenSecret::new(&text) {
            Some(secret) => Ok(Some(secret)),
            None => anyhow::bail!("the token secret is empty"),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Makes a token for `room` and `name`, valid for `ttl` from now.
pub fn mint(
    secret: &TokenSecret,
    room: &str,
    name: &str,
    role: Role,
    ttl: Duration,
) -> anyhow::Result<String> {
    let now = unix_now();
    mint_claims(
        secret,
        &Claims {
            room: room.into(),
            name: name.into(),
            role,
            exp: now.saturating_add(ttl.as_secs()),
            iat: now,
        },
    )
}

/// Signs `claims` as they are (tests make expired tokens with it).
pub fn mint_claims(secret: &TokenSecret, claims: &Claims) -> anyhow::Result<String> {
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.0.as_bytes()),
    )?)
}

/// Checks a token's signature and expiry and returns what it says. Only HS256 is accepted
/// (never `none`, never another algorithm a forger might name in the header).
pub fn verify(secret: &TokenSecret, token: &str) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Bad(format!(
            "the token is longer than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = CLOCK_LEEWAY.as_secs();
    validation.set_required_spec_claims(&["exp"]);
    match jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.0.as_bytes()),
        &validation,
    ) {
        Ok(data) => Ok(data.claims),
        Err(e) => match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                // Signed by us: read it again without the expiry check, for the message.
                validation.validate_exp = false;
                let exp = jsonwebtoken::decode::<Claims>(
                    token,
                    &DecodingKey::from_secret(secret.0.as_bytes()),
                    &validation,
                )
                .map(|d| d.claims.exp)
                .unwrap_or(0);
                Err(TokenError::Expired(exp))
            }
            jsonwebtoken::errors::ErrorKind::InvalidSignature => Err(TokenError::Bad(
                "the token is not signed by this server's token secret".into(),
            )),
            _ => Err(TokenError::Bad(format!("the token cannot be read ({e})"))),
        },
    }
}

/// A link to the browser page that joins `room` with `token`.
pub fn join_link(base: &str, room: &str, token: &str) -> String {
    let base = base.trim_end_matches('/');
    format!("{base}/?room={room}&token={token}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secret() -> TokenSecret {
        TokenSecret::new("correct horse battery staple").unwrap()
    }

    #[test]
    fn a_minted_token_verifies_and_says_what_it_was_given() {
        let t = mint(
            &secret(),
            "team",
            "ada",
            Role::Host,
            Duration::from_secs(3600),
        )
        .unwrap();
        let c = verify(&secret(), &t).unwrap();
        assert_eq!(
            (c.room.as_str(), c.name.as_str(), c.role),
            ("team", "ada", Role::Host)
        );
        assert!(format!("{:?}", secret()).contains('…'));
        assert!(!format!("{:?}", secret()).contains("horse"));
    }

    #[test]
    fn forged_expired_and_foreign_tokens_are_refused() {
        let t = mint(
            &secret(),
            "team",
            "ada",
            Role::Guest,
            Duration::from_secs(60),
        )
        .unwrap();
        let other = TokenSecret::new("another").unwrap();
        assert!(matches!(verify(&other, &t), Err(TokenError::Bad(_))));
        // A guest who turns themself into a host breaks the signature.
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let body = String::from_utf8(b64.decode(&parts[1]).unwrap()).unwrap();
        parts[1] = b64.encode(body.replace("guest", "host"));
        assert!(matches!(
            verify(&secret(), &parts.join(".")),
            Err(TokenError::Bad(_))
        ));
        // `alg: none` with no signature.
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        );
        assert!(matches!(verify(&secret(), &none), Err(TokenError::Bad(_))));
        let expired = mint_claims(
            &secret(),
            &Claims {
                room: "team".into(),
                name: "ada".into(),
                role: Role::Guest,
                exp: unix_now() - 600,
                iat: unix_now() - 700,
            },
        )
        .unwrap();
        assert!(matches!(
            verify(&secret(), &expired),
            Err(TokenError::Expired(e)) if e > 0
        ));
        assert!(matches!(verify(&secret(), ""), Err(TokenError::Bad(_))));
        assert!(matches!(
            verify(&secret(), &"a".repeat(5000)),
            Err(TokenError::Bad(_))
        ));
    }

    proptest! {
        #[test]
        fn the_parser_never_panics_and_never_accepts_junk(text in ".{0,600}") {
            prop_assert!(verify(&secret(), &text).is_err());
        }

        #[test]
        fn no_change_to_a_token_is_accepted(pos in 0usize..400, byte in any::<u8>()) {
            let t = mint(&secret(), "team", "ada", Role::Guest, Duration::from_secs(60)).unwrap();
            let mut bytes = t.clone().into_bytes();
            let pos = pos % bytes.len();
            prop_assume!(bytes[pos] != byte);
            bytes[pos] = byte;
            let changed = String::from_utf8_lossy(&bytes).into_owned();
            // A change in base64's padding bits can decode to the same bytes; anything else
            // must be refused.
            if let Ok(c) = verify(&secret(), &changed) {
                prop_assert_eq!(c, verify(&secret(), &t).unwrap());
            }
        }
    }
}
