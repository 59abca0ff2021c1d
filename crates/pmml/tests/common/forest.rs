//! Synthetic sklearn2pmml random forests, the shape the server's end-to-end benchmark keeps one
//! of per key (a port of `jobs/benches/end_to_end/forest.rs`): the bundled forest's header,
//! data dictionary, mining schema, outputs and `average` segmentation, with its segments
//! replaced by full binary `TreeModel`s whose splits test `feature <= threshold` (thresholds
//! taken from the bundled wine rows) and whose leaves carry a random distribution over the 6
//! quality grades. Seeded and deterministic. Also gradient-boosting models in sklearn2pmml's
//! shape, with the same trees but for a score in each leaf.

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
            self.tree(&mut text, tree, "classification", depth, &mut rng);
        }
        text.push_str(&self.tail);
        text
    }

    /// A gradient-boosting model as sklearn2pmml writes it, of `trees` full binary regression
    /// trees of `depth` splits per sum, from `seed`: for one class, a regressor (a `sum` of
    /// trees, rescaled by its Targets); for more, a classifier: a `modelChain` of one such sum
    /// per class (one for two classes), each handed on as `decisionFunction(class)`, then a
    /// RegressionModel (softmax, or logit for two classes) over them.
    pub fn boosting(&self, classes: usize, trees: usize, depth: u32, seed: u64) -> String {
        let mut rng = Rng::new(seed);
        let mut text = String::from(
            "<PMML xmlns=\"http://www.dmg.org/PMML-4_4\" version=\"4.4\"><DataDictionary>",
        );
        if classes == 1 {
            text.push_str(
                "<DataField name=\"quality\" optype=\"continuous\" dataType=\"double\"/>",
            );
        } else {
            text.push_str(
                "<DataField name=\"quality\" optype=\"categorical\" dataType=\"integer\">",
            );
            for class in &CLASSES[..classes] {
                write!(text, "<Value value=\"{class}\"/>").unwrap();
            }
            text.push_str("</DataField>");
        }
        for feature in WINE_FEATURES {
            write!(
                text,
                "<DataField name=\"{feature}\" optype=\"continuous\" dataType=\"double\"/>"
            )
            .unwrap();
        }
        text.push_str("</DataDictionary>");
        if classes == 1 {
            self.sum(&mut text, None, trees, depth, &mut rng);
        } else {
            self.chain(&mut text, &CLASSES[..classes], trees, depth, &mut rng);
        }
        text.push_str("</PMML>");
        text
    }

    /// A gradient-boosting classifier's chain (see [`ForestWriter::boosting`]).
    fn chain(&self, out: &mut String, classes: &[&str], trees: usize, depth: u32, rng: &mut Rng) {
        out.push_str("<MiningModel functionName=\"classification\">");
        mining_schema(out, true);
        out.push_str("<Segmentation multipleModelMethod=\"modelChain\">");
        let sums = if classes.len() == 2 {
            &classes[1..]
        } else {
            classes
        };
        for (id, class) in sums.iter().enumerate() {
            write!(out, "<Segment id=\"{}\"><True/>", id + 1).unwrap();
            self.sum(out, Some(class), trees, depth, rng);
            out.push_str("</Segment>");
        }
        let normalization = if classes.len() == 2 {
            "logit"
        } else {
            "softmax"
        };
        write!(
            out,
            "<Segment id=\"{}\"><True/><RegressionModel functionName=\"classification\" \
             normalizationMethod=\"{normalization}\"><MiningSchema>\
             <MiningField name=\"quality\" usageType=\"target\"/>",
            sums.len() + 1
        )
        .unwrap();
        for class in sums {
            write!(out, "<MiningField name=\"decisionFunction({class})\"/>").unwrap();
        }
        out.push_str("</MiningSchema><Output>");
        for class in classes {
            write!(
                out,
                "<OutputField name=\"probability({class})\" optype=\"continuous\" \
                 dataType=\"double\" feature=\"probability\" value=\"{class}\"/>"
            )
            .unwrap();
        }
        out.push_str("</Output>");
        for class in sums {
            write!(
                out,
                "<RegressionTable intercept=\"0.0\" targetCategory=\"{class}\">\
                 <NumericPredictor name=\"decisionFunction({class})\" coefficient=\"1.0\"/>\
                 </RegressionTable>"
            )
            .unwrap();
        }
        if classes.len() == 2 {
            write!(
                out,
                "<RegressionTable intercept=\"0.0\" targetCategory=\"{}\"/>",
                classes[0]
            )
            .unwrap();
        }
        out.push_str("</RegressionModel></Segment></Segmentation></MiningModel>");
    }

    /// A regression `sum` of `trees` trees rescaled by its Targets: the regressor's (`class`
    /// none), or one class's decision function in a chain.
    fn sum(&self, out: &mut String, class: Option<&str>, trees: usize, depth: u32, rng: &mut Rng) {
        out.push_str("<MiningModel functionName=\"regression\">");
        mining_schema(out, class.is_none());
        if let Some(class) = class {
            write!(
                out,
                "<Output><OutputField name=\"decisionFunction({class})\" optype=\"continuous\" \
                 dataType=\"double\" isFinalResult=\"false\"/></Output>"
            )
            .unwrap();
        }
        write!(
            out,
            "<Targets><Target rescaleConstant=\"{}\" rescaleFactor=\"0.1\"/></Targets>\
             <Segmentation multipleModelMethod=\"sum\">",
            rng.unit() * 4.0 - 2.0
        )
        .unwrap();
        for tree in 0..trees {
            self.tree(out, tree, "regression", depth, rng);
        }
        out.push_str("</Segmentation></MiningModel>");
    }

    /// A segment of a full binary tree of `function` (a distribution in each leaf of a
    /// classification, a score in each of a regression).
    fn tree(&self, out: &mut String, id: usize, function: &str, depth: u32, rng: &mut Rng) {
        write!(
            out,
            "<Segment id=\"{}\"><True/><TreeModel functionName=\"{function}\" \
             missingValueStrategy=\"nullPrediction\">",
            id + 1
        )
        .unwrap();
        mining_schema(out, false);
        self.node(out, None, depth, function == "regression", rng);
        out.push_str("</TreeModel></Segment>\n");
    }

    /// A node whose predicate is `feature <= threshold` (`<True/>` for `None`), with `depth`
    /// levels of splits below it; its leaves have a score (`scores`) or a distribution.
    fn node(
        &self,
        out: &mut String,
        split: Option<(usize, f64)>,
        depth: u32,
        scores: bool,
        rng: &mut Rng,
    ) {
        if depth == 0 && scores {
            write!(out, "<Node score=\"{}\">", rng.unit() * 2.0 - 1.0).unwrap();
            predicate(out, split);
            out.push_str("</Node>");
            return;
        }
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
        self.node(out, Some((feature, threshold)), depth - 1, scores, rng);
        self.node(out, None, depth - 1, scores, rng);
        out.push_str("</Node>");
    }
}

/// Writes a MiningSchema of the wine features (after the target, `quality`, when `target`).
fn mining_schema(out: &mut String, target: bool) {
    out.push_str("<MiningSchema>");
    if target {
        out.push_str("<MiningField name=\"quality\" usageType=\"target\"/>");
    }
    for feature in WINE_FEATURES {
        write!(out, "<MiningField name=\"{feature}\"/>").unwrap();
    }
    out.push_str("</MiningSchema>");
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
