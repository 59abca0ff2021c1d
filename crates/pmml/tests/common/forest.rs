//! Synthetic sklearn2pmml random forests, the shape the server's end-to-end benchmark keeps one
//! of per key (a port of `jobs/benches/end_to_end/forest.rs`): the bundled forest's header,
//! data dictionary, mining schema, outputs and `average` segmentation, with its segments
//! replaced by full binary `TreeModel`s whose splits test `feature <= threshold` (thresholds
//! taken from the bundled wine rows) and whose leaves carry a random distribution over the 6
//! quality grades. Seeded and deterministic.

use std::fmt::Write;
use std::path::Path;

use super::{fixtures, WINE_FEATURES};

/// The quality grades of the bundled forest's target.
const CLASSES: [&str; 6] = ["3", "4", "5", "6", "7", "8"];

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Writes forests around the bundled forest's text, with thresholds from the wine rows.
pub struct ForestWriter {
    head: String,
    tail: String,
    rows: Vec<[f64; 11]>,
}

impl ForestWriter {
    /// A writer around the bundled `random_forest_classifier.pmml` and the wine rows.
    pub fn bundled() -> ForestWriter {
        let template = std::fs::read_to_string(fixtures().join("random_forest_classifier.pmml"))
            .expect("the bundled forest");
        let start = template.find("<Segment ").expect("a segment");
        let end = template.rfind("</Segment>").expect("a segment's end") + "</Segment>".len();
        ForestWriter {
            head: template[..start].to_owned(),
            tail: template[end..].to_owned(),
            rows: wine_rows(&fixtures().join("../winequality-red.csv")),
        }
    }

    /// A forest of `trees` full binary trees of `depth` splits, from `seed`.
    pub fn forest(&self, trees: usize, depth: u32, seed: u64) -> String {
        let mut rng = Rng::new(seed);
        let mut text = self.head.clone();
        for tree in 0..trees {
            self.segment(&mut text, tree, depth, &mut rng);
        }
        text.push_str(&self.tail);
        text
    }

    fn segment(&self, out: &mut String, id: usize, depth: u32, rng: &mut Rng) {
        write!(
            out,
            "<Segment id=\"{}\"><True/><TreeModel functionName=\"classification\" \
             missingValueStrategy=\"nullPrediction\"><MiningSchema>",
            id + 1
        )
        .unwrap();
        for feature in WINE_FEATURES {
            write!(out, "<MiningField name=\"{feature}\"/>").unwrap();
        }
        out.push_str("</MiningSchema>");
        self.node(out, None, depth, rng);
        out.push_str("</TreeModel></Segment>\n");
    }

    /// A node whose predicate is `feature <= threshold` (`<True/>` for `None`), with `depth`
    /// levels of splits below it.
    fn node(&self, out: &mut String, split: Option<(usize, f64)>, depth: u32, rng: &mut Rng) {
        if depth == 0 {
            let weights: Vec<f64> = CLASSES.iter().map(|_| rng.unit().powi(3)).collect();
            let total: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
            let best = (0..CLASSES.len())
                .max_by(|&a, &b| weights[a].total_cmp(&weights[b]))
                .unwrap();
            write!(out, "<Node score=\"{}\" recordCount=\"1\">", CLASSES[best]).unwrap();
            predicate(out, split);
            for (class, weight) in CLASSES.iter().zip(&weights) {
                write!(
                    out,
                    "<ScoreDistribution value=\"{class}\" recordCount=\"{:.4}\"/>",
                    weight / total
                )
                .unwrap();
            }
            out.push_str("</Node>");
            return;
        }
        out.push_str("<Node>");
        predicate(out, split);
        let feature = rng.below(WINE_FEATURES.len());
        let threshold = self.rows[rng.below(self.rows.len())][feature];
        self.node(out, Some((feature, threshold)), depth - 1, rng);
        self.node(out, None, depth - 1, rng);
        out.push_str("</Node>");
    }
}

/// Writes a split's predicate: `feature <= threshold`, or `<True/>` for `None`.
fn predicate(out: &mut String, split: Option<(usize, f64)>) {
    match split {
        Some((feature, threshold)) => write!(
            out,
            "<SimplePredicate field=\"{}\" operator=\"lessOrEqual\" value=\"{threshold}\"/>",
            WINE_FEATURES[feature]
        )
        .unwrap(),
        None => out.push_str("<True/>"),
    }
}

/// The 11 features of each row of a wine CSV file (UCI layout, with a header).
fn wine_rows(path: &Path) -> Vec<[f64; 11]> {
    let text = std::fs::read_to_string(path).expect("the wine data");
    text.lines()
        .skip(1)
        .map(|line| {
            let mut row = [0.0; 11];
            for (cell, text) in row.iter_mut().zip(line.split([',', ';'])) {
                *cell = text.trim().parse().expect("a number");
            }
            row
        })
        .collect()
}
