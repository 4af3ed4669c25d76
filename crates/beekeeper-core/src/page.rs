//! The room page template: the room name is written into the HTML itself
//! (by `serve` at start, by the deployer at upload), so it shows even with
//! JavaScript off.

/// The page template (`assets/index.html`); its room name slot
/// is filled by [`render`].
pub const INDEX_TEMPLATE: &str = include_str!("../assets/index.html");

/// The page's stylesheet and scripts, written into the page itself where
/// the template links them: a visitor's page load is one request.
const INLINED: &[(&str, &str)] = &[
    (
        r#"<link rel="stylesheet" href="room.css">"#,
        include_str!("../assets/room.css"),
    ),
    (
        r#"<script src="schedule.js"></script>"#,
        include_str!("../assets/schedule.js"),
    ),
    (
        r#"<script src="room.js"></script>"#,
        include_str!("../assets/room.js"),
    ),
];

/// Content type of the rendered `index.html`.
pub const INDEX_CONTENT_TYPE: &str = "text/html; charset=utf-8";
/// The room page's `Referrer-Policy`: the destination a visitor leaves
/// for, with their token and pass, never reaches a third party's logs
/// through a link or a loaded resource.
pub const REFERRER_POLICY: &str = "no-referrer";

/// The files of the room page for `room_name`: (name, content type, body).
/// There is one, `index.html`, with everything in it.
pub fn files(room_name: &str) -> Vec<(&'static str, &'static str, String)> {
    vec![(
        "index.html",
        INDEX_CONTENT_TYPE,
        render(INDEX_TEMPLATE, room_name),
    )]
}

/// Placeholder in `assets/index.html`.
pub const ROOM_NAME_SLOT: &str = "{{room_name}}";

/// The page with every slot filled with the HTML-escaped room name, and
/// its stylesheet and scripts inlined.
pub fn render(template: &str, room_name: &str) -> String {
    let mut page = template.replace(ROOM_NAME_SLOT, &escape_html(room_name));
    for (tag, body) in INLINED {
        let inline = if tag.starts_with("<link") {
            format!("<style>\n{body}</style>")
        } else {
            format!("<script>\n{body}</script>")
        };
        page = page.replace(tag, &inline);
    }
    page
}

/// A short page for a visitor the entry could not take (the line is full,
/// their network took its places): what happened, and a reload after
/// `retry_after` seconds, which needs no script.
pub fn notice(title: &str, why: &str, retry_after: u32) -> String {
    let (title, why) = (escape_html(title), escape_html(why));
    let minutes = retry_after.div_ceil(60).max(1);
    let when = if minutes == 1 {
        "in a minute".to_string()
    } else {
        format!("in {minutes} minutes")
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"{retry_after}\">\
         <title>{title}</title></head>\n<body style=\"font-family: system-ui, sans-serif; \
         max-width: 32rem; margin: 4rem auto; padding: 0 1rem\">\
         <h1>{title}</h1><p>{why}</p>\
         <p>Please try again {when}: this page tries again by itself.</p></body></html>\n"
    )
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

    #[test]
    fn a_notice_reloads_itself_after_the_wait() {
        let page = notice("Full <now>", "Try later.", 60);
        assert!(page.contains(r#"<meta http-equiv="refresh" content="60">"#));
        assert!(page.contains("<h1>Full &lt;now&gt;</h1>") && page.contains("in a minute"));
        assert!(notice("t", "w", 150).contains("in 3 minutes"));
    }

    #[test]
    fn the_page_is_one_file_with_its_style_and_scripts_inside() {
        let files = files("Sale");
        assert_eq!(files.len(), 1);
        let page = &files[0].2;
        assert!(!page.contains("src=") && !page.contains("href=\"room.css\""));
        assert!(page.contains("<style>") && page.contains("BeekeeperSchedule"));
        // Each inlined body is closed by its own tag only.
        for (_, body) in INLINED {
            assert!(!body.contains("</script") && !body.contains("</style"));
        }
        assert_eq!(page.matches("<script>").count(), 2);
    }
}
