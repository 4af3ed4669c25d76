//! The signed pass (DESIGN §8): what lets an origin check an admitted
//! visitor without calling the room.
//!
//! An admitted visitor reaches the destination with `bk_token` and
//! `bk_pass`, a compact JWT (RFC 7519) signed with Ed25519 (`EdDSA`,
//! RFC 8037). Its claims are the room's base URL (`iss`), the token
//! (`sub`), the admission (`iat`), an expiry at most [`PASS_SECS`] later
//! and never after the admission's own (`exp`), and the profile (`room`);
//! the header names the key (`kid`, the key's RFC 7638 thumbprint). The
//! room publishes its public keys as a JWKS, so any JWT library verifies a
//! pass offline.
//!
//! The keys of a room form a [`KeyRing`]: the newest signs, the ones it
//! replaced stay published until every pass they signed has expired, then
//! the next rotation drops them. Both rooms store the ring as the JSON of
//! [`KeyRing`] (serve in a 0600 file, AWS in a SecureString parameter) and
//! neither ever prints it: its `Debug` shows key ids only.
//!
//! A pass is a function of the admission and the key: serve signs it when
//! it answers, the AWS consumer when it admits; both call [`Claims::new`]
//! and [`Signer::sign`], so the two rooms' passes are alike.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use serde::{Deserialize, Serialize};

use crate::answer::Admission;
use crate::Token;

/// A pass is valid for at most this long after the admission (§8: ten
/// minutes): long enough to reach the origin, short enough that a leaked
/// link is soon worth nothing.
pub const PASS_SECS: u64 = 600;
/// A retired key stays published this much longer than the last pass it
/// signed can live, for origins whose clock runs behind.
pub const RETIRED_GRACE_SECS: u64 = 300;
/// The JWS algorithm of every pass.
pub const ALG: &str = "EdDSA";
/// Query parameter carrying the pass to the destination.
pub const DESTINATION_PARAM: &str = "bk_pass";
/// Where the room publishes its keys, relative to its base URL.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PassError {
    #[error("the room's signing keys are unreadable: {0}")]
    Unreadable(String),
    #[error("the room has no signing key")]
    Empty,
}

/// The claims of a pass (§8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    pub room: String,
}

impl Claims {
    /// The claims for `token`'s admission in the room `room` reached at
    /// `issuer`.
    pub fn new(issuer: &str, room: &str, token: &Token, a: &Admission) -> Claims {
        Claims {
            iss: issuer.to_string(),
            sub: token.to_string(),
            iat: a.admitted_at,
            exp: (a.admitted_at + PASS_SECS).min(a.expires_at),
            room: room.to_string(),
        }
    }
}

/// One key as stored: its id, its 32-byte Ed25519 seed (base64url), when
/// it was made and when a newer key replaced it (epoch seconds).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    pub kid: String,
    seed: String,
    pub created: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<u64>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("created", &self.created)
            .field("retired", &self.retired)
            .finish_non_exhaustive()
    }
}

impl StoredKey {
    fn new(seed: [u8; 32], now_secs: u64) -> StoredKey {
        let key = SigningKey::from_bytes(&seed);
        StoredKey {
            kid: thumbprint(&key),
            seed: B64.encode(seed),
            created: now_secs,
            retired: None,
        }
    }

    fn signing_key(&self) -> Result<SigningKey, PassError> {
        let bytes = B64
            .decode(&self.seed)
            .map_err(|e| PassError::Unreadable(format!("key {}: {e}", self.kid)))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| PassError::Unreadable(format!("key {}: not 32 bytes", self.kid)))?;
        Ok(SigningKey::from_bytes(&seed))
    }

    fn jwk(&self) -> Result<Jwk, PassError> {
        Ok(Jwk::new(&self.signing_key()?, &self.kid))
    }
}

/// A room's keys, newest last, with what its passes say of it: the base
/// URL (`iss`) and the profile (`room`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRing {
    pub issuer: String,
    pub room: String,
    keys: Vec<StoredKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("issuer", &self.issuer)
            .field("room", &self.room)
            .field("keys", &self.keys)
            .finish()
    }
}

impl KeyRing {
    /// A ring of one key made from `seed` (32 bytes the caller drew from a
    /// CSPRNG) for the room `room` reached at `issuer`.
    pub fn new(issuer: &str, room: &str, seed: [u8; 32], now_secs: u64) -> KeyRing {
        KeyRing {
            issuer: issuer.to_string(),
            room: room.to_string(),
            keys: vec![StoredKey::new(seed, now_secs)],
        }
    }

    /// Reads a stored ring; one without a key is refused.
    pub fn from_json(json: &str) -> Result<KeyRing, PassError> {
        let ring: KeyRing =
            serde_json::from_str(json).map_err(|e| PassError::Unreadable(e.to_string()))?;
        if ring.keys.is_empty() {
            return Err(PassError::Empty);
        }
        for k in &ring.keys {
            k.signing_key()?;
        }
        Ok(ring)
    }

    /// The ring as stored (it holds the private keys: never log it).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A new key made from `seed` signs from now on. The one it replaces
    /// stays published until its last pass has expired; keys retired
    /// longer ago than that are dropped.
    pub fn rotate(&mut self, seed: [u8; 32], now_secs: u64) {
        for k in &mut self.keys {
            k.retired.get_or_insert(now_secs);
        }
        self.keys
            .retain(|k| k.retired.is_none_or(|r| published(r, now_secs)));
        self.keys.push(StoredKey::new(seed, now_secs));
    }

    /// The key that signs.
    pub fn current(&self) -> Result<&StoredKey, PassError> {
        self.keys.last().ok_or(PassError::Empty)
    }

    /// The signer of the current key.
    pub fn signer(&self) -> Result<Signer, PassError> {
        let k = self.current()?;
        Ok(Signer {
            kid: k.kid.clone(),
            key: k.signing_key()?,
            issuer: self.issuer.clone(),
            room: self.room.clone(),
        })
    }

    /// The JWKS the room publishes at `now_secs`: the current key and
    /// every retired one whose passes may still be valid.
    pub fn jwks(&self, now_secs: u64) -> Result<String, PassError> {
        let keys = self
            .keys
            .iter()
            .filter(|k| k.retired.is_none_or(|r| published(r, now_secs)))
            .map(StoredKey::jwk)
            .collect::<Result<Vec<_>, _>>()?;
        serde_json::to_string(&Jwks { keys }).map_err(|e| PassError::Unreadable(e.to_string()))
    }

    /// The ids of the ring's keys, oldest first (what `rotate-key` shows).
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }
}

/// Whether a key retired at `retired` may still have signed a valid pass.
fn published(retired: u64, now_secs: u64) -> bool {
    now_secs < retired + PASS_SECS + RETIRED_GRACE_SECS
}

/// What makes an admission's pass: a [`Signer`], or a backend's memo of
/// one (a pass is a function of the admission and the key, so it may be
/// kept and given again).
pub trait Passes {
    /// The pass for `token`'s admission `a`.
    fn pass_for(&self, token: &Token, a: &Admission) -> String;

    /// Where `token`, admitted as `a`, is sent: the destination with the
    /// token and its pass.
    fn destination(&self, cfg: &crate::RoomConfig, token: &Token, a: &Admission) -> String {
        cfg.destination_for(token, &self.pass_for(token, a))
    }
}

impl Passes for Signer {
    fn pass_for(&self, token: &Token, a: &Admission) -> String {
        self.pass(token, a)
    }
}

/// Signs the passes of one room with one key.
pub struct Signer {
    kid: String,
    key: SigningKey,
    issuer: String,
    room: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

impl Signer {
    /// The compact JWS of `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = Header {
            alg: ALG,
            typ: "JWT",
            kid: &self.kid,
        };
        let part = |v: &dyn erased::Json| B64.encode(v.json());
        let input = format!("{}.{}", part(&header), part(claims));
        let sig = self.key.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig.to_bytes()))
    }

    /// The pass for `token`'s admission.
    pub fn pass(&self, token: &Token, a: &Admission) -> String {
        self.sign(&Claims::new(&self.issuer, &self.room, token, a))
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }
}

#[cfg(any(test, feature = "test-keys"))]
impl Signer {
    /// A signer with a fixed key, for tests only.
    pub fn for_tests() -> Signer {
        KeyRing::new("http://room.test", "test", [7; 32], 0)
            .signer()
            .unwrap_or_else(|_| unreachable!("a fresh ring has a key"))
    }
}

mod erased {
    pub trait Json {
        fn json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap_or_default()
        }
    }
}

/// A public key as a JWK (RFC 8037: `OKP`, `Ed25519`).
#[derive(Serialize)]
struct Jwk {
    kty: &'static str,
    crv: &'static str,
    x: String,
    kid: String,
    alg: &'static str,
    #[serde(rename = "use")]
    use_: &'static str,
}

impl Jwk {
    fn new(key: &SigningKey, kid: &str) -> Jwk {
        Jwk {
            kty: "OKP",
            crv: "Ed25519",
            x: B64.encode(key.verifying_key().to_bytes()),
            kid: kid.to_string(),
            alg: ALG,
            use_: "sig",
        }
    }
}

#[derive(Serialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// RFC 7638 thumbprint of the key's public JWK: base64url of the SHA-256
/// of `{"crv":"Ed25519","kty":"OKP","x":"…"}`.
fn thumbprint(key: &SigningKey) -> String {
    use sha2::Digest as _;
    let x = B64.encode(key.verifying_key().to_bytes());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    B64.encode(sha2::Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};

    fn admission(at: u64, session: u64) -> Admission {
        Admission {
            admitted_at: at,
            expires_at: at + session,
        }
    }

    /// Splits and checks a pass against the JWKS by hand: what an origin's
    /// library does.
    fn verify(pass: &str, jwks: &str) -> Option<Claims> {
        let (input, sig) = pass.rsplit_once('.')?;
        let (header, claims) = input.split_once('.')?;
        let header: serde_json::Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
        let jwks: serde_json::Value = serde_json::from_str(jwks).ok()?;
        let jwk = jwks["keys"]
            .as_array()?
            .iter()
            .find(|k| k["kid"] == header["kid"])?;
        let x: [u8; 32] = B64.decode(jwk["x"].as_str()?).ok()?.try_into().ok()?;
        let sig: [u8; 64] = B64.decode(sig).ok()?.try_into().ok()?;
        VerifyingKey::from_bytes(&x)
            .ok()?
            .verify(input.as_bytes(), &Signature::from_bytes(&sig))
            .ok()?;
        serde_json::from_slice(&B64.decode(claims).ok()?).ok()
    }

    #[test]
    fn a_pass_carries_the_admission_and_verifies_against_the_jwks() {
        let ring = KeyRing::new("http://127.0.0.1:8080", "sale", [3; 32], 1000);
        let t = Token::from_random([9; 16]);
        let pass = ring.signer().unwrap().pass(&t, &admission(2000, 1800));
        let claims = verify(&pass, &ring.jwks(2000).unwrap()).expect("verifies");
        assert_eq!(
            claims,
            Claims {
                iss: "http://127.0.0.1:8080".into(),
                sub: t.to_string(),
                iat: 2000,
                exp: 2000 + PASS_SECS,
                room: "sale".into(),
            }
        );
        // A session shorter than ten minutes ends the pass with it.
        let short = ring.signer().unwrap().pass(&t, &admission(2000, 60));
        assert_eq!(verify(&short, &ring.jwks(0).unwrap()).unwrap().exp, 2060);
        // One changed character of the claims and the signature fails.
        let (h, rest) = pass.split_once('.').unwrap();
        let tampered = format!("{h}.{}", rest.replacen('e', "f", 1));
        assert!(verify(&tampered, &ring.jwks(2000).unwrap()).is_none());
    }

    #[test]
    fn a_rotated_key_stays_published_until_its_passes_have_expired() {
        let mut ring = KeyRing::new("i", "r", [1; 32], 0);
        let t = Token::from_random([2; 16]);
        let old = ring.signer().unwrap().pass(&t, &admission(100, 1800));
        ring.rotate([2; 32], 100);
        let new = ring.signer().unwrap().pass(&t, &admission(100, 1800));
        assert_ne!(old.rsplit_once('.'), new.rsplit_once('.'));
        let until = 100 + PASS_SECS + RETIRED_GRACE_SECS;
        for now in [100, until - 1] {
            let jwks = ring.jwks(now).unwrap();
            assert!(verify(&old, &jwks).is_some(), "old pass at {now}");
            assert!(verify(&new, &jwks).is_some(), "new pass at {now}");
        }
        let jwks = ring.jwks(until).unwrap();
        assert!(verify(&old, &jwks).is_none());
        assert!(verify(&new, &jwks).is_some());
        // The next rotation after that drops the old key from the ring.
        ring.rotate([3; 32], until);
        assert_eq!(ring.kids().len(), 2);
        assert!(!ring
            .kids()
            .contains(&KeyRing::new("i", "r", [1; 32], 0).kids()[0]));
    }

    #[test]
    fn the_stored_ring_round_trips_and_never_shows_its_keys() {
        let mut ring = KeyRing::new("i", "r", [5; 32], 0);
        ring.rotate([6; 32], 10);
        let json = ring.to_json();
        assert_eq!(KeyRing::from_json(&json).unwrap(), ring);
        let seed = B64.encode([5u8; 32]);
        assert!(json.contains(&seed));
        for shown in [format!("{ring:?}"), format!("{:?}", ring.signer().unwrap())] {
            assert!(!shown.contains(&seed) && !shown.contains(&B64.encode([6u8; 32])));
            assert!(shown.contains(&ring.current().unwrap().kid));
        }
        let stored = |keys: &str| format!(r#"{{"issuer":"i","room":"r","keys":[{keys}]}}"#);
        assert_eq!(KeyRing::from_json(&stored("")), Err(PassError::Empty));
        assert!(matches!(
            KeyRing::from_json(&stored(r#"{"kid":"k","seed":"AAAA","created":0}"#)),
            Err(PassError::Unreadable(_))
        ));
    }

    #[test]
    fn the_key_id_is_the_rfc_7638_thumbprint() {
        // RFC 8037 appendix A.3: the thumbprint of the RFC's example key.
        let seed: [u8; 32] = B64
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .unwrap()
            .try_into()
            .unwrap();
        let ring = KeyRing::new("i", "r", seed, 0);
        assert_eq!(
            ring.current().unwrap().kid,
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        let jwks: serde_json::Value = serde_json::from_str(&ring.jwks(0).unwrap()).unwrap();
        assert_eq!(
            jwks["keys"][0]["x"],
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
    }
}
