//! `score`: scores the rows of a CSV file offline with a model file, so that a model can be
//! checked before it is published.
//!
//! ```text
//! score --model data/pmml/decision_tree_classifier.pmml --input rows.csv --output predictions.csv
//! ```
//!
//! The input's header names the fields. A PMML model takes its fields by name (extra columns are
//! ignored). An ONNX model, a TensorFlow frozen graph or a SavedModel (its directory, or
//! `--type tensorflow-saved`) takes the first columns, as many as its input declares. An empty cell is a missing value; a cell that is not a number is a category
//! (which ONNX and TensorFlow models reject). The output has the input row number (from 0), the
//! predicted value, for a classifier the label and one probability per class, and the error for
//! a row the model could not score.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Parser;
use modelserver::model::tensorflow::TensorFlowModel;
use modelserver::model::{load_model, onnx, tensorflow, Input, InputNames, Model, ModelError};
use modelserver::model::{ModelKind, ModelSource, Prediction};

/// Score a CSV file with a model file.
#[derive(Parser, Debug)]
struct Args {
    /// The model file (or a SavedModel's directory).
    #[arg(long)]
    model: PathBuf,
    /// The model type (default: a directory is a SavedModel, a file is told by its extension:
    /// .pmml/.xml, .onnx, .pb).
    #[arg(long = "type")]
    kind: Option<ModelKind>,
    /// The rows to score: CSV with a header row.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the predictions (CSV).
    #[arg(long)]
    output: PathBuf,
}

/// Loads the model at `path` for rows with the columns of `header`: a PMML model binds its
/// fields by name, a model that takes one tensor the first columns, as many as it declares.
fn load(path: &Path, kind: ModelKind, header: &csv::StringRecord) -> Result<Box<dyn Model>> {
    let columns: Vec<String> = header.iter().map(str::to_owned).collect();
    if kind == ModelKind::TensorFlowSaved {
        return load_saved_model(path, &columns);
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let width = match kind {
        ModelKind::Onnx => onnx::declared_width(&bytes)?,
        ModelKind::TensorFlow => tensorflow::declared_width(&bytes)?,
        _ => None,
    };
    let names = leading_columns(&columns, width)?;
    Ok(load_model(kind, &bytes, InputNames::Named(names))?)
}

/// Loads the SavedModel in the directory `path`: its serving signature's input takes the first
/// columns, as many as it declares.
fn load_saved_model(path: &Path, columns: &[String]) -> Result<Box<dyn Model>> {
    let directory = path
        .canonicalize()
        .with_context(|| format!("reading {}", path.display()))?;
    let parent = directory.parent().map(Path::to_path_buf);
    let source = ModelSource::new(parent, ModelSource::MAX_BYTES);
    let width = tensorflow::saved_model_declared_width(&directory, &source)?;
    let names = InputNames::Named(leading_columns(columns, width)?);
    let model = TensorFlowModel::load_saved_model(&directory, names, &source)?;
    Ok(Box::new(model))
}

/// The first `width` columns (all when the model does not say), if there are as many.
fn leading_columns(columns: &[String], width: Option<usize>) -> Result<&[String]> {
    let width = width.unwrap_or(columns.len());
    if width > columns.len() {
        bail!(
            "the model takes {width} features, the input has {} columns",
            columns.len()
        );
    }
    Ok(&columns[..width])
}

/// Scores one row: its cells in header order, as many as the model takes.
fn score(model: &mut dyn Model, row: &csv::StringRecord) -> Result<Prediction, ModelError> {
    let inputs: Vec<Input<'_>> = row.iter().take(model.inputs().len()).map(input).collect();
    model.score_inputs(&inputs)
}

fn input(cell: &str) -> Input<'_> {
    let cell = cell.trim();
    if cell.is_empty() {
        Input::Missing
    } else {
        cell.parse().map_or(Input::Text(cell), Input::Number)
    }
}

fn kind_of(path: &Path) -> Result<ModelKind> {
    if path.is_dir() {
        return Ok(ModelKind::TensorFlowSaved);
    }
    match path.extension().and_then(|extension| extension.to_str()) {
        Some("pmml" | "xml") => Ok(ModelKind::Pmml),
        Some("onnx") => Ok(ModelKind::Onnx),
        Some("pb") => Ok(ModelKind::TensorFlow),
        _ => bail!(
            "cannot tell the model type of {}: pass --type",
            path.display()
        ),
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let kind = args.kind.map_or_else(|| kind_of(&args.model), Ok)?;
    let mut reader = csv::Reader::from_path(&args.input)
        .with_context(|| format!("reading {}", args.input.display()))?;
    let header = reader.headers()?.clone();
    let mut model = load(&args.model, kind, &header)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let labels: Vec<String> = model
        .class_labels()
        .iter()
        .map(|label| label.to_string())
        .collect();
    let mut writer = csv::Writer::from_path(&args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let mut columns = vec!["row".to_owned(), "value".to_owned()];
    if !labels.is_empty() {
        columns.push("label".to_owned());
        columns.extend(labels.iter().map(|label| format!("probability({label})")));
    }
    columns.push("error".to_owned());
    writer.write_record(&columns)?;
    let mut rows = 0;
    for (index, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("reading row {index}"))?;
        writer.write_record(output_row(index, score(model.as_mut(), &row), labels.len()))?;
        rows += 1;
    }
    writer.flush()?;
    eprintln!(
        "scored {rows} rows with {} ({kind}) into {}",
        args.model.display(),
        args.output.display()
    );
    Ok(())
}

/// One output row: row number, value, label and probabilities (for a classifier), error.
fn output_row(index: usize, scored: Result<Prediction, ModelError>, classes: usize) -> Vec<String> {
    let mut cells = vec![index.to_string()];
    match scored {
        Ok(prediction) => {
            cells.push(if prediction.value.is_nan() {
                String::new()
            } else {
                prediction.value.to_string()
            });
            if classes > 0 {
                cells.push(prediction.class.as_deref().unwrap_or_default().to_owned());
                let probabilities = prediction.probabilities.iter().map(f64::to_string);
                cells.extend(
                    probabilities
                        .chain(std::iter::repeat(String::new()))
                        .take(classes),
                );
            }
            cells.push(String::new());
        }
        Err(error) => {
            cells.extend(std::iter::repeat_n(
                String::new(),
                1 + if classes > 0 { classes + 1 } else { 0 },
            ));
            cells.push(error.to_string());
        }
    }
    cells
}
