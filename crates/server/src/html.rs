//! HTML for people who follow a link from a page: one escape function, one
//! document shell and the headers every such page is served with. A page
//! never runs script, never loads anything from elsewhere and never shows a
//! value it did not escape here.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Escapes `text` for element content and for quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

/// No script, no frames, nothing fetched from elsewhere; forms post only to us.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = "\
body{margin:0;padding:1rem;background:#f4f5f7;color:#16181d;\
font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}\
main{max-width:32rem;margin:0 auto;background:#fff;border:1px solid #d8dbe0;\
border-radius:8px;padding:1rem 1.25rem}\
.brand{margin:0;color:#5c6370;font-size:.875rem}\
h1{font-size:1.25rem;margin:.25rem 0 1rem;overflow-wrap:anywhere}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 1rem}\
dt{color:#5c6370}dd{margin:0;overflow-wrap:anywhere}\
.state{font-weight:600}\
button{display:block;width:100%;min-height:3rem;padding:.5rem;border:0;border-radius:6px;\
background:#b3261e;color:#fff;font:inherit;font-size:1.125rem;font-weight:600;cursor:pointer}\
button:focus{outline:3px solid #1a56db;outline-offset:2px}\
.note{color:#5c6370;font-size:.875rem}";

/// A whole document: `title` is text (escaped here), `body` is markup whose
/// every value the caller escaped with [`escape`].
pub fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex, nofollow\">\n\
         <title>{} - Escalator</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <p class=\"brand\">Escalator</p>\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    )
}

/// A page with its status and the headers every page carries: not cached
/// (it shows live state), no `Referer` (the URL holds a signed token).
pub fn respond(status: StatusCode, document: String) -> Response {
    let mut response = (status, document).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A page saying why a request could not be served.
pub fn error_page(status: StatusCode, heading: &str, message: &str) -> Response {
    let body = format!("<h1>{}</h1>\n<p>{}</p>\n", escape(heading), escape(message));
    respond(status, document(heading, &body))
}

/// Whether the client asked for HTML: a browser does, `curl` and scripts
/// (`Accept: */*` or none) do not.
pub fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim();
            // `text/html;q=0` means "anything but HTML".
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            media.eq_ignore_ascii_case("text/html") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_quotes_and_ampersands() {
        assert_eq!(
            escape(r#"<script>alert(1)</script> & "q" 'a'"#),
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot; &#39;a&#39;"
        );
        assert_eq!(
            escape("Disk full on db-1 — ünïcode"),
            "Disk full on db-1 — ünïcode"
        );
        assert_eq!(
            escape("&amp;"),
            "&amp;amp;",
            "escaping twice is visible, not lost"
        );
        assert_eq!(escape(""), "");
    }

    #[test]
    fn a_document_is_self_contained_and_fits_a_phone() {
        let doc = document("<b>x</b>", "<p>hello</p>\n");
        assert!(doc.starts_with("<!DOCTYPE html>"));
        assert!(
            doc.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#)
        );
        assert!(doc.contains("<title>&lt;b&gt;x&lt;/b&gt; - Escalator</title>"));
        assert!(!doc.contains("<script"));
        for external in ["src=", "href=", "url(", "@import"] {
            assert!(!doc.contains(external), "loads {external} from elsewhere");
        }
    }

    #[test]
    fn pages_are_served_uncached_unframed_and_without_referrer() {
        let r = error_page(StatusCode::GONE, "Expired", "the link <expired>");
        assert_eq!(r.status(), StatusCode::GONE);
        let h = r.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("script-src"));
    }

    #[test]
    fn browsers_get_html_and_scripts_do_not() {
        let accept = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            accepts_html(&h)
        };
        assert!(accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(accept("TEXT/HTML"));
        assert!(!accept("*/*"));
        assert!(!accept("application/json"));
        assert!(!accept("text/html;q=0, */*"));
        assert!(!accepts_html(&HeaderMap::new()));
    }
}
