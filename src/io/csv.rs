//! CSV: one sample per line, values separated by commas (or tabs, or
//! semicolons, judged from the first line), an optional header.
//!
//! The first line is a header when any of its fields is not a number. With a
//! header, `file.csv:a,b` picks columns by name. A column whose every cell is
//! written as an integer (no `.`, no exponent) is integer data; when every
//! picked column is, the array is discrete, as an integer `.npy` would be.
//! Quoted fields are unquoted; embedded separators inside quotes are not
//! supported (numeric data has none).

use super::{read_file, Array, MAX_EXACT_INT};
use crate::data::convert_f64;
use crate::error::{Error, Result};
use std::path::Path;

/// Reads a CSV file, optionally picking columns (`a,b`) by header name.
pub fn read_csv(path: &Path, columns: Option<&str>) -> Result<Array> {
    let bytes = read_file(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        reason: format!("not UTF-8 text (byte {})", e.valid_up_to()),
    })?;
    // Excel and PowerShell start UTF-8 files with a byte-order mark; it is not
    // part of the first header name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let bad = |line: usize, reason: String| Error::Format {
        path: path.to_path_buf(),
        reason: format!("line {line}: {reason}"),
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .peekable();
    let first = lines.peek().map(|(_, l)| *l).ok_or_else(|| Error::Format {
        path: path.to_path_buf(),
        reason: "no data rows".into(),
    })?;
    let sep = [',', '\t', ';']
        .into_iter()
        .find(|c| first.contains(*c))
        .unwrap_or(',');
    let split = |l: &str| -> Vec<String> {
        l.split(sep)
            .map(|f| f.trim().trim_matches('"').trim().to_string())
            .collect()
    };
    let first_fields = split(first);
    let header = if first_fields.iter().any(|f| f.parse::<f64>().is_err()) {
        lines.next();
        Some(first_fields)
    } else {
        None
    };
    let width = header
        .as_ref()
        .map(|h| h.len())
        .unwrap_or(first_fields_len(first, sep));
    let picked: Vec<usize> = match columns {
        None => (0..width).collect(),
        Some(spec) => {
            let h = header.as_ref().ok_or_else(|| Error::Format {
                path: path.to_path_buf(),
                reason: format!("cannot pick columns `{spec}`: the file has no header"),
            })?;
            spec.split(',')
                .map(|c| {
                    h.iter()
                        .position(|x| x == c.trim())
                        .ok_or_else(|| Error::Format {
                            path: path.to_path_buf(),
                            reason: format!(
                                "no column `{}`; the header has: {}",
                                c.trim(),
                                h.join(", ")
                            ),
                        })
                })
                .collect::<Result<_>>()?
        }
    };
    let mut data = Vec::new();
    let mut all_int = true;
    let mut n = 0usize;
    for (ln, l) in lines {
        let fields = split(l);
        if fields.len() != width {
            return Err(bad(
                ln,
                format!(
                    "{} fields, expected {width} like the first line",
                    fields.len()
                ),
            ));
        }
        for &c in &picked {
            let f = &fields[c];
            let v: f64 = f.parse().map_err(|_| {
                bad(
                    ln,
                    format!("column {} holds `{f}`, which is not a number", c + 1),
                )
            })?;
            if !v.is_finite() {
                return Err(bad(
                    ln,
                    format!("column {} holds `{f}`, which is not finite", c + 1),
                ));
            }
            let is_int = !f.contains(['.', 'e', 'E']) && v.abs() <= MAX_EXACT_INT;
            all_int &= is_int;
            data.push(v);
        }
        n += 1;
    }
    if n == 0 {
        return Err(Error::Format {
            path: path.to_path_buf(),
            reason: "no data rows".into(),
        });
    }
    let shape = if picked.len() == 1 {
        vec![n]
    } else {
        vec![n, picked.len()]
    };
    let name = match columns {
        Some(c) => format!("{}:{c}", path.display()),
        None => path.display().to_string(),
    };
    // Text is read as f64 and keeps its precision through the conversion.
    let conv = convert_f64(&name, &data, n, picked.len())?;
    Ok(Array {
        name,
        shape,
        data: conv.values,
        discrete: all_int,
        map: conv.map,
        notes: conv.notes,
    })
}

fn first_fields_len(line: &str, sep: char) -> usize {
    line.split(sep).count()
}
