# Reference Hodges-Lehmann estimates and intervals from R's wilcox.test, for
# daemon/tests/fixtures/hodges_lehmann_r.json. Driven by gen_reference.py:
#   Rscript gen_reference.R INPUT OUTPUT
# INPUT: one case a line, "id;confidence;x1,x2,...;y1,y2,..." (x = canary, y = baseline).
# OUTPUT: one line a case, "id;estimate;lower;upper" (17 significant digits), or "id;error;MESSAGE".
args <- commandArgs(trailingOnly = TRUE)
lines <- readLines(args[1])
out <- character(length(lines))
for (i in seq_along(lines)) {
  fields <- strsplit(lines[i], ";", fixed = TRUE)[[1]]
  id <- fields[1]
  confidence <- as.numeric(fields[2])
  x <- as.numeric(strsplit(fields[3], ",", fixed = TRUE)[[1]])
  y <- as.numeric(strsplit(fields[4], ",", fixed = TRUE)[[1]])
  result <- tryCatch(
    suppressWarnings(wilcox.test(x = x, y = y, conf.int = TRUE, exact = FALSE,
                                 conf.level = confidence)),
    error = function(e) e)
  if (inherits(result, "error")) {
    out[i] <- paste(id, "error", gsub(";", ",", conditionMessage(result)), sep = ";")
  } else {
    out[i] <- paste(id, sprintf("%.17g", result$estimate), sprintf("%.17g", result$conf.int[1]),
                    sprintf("%.17g", result$conf.int[2]), sep = ";")
  }
}
writeLines(out, args[2])
