//! CSV tables with a header row, numeric feature columns and one integer label column.

use std::path::Path;

use ndarray::Array2;

use super::IoError;

/// A labelled table: features `[n, d]` as f64, class labels in `0..num_classes`.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledTable {
    /// Header names of the feature columns, in file order (the label column removed).
    pub feature_names: Vec<String>,
    /// `[n_rows, n_features]`, every value finite.
    pub features: Array2<f64>,
    /// One class per row.
    pub labels: Vec<usize>,
    /// `max(label) + 1`.
    pub num_classes: usize,
}

/// Largest number of classes a labelled table may have: labels must lie in `0..K` with
/// `K ≤ MAX_CLASSES` (and `K` no larger than the number of rows). Later stages allocate per
/// class (a softmax model holds `K × d` weights), so an absurd label such as 4 294 967 295
/// must be refused here, not turned into a 68 GB allocation.
pub const MAX_CLASSES: usize = 100_000;

/// Largest magnitude accepted for a feature value. The models square and sum features
/// (row norms, Gram matrices, Hessians); at `|x| ≤ 1e100` a sum of squares over any realistic
/// table stays below `f64::MAX ≈ 1.8e308`, whereas a cell of `1e308` overflows the row norm
/// to infinity and silently zeroes every scaled feature.
pub const MAX_FEATURE_ABS: f64 = 1e100;

/// Reads a CSV with a header row; `label_column` names the column of class labels
/// (non-negative integers, `3` or `3.0`); every other column must be numeric, finite and at
/// most [`MAX_FEATURE_ABS`] in magnitude. Labels must lie in `0..K` with
/// `K = max label + 1 ≤ min(MAX_CLASSES, rows)`.
/// A bad cell gives an error naming the file, the (1-based, header = line 1) line and column.
/// Only regular files are read (a FIFO or a directory is refused before it is opened).
pub fn read_labelled_csv(path: &Path, label_column: &str) -> Result<LabelledTable, IoError> {
    let file = super::raw::open_regular(path)?;
    read_labelled_csv_from(path, label_column, file)
}

/// [`read_labelled_csv`] over any reader (`path` names it in errors).
pub(crate) fn read_labelled_csv_from(
    path: &Path,
    label_column: &str,
    file: impl std::io::Read,
) -> Result<LabelledTable, IoError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(std::io::BufReader::new(file));
    let headers = reader
        .headers()
        .map_err(|e| IoError::format(path, format!("cannot read the header row: {e}")))?
        .clone();
    let label_index = headers
        .iter()
        .position(|h| h == label_column)
        .ok_or_else(|| {
            IoError::invalid(
                path,
                label_column,
                format!(
                    "no such column (header: {:?})",
                    headers.iter().collect::<Vec<_>>()
                ),
            )
        })?;
    let feature_names: Vec<String> = headers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != label_index)
        .map(|(_, h)| h.to_string())
        .collect();
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for (row_index, record) in reader.records().enumerate() {
        let line = row_index + 2;
        let record = record.map_err(|e| IoError::format(path, format!("line {line}: {e}")))?;
        if record.len() != headers.len() {
            return Err(IoError::format(
                path,
                format!(
                    "line {line}: {} cells, the header has {}",
                    record.len(),
                    headers.len()
                ),
            ));
        }
        for (column, cell) in record.iter().enumerate() {
            let column_name = &headers[column];
            let value: f64 = cell.parse().map_err(|_| {
                IoError::invalid(
                    path,
                    column_name,
                    format!("line {line}: cell {cell:?} is not a number"),
                )
            })?;
            if !value.is_finite() {
                return Err(IoError::invalid(
                    path,
                    column_name,
                    format!("line {line}: non-finite value {cell:?}"),
                ));
            }
            if column == label_index {
                if value < 0.0 || value.fract() != 0.0 {
                    return Err(IoError::invalid(
                        path,
                        column_name,
                        format!("line {line}: label {cell:?} is not a non-negative integer"),
                    ));
                }
                if value >= MAX_CLASSES as f64 {
                    return Err(IoError::invalid(
                        path,
                        column_name,
                        format!(
                            "line {line}: label {cell:?} is out of range: labels must be class \
                             indices 0..K with K at most {MAX_CLASSES}"
                        ),
                    ));
                }
                labels.push(value as usize);
            } else {
                if value.abs() > MAX_FEATURE_ABS {
                    return Err(IoError::invalid(
                        path,
                        column_name,
                        format!(
                            "line {line} (features[{row_index}, {}]): feature value {cell:?} \
                             exceeds the magnitude cap {MAX_FEATURE_ABS:e} (squares and sums of \
                             such values overflow the models; rescale the column)",
                            column - usize::from(column > label_index)
                        ),
                    ));
                }
                values.push(value);
            }
        }
    }
    if labels.is_empty() {
        return Err(IoError::format(path, "the table has no data rows"));
    }
    let features = Array2::from_shape_vec((labels.len(), feature_names.len()), values)
        .map_err(|e| IoError::format(path, e.to_string()))?;
    let (max_row, &max_label) = labels
        .iter()
        .enumerate()
        .max_by_key(|&(row, label)| (*label, std::cmp::Reverse(row)))
        .expect("non-empty");
    let num_classes = max_label + 1;
    if num_classes > labels.len() {
        return Err(IoError::invalid(
            path,
            label_column,
            format!(
                "line {}: label {max_label} implies {num_classes} classes but the table has only \
                 {} rows (labels must be class indices 0..K with K at most the number of rows)",
                max_row + 2,
                labels.len()
            ),
        ));
    }
    Ok(LabelledTable {
        feature_names,
        features,
        labels,
        num_classes,
    })
}
