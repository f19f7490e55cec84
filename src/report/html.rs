//! A self-contained HTML document: inline CSS, inline SVG figures ([`super::svg`]), no script,
//! no network, no external fonts. Built section by section; the audit report (`plan`) decides
//! what goes in it. The same content gives the same bytes.

use super::Table;
use super::svg::escape;

/// Plain text as HTML: escaped, inline Markdown code (`` `x` ``) turned into `<code>x</code>`
/// (an unpaired backtick is dropped), and over-long floats rounded ([`super::round_floats`]).
/// No Markdown syntax reaches the page.
pub fn text_html(text: &str) -> String {
    let escaped = escape(&super::round_floats(text));
    let parts: Vec<&str> = escaped.split('`').collect();
    let pairs = (parts.len() - 1) / 2;
    let mut out = String::with_capacity(escaped.len() + 16 * pairs);
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 && i <= 2 * pairs {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// An HTML report being assembled.
#[derive(Debug, Clone, Default)]
pub struct HtmlDocument {
    title: String,
    body: String,
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1180px;margin:24px auto;padding:0 16px;color:#1a1a1a;line-height:1.45}\
h1{font-size:24px;margin:0 0 12px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}\
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f2f2f2}.verdict{font-size:22px;font-weight:bold;padding:14px 18px;border-radius:6px;margin:8px 0 16px}\
.pass{background:#d9f2e3;color:#0b5d2a;border:2px solid #0b5d2a}.fail{background:#fbdcdc;color:#8a1010;border:2px solid #8a1010}\
.inconclusive{background:#fff0c8;color:#6b4e00;border:2px solid #6b4e00}.info{background:#e3ecf7;color:#1d3f6e;border:2px solid #1d3f6e}\
.figures{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}figcaption{font-size:12px;color:#555;max-width:560px}\
.side{display:flex;flex-wrap:wrap;gap:24px}.side>div{flex:1 1 420px}code{font-size:12px}";

impl HtmlDocument {
    /// An empty document with this title.
    pub fn new(title: &str) -> Self {
        HtmlDocument {
            title: title.to_string(),
            body: String::new(),
        }
    }

    /// The verdict banner: `class` is `pass`, `fail`, `inconclusive` or `info`.
    pub fn verdict(&mut self, class: &str, headline: &str, reason: &str) -> &mut Self {
        self.body.push_str(&format!(
            "<div class=\"verdict {}\" id=\"verdict\">{}",
            escape(class),
            text_html(headline)
        ));
        if !reason.is_empty() {
            self.body.push_str(&format!(
                "<div style=\"font-size:14px;font-weight:normal\">{}</div>",
                text_html(reason)
            ));
        }
        self.body.push_str("</div>\n");
        self
    }

    /// A section heading (an empty one is not written).
    pub fn heading(&mut self, text: &str) -> &mut Self {
        if !text.trim().is_empty() {
            self.body
                .push_str(&format!("<h2>{}</h2>\n", text_html(text)));
        }
        self
    }

    /// A paragraph of plain text.
    pub fn paragraph(&mut self, text: &str) -> &mut Self {
        self.body.push_str(&format!("<p>{}</p>\n", text_html(text)));
        self
    }

    /// A table.
    pub fn table(&mut self, table: &Table) -> &mut Self {
        self.body.push_str(&table_html(table));
        self
    }

    /// Raw, already-safe HTML (e.g. the output of [`figure`] or [`side_by_side`]).
    pub fn raw(&mut self, html: &str) -> &mut Self {
        self.body.push_str(html);
        self
    }

    /// The finished document.
    pub fn finish(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n{}</body>\n</html>\n",
            escape(&self.title.replace('`', "")),
            text_html(&self.title),
            self.body
        )
    }
}

/// A table as HTML.
pub fn table_html(table: &Table) -> String {
    let mut out = String::from("<table>\n<tr>");
    for cell in table.header() {
        out.push_str(&format!("<th>{}</th>", text_html(cell)));
    }
    out.push_str("</tr>\n");
    for row in table.rows() {
        out.push_str("<tr>");
        for cell in row {
            let cell = if cell.trim().is_empty() { "—" } else { cell };
            out.push_str(&format!("<td>{}</td>", text_html(cell)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

/// An SVG with a caption.
pub fn figure(svg: &str, caption: &str) -> String {
    format!(
        "<figure>\n{svg}<figcaption>{}</figcaption>\n</figure>\n",
        text_html(caption)
    )
}

/// Blocks of HTML laid out side by side (wrapping on narrow screens).
pub fn side_by_side(blocks: &[String]) -> String {
    let mut out = String::from("<div class=\"side\">\n");
    for block in blocks {
        out.push_str(&format!("<div>\n{block}</div>\n"));
    }
    out.push_str("</div>\n");
    out
}

/// Figures in a wrapping row.
pub fn figures(blocks: &[String]) -> String {
    format!("<div class=\"figures\">\n{}</div>\n", blocks.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_is_self_contained_and_escaped() {
        let mut table = Table::new(["a", "b"]);
        table.row(["<x>", "1"]);
        let mut doc = HtmlDocument::new("T & U");
        doc.verdict("pass", "PASS", "").table(&table);
        let html = doc.finish();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>T &amp; U</title>"));
        assert!(html.contains("<td>&lt;x&gt;</td>"));
        assert_eq!(
            text_html("plan `a<b` and a stray ` tick, 0.30000000000000004"),
            "plan <code>a&lt;b</code> and a stray  tick, 0.3000"
        );
        for external in ["<script", "http://", "https://", "<link", "@import", "url("] {
            let without_svg_namespace = html.replace("http://www.w3.org/2000/svg", "");
            assert!(!without_svg_namespace.contains(external), "{external}");
        }
    }
}
