#!/usr/bin/env bash
# fetch-original.sh: downloads the original system's own files (flink-modelServer's seven PMML
# files, its frozen TensorFlow graph and its wine data; the same network as a SavedModel from
# Lightbend's model-serving tutorial) into target/original/, at pinned commits, and checks each
# file's SHA-256. The tests of those files then run (scripts/test.sh points them there):
#
#   scripts/fetch-original.sh                    # into target/original/
#   scripts/fetch-original.sh DIR                # elsewhere; then MODELSERVER_ORIGINAL_DIR=DIR
#
# ORIGINAL_BASE_URL replaces https://raw.githubusercontent.com (e.g. a mirror).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
target=${1:-target/original}
base=${ORIGINAL_BASE_URL:-https://raw.githubusercontent.com}
flink=FlinkML/flink-modelServer/3eacfa831d761bfabff459fdc68f4b8c7d1fa894/data
tutorial=lightbend/model-serving-tutorial/5b54f0956c3b4ab16239984a9cecaedd3cd0fbeb/data/saved/1

# sha256, file (under the target directory), source (under the base URL)
files=(
    "b79154a3544f29dbe8f762296b884c69287f32b88661749d5e4a5420ad3057b9 optimized_WineQuality.pb $flink/optimized_WineQuality.pb"
    "71ec7e5578162662fff6a87529f3b34d6b89ae3bcc66b0ca5705f53ff2f32a15 winequalityDecisionTreeClassification.pmml $flink/winequalityDecisionTreeClassification.pmml"
    "e6ee70bab9c7e3c242dcc3c9245155a2e1d01027c39ac379c03aa86518f5ebc6 winequalityDesisionTreeRegression.pmml $flink/winequalityDesisionTreeRegression.pmml"
    "198dfeef4aa87b32adf188c4f38c7c93f45733277ff78a5371f98df64e5f7f84 winequalityGeneralizedLinearRegressionGamma.pmml $flink/winequalityGeneralizedLinearRegressionGamma.pmml"
    "50f2bf614bcd1638e9a902658b4ebbd2eb9e4f0e3ed157a225f3f242b1a7bbe0 winequalityGeneralizedLinearRegressionGaussian.pmml $flink/winequalityGeneralizedLinearRegressionGaussian.pmml"
    "d6c6be06deb90d2001b4fd2ce5363b421e96e3301ac62b735bf55ebb753c6f0b winequalityLinearRegression.pmml $flink/winequalityLinearRegression.pmml"
    "b840c5c9a342026f572b6496736508750b3a7ae20b95428bbe08c2768983e648 winequalityMultilayerPerceptron.pmml $flink/winequalityMultilayerPerceptron.pmml"
    "ed62ce598fa12cf8bef25fa65edd6b93618594fa7cd1159fb29e7a38c04e7f3f winequalityRandonForrestClassification.pmml $flink/winequalityRandonForrestClassification.pmml"
    "656767cc5c701b74f970b34fd5434ba5f459ee00d002631c7551d77eb486f12f winequality_red.csv $flink/winequality_red.csv"
    "97c90ddbf1817c8a65dbeadc37d3bf07d0836941aeed856267ddc45657e8e2aa saved_model/saved_model.pb $tutorial/saved_model.pb"
    "9a21bde35cb893c6e3bd907ef36cd8d7be73d7aaf543e5323dfbd905fb26449e saved_model/variables/variables.data-00000-of-00001 $tutorial/variables/variables.data-00000-of-00001"
    "f42caec94ade42e111be64c94bc40a614da083c3007e1d329d28b72c4e17a034 saved_model/variables/variables.index $tutorial/variables/variables.index"
)

for entry in "${files[@]}"; do
    read -r sha file source <<<"$entry"
    path=$target/$file
    if [ -f "$path" ] && echo "$sha  $path" | sha256sum --check --status; then
        continue
    fi
    mkdir -p "$(dirname "$path")"
    echo "fetch-original: $file" >&2
    curl --fail --silent --show-error --location --retry 3 --output "$path.part" "$base/$source"
    if ! echo "$sha  $path.part" | sha256sum --check --status; then
        rm -f "$path.part"
        echo "fetch-original: $file does not have the expected SHA-256 $sha" >&2
        exit 1
    fi
    mv "$path.part" "$path"
done
if [ "$target" = target/original ]; then
    echo "fetch-original: the original system's files are in $target (scripts/test.sh uses them)" >&2
else
    echo "fetch-original: the original system's files are in $target (MODELSERVER_ORIGINAL_DIR=$target)" >&2
fi
