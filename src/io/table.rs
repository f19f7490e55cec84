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

/// Reads a CSV with a header row; `label_column` names the column of class labels
/// (non-negative integers, `3` or `3.0`); every other column must be numeric and finite.
/// A bad cell gives an error naming the file, the (1-based, header = line 1) line and column.
pub fn read_labelled_csv(path: &Path, label_column: &str) -> Result<LabelledTable, IoError> {
    let file = std::fs::File::open(path).map_err(|source| IoError::Open {
        path: path.to_path_buf(),
        source,
    })?;
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
                if value < 0.0 || value.fract() != 0.0 || value > u32::MAX as f64 {
                    return Err(IoError::invalid(
                        path,
                        column_name,
                        format!("line {line}: label {cell:?} is not a non-negative integer"),
                    ));
                }
                labels.push(value as usize);
            } else {
                values.push(value);
            }
        }
    }
    if labels.is_empty() {
        return Err(IoError::format(path, "the table has no data rows"));
    }
    let features = Array2::from_shape_vec((labels.len(), feature_names.len()), values)
        .map_err(|e| IoError::format(path, e.to_string()))?;
    let num_classes = labels.iter().max().map_or(0, |m| m + 1);
    Ok(LabelledTable {
        feature_names,
        features,
        labels,
        num_classes,
    })
}
