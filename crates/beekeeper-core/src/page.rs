//! The room page template: the room name is written into the HTML itself
//! (by `serve` at start, by the deployer at upload), so it shows even with
//! JavaScript off.

/// The page template (`waiting-room-assets/index.html`); its room name slot
/// is filled by [`render`].
pub const INDEX_TEMPLATE: &str = include_str!("../../../waiting-room-assets/index.html");

/// The room page's other files: (name, content type, body). `serve` answers
/// these names only and the deployer uploads exactly these, beside `index.html`.
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "room.css",
        "text/css; charset=utf-8",
        include_str!("../../../waiting-room-assets/room.css"),
    ),
    (
        "room.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../waiting-room-assets/room.js"),
    ),
    (
        "schedule.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../waiting-room-assets/schedule.js"),
    ),
];

/// Content type of the rendered `index.html`.
pub const INDEX_CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// Every file of the room page for `room_name`: (name, content type, body).
pub fn files(room_name: &str) -> Vec<(&'static str, &'static str, String)> {
    let mut out = vec![(
        "index.html",
        INDEX_CONTENT_TYPE,
        render(INDEX_TEMPLATE, room_name),
    )];
    out.extend(ASSETS.iter().map(|(n, ct, b)| (*n, *ct, (*b).to_string())));
    out
}

/// Placeholder in `waiting-room-assets/index.html`.
pub const ROOM_NAME_SLOT: &str = "{{room_name}}";

/// The page with every slot filled with the HTML-escaped room name.
pub fn render(template: &str, room_name: &str) -> String {
    template.replace(ROOM_NAME_SLOT, &escape_html(room_name))
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped() {
        assert_eq!(
            render(
                "<h1>{{room_name}}</h1><title>{{room_name}}</title>",
                "Tom & Jerry's <b>\"sale\"</b>"
            ),
            "<h1>Tom &amp; Jerry&#39;s &lt;b&gt;&quot;sale&quot;&lt;/b&gt;</h1>\
             <title>Tom &amp; Jerry&#39;s &lt;b&gt;&quot;sale&quot;&lt;/b&gt;</title>"
        );
    }
}
