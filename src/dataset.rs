//! The red wine-quality data set (UCI, Cortez et al. 2009; 1,599 rows), bundled with the crate,
//! a reader for the two CSV layouts it circulates in, and a reader of any CSV with a header as
//! [`FeatureRecord`]s.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::record::{Feature, FeatureRecord, WineRecord};

/// The bundled data: the UCI file with its header, comma-separated.
const BUNDLED_CSV: &str = include_str!("../data/winequality-red.csv");

/// One row of the data: the 11 features (in [`crate::record::WINE_FEATURES`] order) and the
/// quality grade the tasters gave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WineSample {
    /// The physico-chemical features.
    pub features: [f64; 11],
    /// The quality grade (3 to 8 in the red-wine data).
    pub quality: f64,
}

impl WineSample {
    /// The sample as a data-topic record with the given key.
    pub fn to_record(&self, data_type: &str) -> WineRecord {
        WineRecord::from_features(self.features, data_type)
    }
}

/// The 1,599 red-wine rows bundled with the crate.
pub fn bundled() -> Vec<WineSample> {
    parse_csv(BUNDLED_CSV).expect("the bundled wine data parses")
}

/// Reads a wine CSV file (see [`parse_csv`]).
pub fn read_csv(path: &std::path::Path) -> Result<Vec<WineSample>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_csv(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Parses wine rows: 11 features then the quality, separated by `,` (the UCI file, with a header)
/// or `;` (the original model server's copy, without one). A first row that is not numeric is
/// taken as a header and skipped.
pub fn parse_csv(text: &str) -> Result<Vec<WineSample>> {
    let separator = if text.lines().next().is_some_and(|line| line.contains(';')) {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut samples = Vec::new();
    for (index, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("row {}", index + 1))?;
        let line = row.position().map_or(index as u64 + 1, csv::Position::line);
        match parse_row(&row) {
            Ok(sample) => samples.push(sample),
            Err(_) if index == 0 => continue, // the header
            Err(error) => return Err(error).with_context(|| format!("line {line}")),
        }
    }
    Ok(samples)
}

fn parse_row(row: &csv::StringRecord) -> Result<WineSample> {
    let values = row
        .iter()
        .map(str::parse::<f64>)
        .collect::<Result<Vec<f64>, _>>()
        .context("a cell is not a number")?;
    let Ok([features @ .., quality]) = <[f64; 12]>::try_from(values.as_slice()) else {
        bail!(
            "expected 12 columns (11 features and the quality), found {}",
            values.len()
        );
    };
    Ok(WineSample { features, quality })
}

/// Reads a CSV file with a header as feature records of key `data_type`, one per row: a cell
/// that parses as a number is numeric, an empty one missing, any other categorical. The columns
/// named in `exclude` (e.g. the label) are left out.
pub fn read_feature_records(
    path: &Path,
    data_type: &str,
    exclude: &[String],
) -> Result<Vec<FeatureRecord>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let header = reader.headers()?.clone();
    if let Some(unknown) = exclude
        .iter()
        .find(|name| !header.iter().any(|h| h == *name))
    {
        bail!("{} has no column `{unknown}`", path.display());
    }
    reader
        .records()
        .map(|row| {
            let row = row.with_context(|| format!("parsing {}", path.display()))?;
            let features = header
                .iter()
                .zip(row.iter())
                .filter(|(name, _)| !exclude.iter().any(|excluded| excluded == name))
                .map(|(name, cell)| feature_of_cell(name, cell));
            Ok(FeatureRecord::new(data_type, features))
        })
        .collect()
}

fn feature_of_cell(name: &str, cell: &str) -> Feature {
    let cell = cell.trim();
    match cell.parse::<f64>() {
        Ok(number) => Feature::number(name, number),
        Err(_) if cell.is_empty() => Feature::new(name, None),
        Err(_) => Feature::category(name, cell),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_csv_reads_as_feature_records() {
        let path = std::env::temp_dir().join(format!("features-{}.csv", std::process::id()));
        std::fs::write(&path, "a,colour,label\n1.5,red,x\n,blue,y\n").unwrap();
        let records = read_feature_records(&path, "k", &["label".into()]).unwrap();
        let unknown = read_feature_records(&path, "k", &["nope".into()]).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            records,
            [
                FeatureRecord::new(
                    "k",
                    [
                        Feature::number("a", 1.5),
                        Feature::category("colour", "red")
                    ]
                ),
                FeatureRecord::new(
                    "k",
                    [Feature::new("a", None), Feature::category("colour", "blue")]
                ),
            ]
        );
        assert!(
            unknown.to_string().contains("no column `nope`"),
            "{unknown}"
        );
    }

    #[test]
    fn bundled_data_has_every_row() {
        let samples = bundled();
        assert_eq!(samples.len(), 1599);
        assert_eq!(samples[0].features[0], 7.4);
        assert_eq!(samples[0].quality, 5.0);
        assert_eq!(samples[1598].features[10], 11.0);
    }

    #[test]
    fn both_layouts_parse_alike() {
        let uci = "\"fixed acidity\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"quality\"\n7.4,0.7,0,1.9,0.076,11,34,0.9978,3.51,0.56,9.4,5\n";
        let original = "7.4;0.7;0;1.9;0.076;11;34;0.9978;3.51;0.56;9.4;5\n";
        assert_eq!(parse_csv(uci).unwrap(), parse_csv(original).unwrap());
    }

    #[test]
    fn a_short_row_is_an_error_naming_its_line() {
        let error = parse_csv("7.4,0.7,0\n1,2,3,4,5,6,7,8,9,10,11,12\n1,2\n").unwrap_err();
        assert!(format!("{error:#}").contains("line 3"), "{error:#}");
    }
}
