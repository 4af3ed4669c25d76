//! Visitor tokens: 128 random bits written as 32 lower-case hex characters.
//!
//! Hex keeps the format trivially checkable everywhere a token travels: in
//! cookies, URLs, SQL and the API Gateway templates.

use std::fmt;

use crate::names;

/// Length of a token in characters.
pub const TOKEN_LEN: usize = 32;

/// A well-formed visitor token.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token([u8; TOKEN_LEN]);

impl Token {
    /// Builds a token from 16 bytes the caller drew from a CSPRNG.
    pub fn from_random(bytes: [u8; 16]) -> Token {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; TOKEN_LEN];
        for (i, b) in bytes.iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        Token(out)
    }

    /// Accepts exactly 32 lower-case hex characters, nothing else.
    pub fn parse(s: &str) -> Option<Token> {
        let bytes = s.as_bytes();
        if bytes.len() != TOKEN_LEN || !bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        let mut out = [0u8; TOKEN_LEN];
        out.copy_from_slice(bytes);
        Some(Token(out))
    }

    /// Finds the first well-formed `bk_token` cookie in a `Cookie` header
    /// (`a=1; bk_token=...; b=2`). Malformed pairs are skipped, not fatal.
    /// The API Gateway template `polling-request.vtl` parses the same way.
    pub fn from_cookie_header(header: &str) -> Option<Token> {
        header
            .split(';')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(name, _)| java_trim(name) == names::COOKIE)
            .find_map(|(_, value)| Token::parse(unquote(java_trim(value))))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Trims as Java's `String.trim()` does (every char up to U+0020), which is
/// what the API Gateway template can do.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// A cookie value may be wrapped in one pair of double quotes (RFC 6265).
fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

impl serde::Serialize for Token {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Token {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Token, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Token::parse(&s).ok_or_else(|| serde::de::Error::custom("not a beekeeper token"))
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({})", self.as_str())
    }
}

/// The `Set-Cookie` value that gives a visitor their place in line.
///
/// `secure` is false only when the room is served over plain http on a
/// loopback host, where browsers would drop a `Secure` cookie.
pub fn set_cookie(token: &Token, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{}={token}; Max-Age={max_age_secs}; Path=/; HttpOnly; SameSite=Lax{secure}",
        names::COOKIE
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn random_bytes_become_lower_hex() {
        let t = Token::from_random([0xab; 16]);
        assert_eq!(t.as_str(), "ab".repeat(16));
        assert_eq!(Token::parse(t.as_str()), Some(t));
    }

    #[test]
    fn parse_rejects_everything_but_the_exact_format() {
        let good = "0123456789abcdef0123456789abcdef";
        assert!(Token::parse(good).is_some());
        for bad in [
            "",
            "0123456789ABCDEF0123456789abcdef",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "0123456789abcdef0123456789abcde\"",
            "../../../../etc/passwd0123456789",
            "0123456789abcdef0123456789abcdé",
        ] {
            assert_eq!(Token::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cookie_header_with_many_cookies() {
        let tok = "ffffffffffffffffffffffffffffffff";
        let cases = [
            (format!("bk_token={tok}"), true),
            (format!("a=1; bk_token={tok}; b=2"), true),
            (format!("a=1;bk_token=\"{tok}\""), true),
            (format!("bk_token=junk; bk_token={tok}"), true),
            (format!("xbk_token={tok}"), false),
            (format!("bk_token {tok}"), false),
            ("bk_token=; ;;==; a".to_string(), false),
        ];
        for (header, found) in cases {
            assert_eq!(
                Token::from_cookie_header(&header).is_some(),
                found,
                "{header}"
            );
        }
    }

    #[test]
    fn set_cookie_attributes() {
        let t = Token::from_random([1; 16]);
        let c = set_cookie(&t, 3600, true);
        assert_eq!(
            c,
            format!("bk_token={t}; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax; Secure")
        );
        assert!(!set_cookie(&t, 3600, false).contains("Secure"));
    }

    proptest! {
        #[test]
        fn any_header_is_parsed_without_panic(header in ".{0,300}") {
            if let Some(t) = Token::from_cookie_header(&header) {
                prop_assert!(header.contains(t.as_str()));
            }
        }

        #[test]
        fn every_random_token_round_trips(bytes in any::<[u8; 16]>()) {
            let t = Token::from_random(bytes);
            prop_assert_eq!(Token::parse(t.as_str()), Some(t));
        }
    }
}
