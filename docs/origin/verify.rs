// Cargo.toml: jsonwebtoken = { version = "10", features = ["rust_crypto"] },
// serde = { version = "1", features = ["derive"] }
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};

#[derive(serde::Deserialize)]
struct Pass {
    sub: String,
}

/// True when `bk_pass` is a valid pass the room at `room` (its base URL)
/// signed for `bk_token`. `keys` is the room's `/.well-known/jwks.json`,
/// fetched once and again when a pass names a key it lacks.
pub fn admitted(room: &str, keys: &JwkSet, bk_token: &str, bk_pass: &str) -> bool {
    let Some(key) = decode_header(bk_pass)
        .ok()
        .and_then(|h| h.kid)
        .and_then(|kid| keys.find(&kid).cloned())
        .and_then(|jwk| DecodingKey::from_jwk(&jwk).ok())
    else {
        return false;
    };
    let mut rules = Validation::new(Algorithm::EdDSA);
    rules.set_issuer(&[room]);
    rules.set_required_spec_claims(&["iss", "sub", "iat", "exp"]);
    decode::<Pass>(bk_pass, &key, &rules).is_ok_and(|p| p.claims.sub == bk_token)
}
