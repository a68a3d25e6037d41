//! HTML building blocks: escaping, and tables whose cells are escaped text.

use std::fmt::Write;

/// `text` safe inside an element or a quoted attribute.
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

/// A cell: escaped text, or markup this crate built.
#[derive(Debug, Clone)]
pub enum Cell {
    /// Text, escaped when written.
    Text(String),
    /// Markup, written as it is.
    Markup(String),
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::Text(text.to_owned())
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::Text(text)
    }
}

/// A table with a `data-table` name (what the browser test finds it by), a header row and
/// one row per entry; an empty table says `empty` instead.
pub fn table(name: &str, header: &[&str], rows: &[Vec<Cell>], empty: &str) -> String {
    if rows.is_empty() {
        return format!(
            "<p class=\"empty\" data-table=\"{}\" data-rows=\"0\">{}</p>",
            escape(name),
            escape(empty)
        );
    }
    let mut out = format!(
        "<table data-table=\"{}\" data-rows=\"{}\"><thead><tr>",
        escape(name),
        rows.len()
    );
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            match cell {
                Cell::Text(t) => {
                    let _ = write!(out, "<td>{}</td>", escape(t));
                }
                Cell::Markup(m) => {
                    let _ = write!(out, "<td>{m}</td>");
                }
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A share as a percentage with one decimal.
pub fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        let html = table("t", &["x"], &[vec!["<b>".into()]], "none");
        assert!(html.contains("<td>&lt;b&gt;</td>"));
        assert!(html.contains("data-rows=\"1\""));
        assert!(table("t", &["x"], &[], "none").contains("none"));
    }
}
