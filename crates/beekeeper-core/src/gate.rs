//! Who may take a place (DESIGN §7): the entry gate, which reads the
//! fetch metadata browsers send with every request, and the client's
//! address behind the proxies a profile trusts. Both rooms call these for
//! every arrival; the limits that count places live beside the store that
//! holds them (`serve`) or in AWS WAF (a deployed room).

use std::net::IpAddr;

use ipnet::IpNet;

/// What an arrival's headers say about the request, as the gate needs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fetch<'a> {
    /// `Sec-Fetch-Dest`: `document` for a top-level navigation, `empty`
    /// for `fetch()`, `image`, `script`, `iframe`…
    pub dest: Option<&'a str>,
    /// `Sec-Fetch-Mode`: `navigate`, `cors`, `no-cors`, `same-origin`…
    pub mode: Option<&'a str>,
    /// `Sec-Fetch-Site`: `none` (typed, a bookmark, an email client),
    /// `same-origin`, `same-site`, `cross-site`.
    pub site: Option<&'a str>,
    /// `Accept` names `application/json`.
    pub json: bool,
}

/// Whether an arrival may take a place:
///
/// - a request without fetch metadata (an app, curl, a browser too old to
///   send it) does;
/// - a top-level navigation does (`Sec-Fetch-Dest: document`, mode
///   `navigate` or absent), wherever the link was: the email, the shop;
/// - a script asking for JSON (`Sec-Fetch-Dest: empty`, mode `cors` or
///   `same-origin`) does from the room's own site (`same-origin`,
///   `same-site`, `none`), never from another site: that page's visitors
///   would otherwise take places without knowing;
/// - anything else (an image, a script, a style sheet, a frame, a
///   `no-cors` fetch, a prefetch) does not: `403`, no cookie, no place.
///
/// The headers are sent by the browser and no page can forge them;
/// a client that is not a browser may send anything, which the per-client
/// limit and the proof of work are for.
pub fn takes_place(f: &Fetch) -> bool {
    match f.dest {
        None => f.mode.is_none() || f.mode == Some("navigate"),
        Some("document") => matches!(f.mode, None | Some("navigate")),
        Some("empty") => {
            f.json
                && matches!(f.mode, Some("cors" | "same-origin"))
                && matches!(f.site, None | Some("same-origin" | "same-site" | "none"))
        }
        Some(_) => false,
    }
}

/// A proxy list entry that is neither an address nor a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or network (e.g. 10.0.0.1, 10.0.0.0/8, ::1)")]
pub struct BadProxy(pub String);

/// Parses one `trusted_proxies` entry: an address (`10.0.0.1`) or a
/// network (`10.0.0.0/8`).
pub fn parse_proxy(s: &str) -> Result<IpNet, BadProxy> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| BadProxy(s.to_string()))
}

/// The address a place is counted against: the peer's, unless the peer is
/// a trusted proxy, in which case the nearest address in
/// `X-Forwarded-For` (read from the right, the end each proxy appends to)
/// that is not itself a trusted proxy. A header from an untrusted peer is
/// never read: any client can send one. An entry that is not an address
/// ends the walk at the last trusted hop, so garbage counts against the
/// proxy that passed it on, not against a name of the client's choosing.
pub fn client_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |a: &IpAddr| trusted.iter().any(|n| n.contains(&canonical(*a)));
    let peer = canonical(peer);
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.unwrap_or("").rsplit(',') {
        let hop = hop.trim();
        if hop.is_empty() {
            continue;
        }
        match hop.parse::<IpAddr>() {
            Ok(a) => {
                client = canonical(a);
                if !is_trusted(&client) {
                    return client;
                }
            }
            Err(_) => return client,
        }
    }
    client
}

/// An IPv4 address as itself, also when it comes as `::ffff:a.b.c.d`.
fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch<'a>(dest: &'a str, mode: &'a str, site: &'a str, json: bool) -> Fetch<'a> {
        let some = |s: &'a str| (!s.is_empty()).then_some(s);
        Fetch {
            dest: some(dest),
            mode: some(mode),
            site: some(site),
            json,
        }
    }

    #[test]
    fn only_navigations_and_json_for_the_room_take_places() {
        let yes = [
            fetch("", "", "", false),                           // curl, an app
            fetch("", "", "", true),                            // an app asking for JSON
            fetch("document", "navigate", "cross-site", false), // the email's link
            fetch("document", "navigate", "none", false),       // typed in
            fetch("document", "", "", false),                   // partial metadata
            fetch("empty", "cors", "same-origin", true),        // the room's own script
            fetch("empty", "cors", "same-site", true),          // the shop's app
        ];
        for f in yes {
            assert!(takes_place(&f), "{f:?}");
        }
        let no = [
            fetch("image", "no-cors", "cross-site", false), // <img src=…/beekeeper>
            fetch("script", "no-cors", "cross-site", false),
            fetch("style", "no-cors", "same-origin", false),
            fetch("iframe", "navigate", "cross-site", false),
            fetch("empty", "no-cors", "cross-site", false), // fetch(…, {mode:"no-cors"})
            fetch("empty", "cors", "cross-site", true),     // another site's script
            fetch("empty", "cors", "same-origin", false),   // a script not asking for JSON
            fetch("document", "no-cors", "", false),
            fetch("", "no-cors", "", false),
        ];
        for f in no {
            assert!(!takes_place(&f), "{f:?}");
        }
    }

    #[test]
    fn the_client_is_read_behind_trusted_proxies_only() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted = [
            parse_proxy("10.0.0.0/8").unwrap(),
            parse_proxy("127.0.0.1").unwrap(),
        ];
        // An untrusted peer: its header is whatever it wants.
        assert_eq!(
            client_address(ip("203.0.113.9"), Some("198.51.100.1"), &trusted),
            ip("203.0.113.9")
        );
        // Through one trusted proxy: the address it appended.
        assert_eq!(
            client_address(ip("127.0.0.1"), Some("6.6.6.6, 198.51.100.1"), &trusted),
            ip("198.51.100.1")
        );
        // Through two: the nearest untrusted hop; the client's own claim
        // (6.6.6.6) is never reached.
        assert_eq!(
            client_address(
                ip("10.1.2.3"),
                Some("6.6.6.6, 198.51.100.1, 10.9.9.9"),
                &trusted
            ),
            ip("198.51.100.1")
        );
        // No header, or garbage, from a trusted proxy: counted against the
        // nearest hop that is known.
        assert_eq!(
            client_address(ip("127.0.0.1"), None, &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_address(ip("10.1.2.3"), Some("junk, 10.9.9.9"), &trusted),
            ip("10.9.9.9")
        );
        // A mapped IPv4 peer is the same address.
        assert_eq!(
            client_address(ip("::ffff:127.0.0.1"), Some("192.0.2.7"), &trusted),
            ip("192.0.2.7")
        );
        assert_eq!(parse_proxy(" ::1 ").unwrap(), "::1/128".parse().unwrap());
        assert!(parse_proxy("localhost").is_err());
        assert!(parse_proxy("10.0.0.0/33").is_err());
    }
}
