//! The JSON answers of `/polling`, `/client-check/{token}` and the JSON
//! variant of `/beekeeper`. The API Gateway templates produce the same bytes.

use serde::Serialize;

use crate::{pass::Passes, profile::RoomConfig, Token};

/// An admitted token's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Epoch seconds.
    pub admitted_at: u64,
    /// Epoch seconds; the token is no longer valid from this second on.
    pub expires_at: u64,
}

impl Admission {
    pub fn is_valid(&self, now_secs: u64) -> bool {
        now_secs < self.expires_at
    }
}

/// Answer of `GET /polling`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Poll {
    pub allow: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl Poll {
    /// The answer for the cookie's `token` (if any) and its admission
    /// record (if any). An admitted visitor goes to the destination with
    /// the pass `signer` makes of the admission. When
    /// the room is off, everyone else goes back to the entry
    /// ([`names::ENTRY_FROM_ROOM`](crate::names::ENTRY_FROM_ROOM)), which
    /// lets them through with a token of their own
    /// ([`entry::Step::Release`](crate::entry::Step::Release)): both rooms
    /// release a waiting visitor at their next poll, and neither admits
    /// anyone in the background while off.
    pub fn new(
        cfg: &RoomConfig,
        signer: &dyn Passes,
        token: Option<&Token>,
        admission: Option<Admission>,
        now_secs: u64,
    ) -> Poll {
        match (token, admission) {
            (Some(t), Some(a)) if a.is_valid(now_secs) => Poll {
                allow: true,
                origin: Some(signer.destination(cfg, t, &a)),
            },
            _ if !cfg.enabled => Poll {
                allow: true,
                origin: Some(crate::names::ENTRY_FROM_ROOM.to_string()),
            },
            _ => Poll::deny(),
        }
    }

    pub fn deny() -> Poll {
        Poll {
            allow: false,
            origin: None,
        }
    }
}

/// Answer of `GET /client-check/{token}` (a check) and of
/// `POST /client-check/{token}` (a redemption, [`ClientCheck::redeemed`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCheck {
    pub allow: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admitted_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Why a redemption was refused although the token was admitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// What redeeming a token found. The backend decides it atomically: of
/// any number of redemptions of one admission, exactly one is `First`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    /// This redemption used the admission.
    First(Admission),
    /// A valid admission an earlier redemption already used.
    Used,
    /// No valid admission.
    Refused,
}

/// [`ClientCheck::reason`] of a second redemption.
pub const REASON_USED: &str = "used";

impl ClientCheck {
    pub fn new(admission: Option<Admission>, now_secs: u64) -> ClientCheck {
        match admission {
            Some(a) if a.is_valid(now_secs) => ClientCheck {
                allow: true,
                admitted_at: Some(a.admitted_at),
                expires_at: Some(a.expires_at),
                reason: None,
            },
            _ => ClientCheck::deny(),
        }
    }

    /// The answer to a redemption.
    pub fn redeemed(r: Redeemed) -> ClientCheck {
        match r {
            // A first redemption is valid by construction.
            Redeemed::First(a) => ClientCheck::new(Some(a), a.admitted_at),
            Redeemed::Used => ClientCheck {
                reason: Some(REASON_USED),
                ..ClientCheck::deny()
            },
            Redeemed::Refused => ClientCheck::deny(),
        }
    }

    pub fn deny() -> ClientCheck {
        ClientCheck {
            allow: false,
            admitted_at: None,
            expires_at: None,
            reason: None,
        }
    }
}

/// Answer of `GET /beekeeper` for apps (`Accept: application/json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Arrival {
    pub token: String,
    /// 1 is next in line; absent when the backend cannot know it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_seconds: Option<u64>,
    pub poll_seconds: u64,
    /// Relative URL of the room page for this visitor.
    pub room: String,
}

/// The room page URL, relative to the entry route, with the estimates the
/// page shows before its first poll.
pub fn room_location(position: u64, wait_secs: u64) -> String {
    format!(
        "{}?{}={position}&{}={wait_secs}",
        crate::names::ROOM_PAGE,
        crate::names::ROOM_PARAM_POSITION,
        crate::names::ROOM_PARAM_WAIT
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RoomConfig {
        RoomConfig::for_tests(10)
    }

    #[test]
    fn json_shapes() {
        let s = crate::pass::Signer::for_tests();
        let t = Token::from_random([0x11; 16]);
        let a = Admission {
            admitted_at: 100,
            expires_at: 160,
        };
        let pass = s.pass(&t, &a);
        let j = |v: &dyn erased::Ser| v.json();
        assert_eq!(
            j(&Poll::new(&cfg(), &s, Some(&t), Some(a), 159)),
            format!(
                r#"{{"allow":true,"origin":"https://shop.example/?bk_token={t}&bk_pass={pass}"}}"#
            )
        );
        assert_eq!(
            j(&Poll::new(&cfg(), &s, Some(&t), Some(a), 160)),
            r#"{"allow":false}"#
        );
        assert_eq!(
            j(&Poll::new(&cfg(), &s, Some(&t), None, 0)),
            r#"{"allow":false}"#
        );
        assert_eq!(
            j(&Poll::new(&cfg(), &s, None, None, 0)),
            r#"{"allow":false}"#
        );
        // Off: an admitted visitor still goes to the destination; everyone
        // else, with or without a cookie, back to the entry.
        let off = RoomConfig {
            enabled: false,
            ..cfg()
        };
        assert_eq!(
            j(&Poll::new(&off, &s, Some(&t), Some(a), 159)),
            format!(
                r#"{{"allow":true,"origin":"https://shop.example/?bk_token={t}&bk_pass={pass}"}}"#
            )
        );
        for (token, admission) in [(Some(&t), None), (Some(&t), Some(a)), (None, None)] {
            assert_eq!(
                j(&Poll::new(&off, &s, token, admission, 160)),
                r#"{"allow":true,"origin":"../beekeeper"}"#
            );
        }
        assert_eq!(
            j(&ClientCheck::new(Some(a), 159)),
            r#"{"allow":true,"admittedAt":100,"expiresAt":160}"#
        );
        assert_eq!(j(&ClientCheck::new(Some(a), 160)), r#"{"allow":false}"#);
        assert_eq!(j(&ClientCheck::new(None, 0)), r#"{"allow":false}"#);
        assert_eq!(
            j(&ClientCheck::redeemed(Redeemed::First(a))),
            r#"{"allow":true,"admittedAt":100,"expiresAt":160}"#
        );
        assert_eq!(
            j(&ClientCheck::redeemed(Redeemed::Used)),
            r#"{"allow":false,"reason":"used"}"#
        );
        assert_eq!(
            j(&ClientCheck::redeemed(Redeemed::Refused)),
            r#"{"allow":false}"#
        );
    }

    mod erased {
        pub trait Ser {
            fn json(&self) -> String;
        }
        impl<T: serde::Serialize> Ser for T {
            fn json(&self) -> String {
                serde_json::to_string(self).unwrap_or_default()
            }
        }
    }
}
