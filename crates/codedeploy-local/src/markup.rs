//! Escaping text for markup: the query wire's XML answers, and the picture's HTML and SVG.

/// Escape text for XML and HTML, in element content and in attribute values alike: `&`, `<`,
/// `>` and both quotes become entities (`&#39;` for `'`, which HTML 4 lacks as a name).
pub(crate) fn escape(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn text_is_escaped_for_content_and_attributes() {
        assert_eq!(
            escape(r#"<b a="1">&'x'"#),
            "&lt;b a=&quot;1&quot;&gt;&amp;&#39;x&#39;"
        );
    }
}
