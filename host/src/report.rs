//! The self-contained `report.html` of `overlin reproduce`: inline SVG
//! plots and tables, no scripts, no external resources (it opens offline).

use std::fmt::Write as _;

/// A table of the report (also written as CSV where it is the data).
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// Caption above the table.
    pub caption: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows of cells, already formatted.
    pub rows: Vec<Vec<String>>,
}

/// A plot of the report, also written as its own `.svg` file.
#[derive(Clone, Debug)]
pub struct Figure {
    /// File name in the output folder (`e1_gap_sigma1.svg`).
    pub file: String,
    /// Caption under the plot.
    pub caption: String,
    /// The SVG document.
    pub svg: String,
}

/// One experiment's section of the report.
#[derive(Clone, Debug, Default)]
pub struct Section {
    /// `E1` … `E6`.
    pub id: String,
    /// Title.
    pub title: String,
    /// What was run: sizes, seeds, rules, what each column means (plain text paragraphs).
    pub description: Vec<String>,
    /// Per-step certificate: checked steps.
    pub steps_checked: u64,
    /// Violations (per-step, imbalance and a-priori) found.
    pub violations: u64,
    /// Worst measured/bound ratio over every certified step.
    pub worst_ratio: f64,
    /// Checked steps by class (THEORY §11).
    pub classes: crate::problem::Classes,
    /// Findings in one line each (the report's bullet list).
    pub findings: Vec<String>,
    /// Tables.
    pub tables: Vec<Table>,
    /// Plots.
    pub figures: Vec<Figure>,
    /// Files of this experiment in the output folder.
    pub files: Vec<String>,
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
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

/// Prepares an SVG document for inlining in HTML: drops the XML namespace
/// attribute (HTML5 puts `<svg>` in the SVG namespace itself), so that the
/// report carries no URL at all, and adds an accessible label.
pub fn inline_svg(svg: &str, label: &str) -> String {
    let s = svg.replace(r#" xmlns="http://www.w3.org/2000/svg""#, "");
    s.replacen(
        "<svg ",
        &format!(r#"<svg role="img" aria-label="{}" "#, esc(label)),
        1,
    )
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\
h1{font-size:1.7em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}\
table{border-collapse:collapse;margin:.8em 0;font-size:.88em}\
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:right}th{background:#f3f3f3}\
td:first-child,th:first-child{text-align:left}caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0}\
figure{margin:1em 0}figcaption{font-size:.88em;color:#444;max-width:760px}\
.ok{color:#0a7d32;font-weight:600}.warn{color:#9a6700;font-weight:600}.bad{color:#b00020;font-weight:700}\
.box{border:1px solid #ddd;background:#fafafa;padding:.6em 1em;margin:.8em 0}\
code{background:#f2f2f2;padding:0 .2em}";

/// Run-wide facts shown at the top of the report.
#[derive(Clone, Debug, Default)]
pub struct Header {
    /// Command line that produced the folder.
    pub command: String,
    /// `default` or `quick`.
    pub mode: String,
    /// Seeds per configuration (E1; other experiments derive theirs).
    pub seeds: usize,
    /// overlin version.
    pub version: String,
    /// Notes on the mode (what `--quick` changed).
    pub notes: Vec<String>,
}

/// Renders the whole report.
pub fn render(header: &Header, sections: &[Section]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>overlin reproduce: certified gradient descent on two-layer linear models</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n"
    );
    let _ = writeln!(
        h,
        "<h1>overlin reproduce — certified gradient descent on overparametrized linear models</h1>"
    );
    let _ = writeln!(
        h,
        "<p>Every gradient step below was certified before it was taken by the local PL \
         inequality and local descent lemma (THEORY §3–§5: the step's contraction factor \
         ρ<sub>t</sub>), and checked after it: a <em>violation</em> is a step whose measured \
         gap L<sub>t+1</sub> − L* exceeded ρ<sub>t</sub>(L<sub>t</sub> − L*) beyond rounding \
         (THEORY §11). The <em>worst ratio</em> is the largest measured/bound ratio over \
         certified steps, with no rounding allowance in its denominator.</p>"
    );
    let _ = writeln!(
        h,
        "<p>Every checked step falls in one class (THEORY §11; docs/ROUNDING.md): \
         <em>certified</em> steps are the only ones whose check of the contraction bound \
         could fail (α<sub>t</sub> &gt; 0, ηK<sub>t</sub> &lt; 2, and a rounding allowance \
         below a tenth of the predicted decrease); <em>trivial</em> (α<sub>t</sub> = 0), \
         <em>below resolution</em> (the precision floor), <em>descent only</em> \
         (ηK<sub>t</sub> ≥ 2) and <em>non-finite</em> steps were checked against the \
         descent lemma at most, and are never counted as certified.</p>"
    );
    let _ = writeln!(
        h,
        "<div class=\"box\">Command: <code>{}</code><br>Mode: <b>{}</b>, seeds: {}, overlin {}",
        esc(&header.command),
        esc(&header.mode),
        header.seeds,
        esc(&header.version)
    );
    for n in &header.notes {
        let _ = write!(h, "<br>{}", esc(n));
    }
    let _ = writeln!(h, "</div>");
    // Overview table.
    let total: u64 = sections.iter().map(|s| s.violations).sum();
    let _ = writeln!(
        h,
        "<table><caption>Overview: certificates per experiment</caption>\
         <tr><th>experiment</th><th>steps checked</th><th>certified</th><th>trivial</th>\
         <th>below resolution</th><th>descent only</th><th>non-finite</th><th>violations</th>\
         <th>worst measured/bound</th><th>verdict</th></tr>"
    );
    for s in sections {
        let (cls, verdict) = section_verdict(s);
        let c = &s.classes;
        let _ = writeln!(
            h,
            "<tr><td><a href=\"#{id}\">{id}</a> {t}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{cls}\">{}</td><td>{}</td><td class=\"{cls}\">{verdict}</td></tr>",
            s.steps_checked,
            c.certified,
            c.trivial,
            c.below_resolution,
            c.descent_only,
            c.non_finite,
            s.violations,
            fmt_ratio(s.worst_ratio),
            id = esc(&s.id),
            t = esc(&s.title)
        );
    }
    let _ = writeln!(h, "</table>");
    if total > 0 {
        let _ = writeln!(
            h,
            "<p class=\"bad\">{total} certificate violation(s): a measured ratio exceeded its \
             bound. This is a bug or a false theorem; see the sections below.</p>"
        );
    }
    for s in sections {
        render_section(&mut h, s);
    }
    let _ = writeln!(h, "</body>\n</html>");
    h
}

/// CSS class and verdict of a section: violated, nothing certified, or held.
fn section_verdict(s: &Section) -> (&'static str, &'static str) {
    if s.violations > 0 {
        ("bad", "VIOLATED")
    } else if s.classes.certified == 0 {
        ("warn", "no step was certified")
    } else {
        ("ok", "all certified steps held")
    }
}

fn fmt_ratio(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.6}")
    } else {
        "n/a".into()
    }
}

fn render_section(h: &mut String, s: &Section) {
    let _ = writeln!(
        h,
        "<h2 id=\"{}\">{} — {}</h2>",
        esc(&s.id),
        esc(&s.id),
        esc(&s.title)
    );
    for p in &s.description {
        let _ = writeln!(h, "<p>{}</p>", esc(p));
    }
    let (cls, verdict) = section_verdict(s);
    let c = &s.classes;
    let _ = writeln!(
        h,
        "<p class=\"{cls}\">Certificates: {} steps checked ({} certified, {} trivial, {} below resolution, {} descent only, {} non-finite), {} violation(s), worst measured/bound ratio {}: {verdict}.</p>",
        s.steps_checked,
        c.certified,
        c.trivial,
        c.below_resolution,
        c.descent_only,
        c.non_finite,
        s.violations,
        fmt_ratio(s.worst_ratio)
    );
    if !s.findings.is_empty() {
        let _ = writeln!(h, "<ul>");
        for f in &s.findings {
            let _ = writeln!(h, "<li>{}</li>", esc(f));
        }
        let _ = writeln!(h, "</ul>");
    }
    for f in &s.figures {
        let _ = writeln!(
            h,
            "<figure>{}<figcaption>{} (<code>{}</code>)</figcaption></figure>",
            inline_svg(&f.svg, &f.caption),
            esc(&f.caption),
            esc(&f.file)
        );
    }
    for t in &s.tables {
        render_table(h, t);
    }
    if !s.files.is_empty() {
        let files: Vec<String> = s
            .files
            .iter()
            .map(|f| format!("<code>{}</code>", esc(f)))
            .collect();
        let _ = writeln!(h, "<p>Files: {}</p>", files.join(", "));
    }
}

fn render_table(h: &mut String, t: &Table) {
    let _ = write!(h, "<table><caption>{}</caption><tr>", esc(&t.caption));
    for c in &t.header {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    let _ = writeln!(h, "</tr>");
    for r in &t.rows {
        let _ = write!(h, "<tr>");
        for c in r {
            let _ = write!(h, "<td>{}</td>", esc(c));
        }
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(h, "</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_inlines_svg_without_urls_and_escapes_text() {
        let svg = r#"<svg width="10" height="10" viewBox="0 0 10 10" xmlns="http://www.w3.org/2000/svg"><text>a</text></svg>"#;
        let s = Section {
            id: "E1".into(),
            title: "rate <validation>".into(),
            violations: 2,
            worst_ratio: 1.5,
            figures: vec![Figure {
                file: "e1.svg".into(),
                caption: "cap".into(),
                svg: svg.into(),
            }],
            tables: vec![Table {
                caption: "t".into(),
                header: vec!["a".into()],
                rows: vec![vec!["1".into()]],
            }],
            ..Default::default()
        };
        let html = render(&Header::default(), &[s]);
        assert!(html.contains("<svg role=\"img\""));
        assert!(!html.contains("http"));
        assert!(html.contains("rate &lt;validation&gt;"));
        assert!(html.contains("VIOLATED"));
        assert!(html.contains("1.500000"));
    }
}
