# R models for the PMML suite (run by scripts/train_pmml_r.py): trains on R's own iris data, with
# the column names of data/pmml/suite/iris.csv, saves each model with saveRDS for JPMML-R, and
# writes R's own predictions on the complete rows of iris.csv (blank for rows with a missing cell).
#
# Usage: Rscript scripts/train_pmml_r.R OUTPUT_DIRECTORY INPUT_CSV
# (Serialization version 2: JPMML-R 1.5 reads no other.)
# Needs: R (Debian's r-base-core), rpart and randomForest (r-cran-rpart, r-cran-randomforest).
suppressPackageStartupMessages({
  library(rpart)
  library(randomForest)
})

args <- commandArgs(trailingOnly = TRUE)
out <- args[1]
rows <- read.csv(args[2], check.names = FALSE)

data <- iris
names(data) <- c("sepal length", "sepal width", "petal length", "petal width", "species")
data$virginica <- factor(ifelse(data$species == "virginica", "yes", "no"), levels = c("no", "yes"))

complete <- complete.cases(rows)
write_predictions <- function(name, predicted) {
  column <- rep("", nrow(rows))
  column[complete] <- if (is.numeric(predicted)) sprintf("%.17g", predicted) else as.character(predicted)
  write.csv(data.frame(predicted = column), file.path(out, paste0(name, ".framework.csv")),
            row.names = FALSE, quote = FALSE)
}
scored <- rows[complete, , drop = FALSE]

set.seed(11)

# Linear regression (lm): JPMML-R writes a RegressionModel.
lm_model <- lm(`petal width` ~ `sepal length` + `sepal width` + `petal length`, data = data)
saveRDS(lm_model, file.path(out, "r_lm.rds"), version = 2)
write_predictions("r_lm", unname(predict(lm_model, newdata = scored)))

# Logistic regression (glm, binomial): a GeneralRegressionModel.
glm_model <- glm(virginica ~ `sepal length` + `sepal width` + `petal width`,
                 data = data, family = binomial())
saveRDS(glm_model, file.path(out, "r_glm_binomial.rds"), version = 2)
probability <- predict(glm_model, newdata = scored, type = "response")
write_predictions("r_glm_binomial", ifelse(probability > 0.5, "yes", "no"))

# Poisson regression (glm, log link) of a count made from the data.
data$count <- round(data$`petal length` * 2)
poisson_model <- glm(count ~ `sepal length` + `sepal width`, data = data, family = poisson())
saveRDS(poisson_model, file.path(out, "r_glm_poisson.rds"), version = 2)
write_predictions("r_glm_poisson", unname(predict(poisson_model, newdata = scored, type = "response")))

# Classification tree (rpart).
rpart_model <- rpart(species ~ `sepal length` + `sepal width` + `petal length` + `petal width`,
                     data = data, method = "class")
saveRDS(rpart_model, file.path(out, "r_rpart.rds"), version = 2)
write_predictions("r_rpart", predict(rpart_model, newdata = scored, type = "class"))

# Random forest regression (randomForest), 20 trees.
# (its formula interface cannot read names with spaces: the x/y one)
forest_model <- randomForest(x = data[, c("sepal length", "sepal width", "petal length")],
                             y = data$`petal width`, ntree = 20)
saveRDS(forest_model, file.path(out, "r_random_forest.rds"), version = 2)
write_predictions("r_random_forest", unname(predict(forest_model, newdata = scored)))
