//! Markdown tables.

/// How a column's cells are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Left-aligned (text).
    Left,
    /// Right-aligned (numbers).
    Right,
}

/// A GitHub-flavoured Markdown table with padded columns, so that it also reads well as
/// plain text. `|` in a cell is escaped; rows shorter than the header are padded with
/// empty cells, longer ones cut.
pub fn markdown_table(headers: &[&str], align: &[Align], rows: &[Vec<String>]) -> String {
    let ncols = headers.len();
    let escape = |s: &str| s.replace('|', "\\|");
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            (0..ncols)
                .map(|j| r.get(j).map(|c| escape(c)).unwrap_or_default())
                .collect()
        })
        .collect();
    let heads: Vec<String> = headers.iter().map(|h| escape(h)).collect();
    let width = |j: usize| {
        cells
            .iter()
            .map(|r| r[j].chars().count())
            .chain([heads[j].chars().count(), 3])
            .max()
            .unwrap_or(3)
    };
    let widths: Vec<usize> = (0..ncols).map(width).collect();
    let align_of = |j: usize| align.get(j).copied().unwrap_or(Align::Left);
    let pad = |s: &str, j: usize| {
        let fill = widths[j].saturating_sub(s.chars().count());
        match align_of(j) {
            Align::Left => format!("{s}{}", " ".repeat(fill)),
            Align::Right => format!("{}{s}", " ".repeat(fill)),
        }
    };
    let line = |r: &[String]| {
        let inner: Vec<String> = r.iter().enumerate().map(|(j, c)| pad(c, j)).collect();
        format!("| {} |\n", inner.join(" | "))
    };
    let mut out = line(&heads);
    let rule: Vec<String> = (0..ncols)
        .map(|j| match align_of(j) {
            Align::Left => format!(":{}", "-".repeat(widths[j] - 1)),
            Align::Right => format!("{}:", "-".repeat(widths[j] - 1)),
        })
        .collect();
    out.push_str(&format!("| {} |\n", rule.join(" | ")));
    for r in &cells {
        out.push_str(&line(r));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_aligns_and_escapes() {
        let t = markdown_table(
            &["name", "acc"],
            &[Align::Left, Align::Right],
            &[vec!["a|b".into(), "1.0".into()], vec!["long name".into()]],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], "| name      | acc |");
        assert_eq!(lines[1], "| :-------- | --: |");
        assert_eq!(lines[2], "| a\\|b      | 1.0 |");
        assert_eq!(lines[3], "| long name |     |");
    }
}
