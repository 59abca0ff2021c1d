//! `score`: scores the rows of a CSV file offline with a model file, so that a model can be
//! checked before it is published.
//!
//! ```text
//! score --model data/pmml/decision_tree_classifier.pmml --input rows.csv --output predictions.csv
//! ```
//!
//! The input's header names the fields. A PMML model takes its fields by name (extra columns are
//! ignored; an empty cell is a missing value; a cell that is not a number is a category). An ONNX
//! model takes the first columns, as many as its input declares. The output has the input row
//! number (from 0), the predicted value, for a classifier the label and one probability per class,
//! and the error for a row the model could not score.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Parser;
use modelserver::model::onnx::{declared_width, OnnxModel};
use modelserver::model::pmml::{Input, PmmlModel};
use modelserver::model::{Model, ModelError, ModelKind, Prediction};

/// Score a CSV file with a model file.
#[derive(Parser, Debug)]
struct Args {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// The model type (default: from the file's extension: .pmml/.xml, .onnx).
    #[arg(long = "type")]
    kind: Option<ModelKind>,
    /// The rows to score: CSV with a header row.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the predictions (CSV).
    #[arg(long)]
    output: PathBuf,
}

/// A loaded model and how it reads a CSV row.
enum Scorer {
    Pmml(Box<PmmlModel>),
    Onnx { model: OnnxModel, width: usize },
}

impl Scorer {
    fn load(path: &Path, kind: ModelKind, header: &csv::StringRecord) -> Result<Scorer> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        match kind {
            ModelKind::Pmml => {
                let fields: Vec<&str> = header.iter().collect();
                Ok(Scorer::Pmml(Box::new(PmmlModel::load_with_fields(
                    &bytes, &fields,
                )?)))
            }
            ModelKind::Onnx => {
                let width = declared_width(&bytes)?.unwrap_or(header.len());
                if width > header.len() {
                    bail!(
                        "the model takes {width} features, the input has {} columns",
                        header.len()
                    );
                }
                let inputs = header.iter().take(width).map(Into::into).collect();
                Ok(Scorer::Onnx {
                    model: OnnxModel::load_with_inputs(&bytes, inputs)?,
                    width,
                })
            }
            other => bail!("`score` reads pmml and onnx models, not {other}"),
        }
    }

    fn score(&mut self, row: &csv::StringRecord) -> Result<Prediction, ModelError> {
        match self {
            Scorer::Pmml(model) => {
                let inputs: Vec<Input<'_>> = row.iter().map(pmml_input).collect();
                model.score_inputs(&inputs)
            }
            Scorer::Onnx { model, width } => {
                let features: Vec<f64> = row
                    .iter()
                    .take(*width)
                    .map(|cell| cell.trim().parse().unwrap_or(f64::NAN))
                    .collect();
                model.score(&features)
            }
        }
    }

    fn class_labels(&self) -> Vec<String> {
        let labels = match self {
            Scorer::Pmml(model) => model.class_labels(),
            Scorer::Onnx { model, .. } => model.class_labels(),
        };
        labels.iter().map(|label| label.to_string()).collect()
    }
}

fn pmml_input(cell: &str) -> Input<'_> {
    let cell = cell.trim();
    if cell.is_empty() {
        Input::Missing
    } else {
        cell.parse().map_or(Input::Text(cell), Input::Number)
    }
}

fn kind_of(path: &Path) -> Result<ModelKind> {
    match path.extension().and_then(|extension| extension.to_str()) {
        Some("pmml" | "xml") => Ok(ModelKind::Pmml),
        Some("onnx") => Ok(ModelKind::Onnx),
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
    let mut scorer = Scorer::load(&args.model, kind, &header)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let labels = scorer.class_labels();
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
        writer.write_record(output_row(index, scorer.score(&row), labels.len()))?;
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
