#!/usr/bin/env bash
# Side-by-side speed of JPMML-Evaluator 1.7.7 and this workspace's PMML evaluator
# (crates/pmml) on the same models and the same rows, in one run: each model is scored row after
# row with its arguments prepared outside the timed loop, warmed up, best of 5 rounds; prints
# ns/record for each and the ratio (ours / JPMML's) as a Markdown table.
#
#   scripts/bench-pmml.sh [SECONDS_PER_MODEL]      (default 6: each side gets SECONDS of CPU per
#                                                  model, twice that in wall time or more on a
#                                                  busy machine)
#
# Needs Java 17 and Maven (scripts/jpmml fetches JPMML-Evaluator from Maven Central).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-6}"
data="$PWD/data/pmml"
suite=$data/suite
models=(
  "decision tree (regression)=$data/decision_tree_regressor.pmml=$data/wine_test.csv"
  "decision tree (classification)=$data/decision_tree_classifier.pmml=$data/wine_test.csv"
  "random forest (5 trees)=$data/random_forest_classifier.pmml=$data/wine_test.csv"
  "gradient boosting (20 trees)=$data/gradient_boosting_regressor.pmml=$data/wine_test.csv"
  "gradient boosting classifier=$data/gradient_boosting_classifier.pmml=$data/wine_test.csv"
  "XGBoost (float)=$data/xgboost_regressor_missing.pmml=$data/wine_test_missing.csv"
  "LightGBM classifier=$data/lightgbm_classifier.pmml=$data/wine_test.csv"
  "linear regression=$data/linear_regression.pmml=$data/wine_test.csv"
  "logistic regression=$data/logistic_regression.pmml=$data/wine_test.csv"
  "one-hot pipeline + logistic=$data/pipeline_onehot_logistic.pmml=$data/wine_test_missing.csv"
  "GLM (statsmodels)=$data/statsmodels_poisson_glm.pmml=$data/wine_test.csv"
  "neural network (MLP)=$data/mlp_classifier.pmml=$data/wine_test.csv"
  "SVM classifier (RBF)=$suite/svc_rbf.pmml=$suite/iris.csv"
  "SVM regression=$suite/svr_rbf.pmml=$suite/iris.csv"
  "k nearest neighbours=$suite/knn_classifier.pmml=$suite/iris.csv"
  "k-means clustering=$suite/kmeans.pmml=$suite/iris.csv"
  "naive Bayes=$suite/gaussian_nb.pmml=$suite/iris.csv"
  "one-vs-rest chain=$suite/one_vs_rest_logistic.pmml=$suite/iris.csv"
  "multi-target chain=$suite/multi_output_regression.pmml=$suite/iris.csv"
  "scorecard + reason codes=$suite/scorecard_points_below.pmml=$suite/mixed.csv"
  "rule set=$suite/rule_set_weighted_sum.pmml=$suite/mixed.csv"
  "association rules=$suite/association_rules.pmml=$suite/mixed.csv"
  "dates and times=$suite/dates.pmml=$suite/dates.csv"
  "LightGBM linear trees=$suite/lightgbm_linear_trees.pmml=$suite/iris.csv"
  "DefineFunction=$suite/define_function.pmml=$suite/mixed.csv"
)
mvn -q -f scripts/jpmml/pom.xml package dependency:copy-dependencies
cargo bench -q -p pmml-evaluator --bench versus_jpmml --no-run
classpath="scripts/jpmml/target/classes:scripts/jpmml/target/dependency/*"
jpmml=$(mktemp) ours=$(mktemp)
trap 'rm -f "$jpmml" "$ours"' EXIT
java -cp "$classpath" reference.BenchScorer "$seconds" "${models[@]}" > "$jpmml"
cargo bench -q -p pmml-evaluator --bench versus_jpmml -- "$seconds" "${models[@]}" > "$ours"
echo "| model | JPMML ns/record | pmml-evaluator ns/record | ratio |"
echo "| --- | ---: | ---: | ---: |"
paste -d'\t' <(sed -E 's/ ([0-9.]+)$/\t\1/' "$jpmml") <(sed -E 's/ ([0-9.]+)$/\t\1/' "$ours") |
  awk -F'\t' '{ printf "| %s | %.0f | %.0f | %.2f |\n", $1, $2, $4, $4 / $2 }'
