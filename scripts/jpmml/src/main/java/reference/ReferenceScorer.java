package reference;

import java.io.BufferedReader;
import java.io.File;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.jpmml.evaluator.Evaluator;
import org.jpmml.evaluator.EvaluatorUtil;
import org.jpmml.evaluator.HasProbability;
import org.jpmml.evaluator.InputField;
import org.jpmml.evaluator.LoadingModelEvaluatorBuilder;
import org.jpmml.evaluator.OutputField;
import org.jpmml.evaluator.TargetField;

/**
 * Scores a CSV file with JPMML-Evaluator and writes one output row per input row.
 *
 * Input: a CSV file with a header row; cells that are empty or "NA" are missing values.
 * Output: a comma-separated file whose header is the (first) target field's name ("target" for a
 * model without one, e.g. a clustering; its cells are empty for an association model) followed, for a classifier, by "probability(CATEGORY)"
 * for each category of the target field in the order the evaluator reports them. With --all,
 * "target(NAME)" columns follow for the other target fields and "output(NAME)" columns for every
 * output field (a list, as selectAll gives, is written with its items joined by "|"). Numbers
 * are printed with Java's shortest round-trip formatting. A row the evaluator rejects (e.g. an
 * invalid input value) is written as "!error" in the first column.
 */
public class ReferenceScorer {

    public static void main(String[] args) throws Exception {
        List<String> positional = new ArrayList<>();
        boolean all = false;
        for (String arg : args) {
            if (arg.equals("--all")) {
                all = true;
            } else {
                positional.add(arg);
            }
        }
        args = positional.toArray(new String[0]);
        if (args.length < 3) {
            System.err.println("usage: ReferenceScorer [--all] MODEL.pmml INPUT.csv OUTPUT.csv [SEPARATOR]");
            System.exit(2);
        }
        String separator = args.length > 3 ? args[3] : ",";
        Evaluator evaluator = new LoadingModelEvaluatorBuilder().load(new File(args[0])).build();
        evaluator.verify();

        List<String> lines = Files.readAllLines(new File(args[1]).toPath(), StandardCharsets.UTF_8);
        String[] header = splitRow(lines.get(0), separator);

        List<TargetField> targets = evaluator.getTargetFields();
        TargetField target = targets.isEmpty() ? null : targets.get(0);
        List<Object> categories = target == null ? null : target.getCategories();
        List<String> extraTargets = new ArrayList<>();
        List<String> outputs = new ArrayList<>();
        if (all) {
            for (TargetField other : targets.subList(Math.min(1, targets.size()), targets.size())) {
                extraTargets.add(other.getName());
            }
            for (OutputField output : evaluator.getOutputFields()) {
                outputs.add(output.getName());
            }
        }
        int width = (categories == null ? 0 : categories.size()) + extraTargets.size() + outputs.size();

        try (PrintWriter out = new PrintWriter(new File(args[2]), StandardCharsets.UTF_8)) {
            String targetName = target == null ? null : target.getName();
            StringBuilder head = new StringBuilder(quote(targetName == null ? "target" : targetName));
            if (categories != null) {
                for (Object category : categories) {
                    head.append(',').append(quote("probability(" + category + ")"));
                }
            }
            for (String name : extraTargets) {
                head.append(',').append(quote("target(" + name + ")"));
            }
            for (String name : outputs) {
                head.append(',').append(quote("output(" + name + ")"));
            }
            out.println(head);
            for (int row = 1; row < lines.size(); row++) {
                if (lines.get(row).isEmpty()) {
                    continue;
                }
                String[] cells = splitRow(lines.get(row), separator);
                Map<String, Object> raw = new LinkedHashMap<>();
                for (int i = 0; i < header.length && i < cells.length; i++) {
                    String cell = cells[i];
                    raw.put(header[i], (cell.isEmpty() || cell.equals("NA")) ? null : cell);
                }
                Map<String, ?> results;
                try {
                    Map<String, Object> arguments = new LinkedHashMap<>();
                    for (InputField field : evaluator.getInputFields()) {
                        arguments.put(field.getName(), field.prepare(raw.get(field.getName())));
                    }
                    results = evaluator.evaluate(arguments);
                } catch (RuntimeException error) {
                    System.err.println("row " + row + ": " + error);
                    out.println("!error" + ",".repeat(width));
                    continue;
                }
                Object result = target == null ? null : results.get(targetName);
                StringBuilder line = new StringBuilder(format(EvaluatorUtil.decode(result)));
                if (categories != null) {
                    for (Object category : categories) {
                        Object probability = (result instanceof HasProbability)
                            ? ((HasProbability) result).getProbability(category) : null;
                        line.append(',').append(format(probability));
                    }
                }
                for (String name : extraTargets) {
                    line.append(',').append(format(EvaluatorUtil.decode(results.get(name))));
                }
                for (String name : outputs) {
                    line.append(',').append(format(results.get(name)));
                }
                out.println(line);
            }
        }
    }

    private static String format(Object value) {
        if (value instanceof Collection) {
            List<String> items = new ArrayList<>();
            for (Object item : (Collection<?>) value) {
                items.add(item == null ? "" : String.valueOf(EvaluatorUtil.decode(item)));
            }
            return quote(String.join("|", items));
        }
        return value == null ? "" : quote(String.valueOf(value));
    }

    private static String quote(String text) {
        if (text.contains(",") || text.contains("\"")) {
            return "\"" + text.replace("\"", "\"\"") + "\"";
        }
        return text;
    }

    /** Splits a CSV row on the separator, honouring double quotes. */
    private static String[] splitRow(String line, String separator) {
        List<String> cells = new ArrayList<>();
        StringBuilder cell = new StringBuilder();
        boolean quoted = false;
        char sep = separator.charAt(0);
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quoted) {
                if (c == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
                    cell.append('"');
                    i++;
                } else if (c == '"') {
                    quoted = false;
                } else {
                    cell.append(c);
                }
            } else if (c == '"') {
                quoted = true;
            } else if (c == sep) {
                cells.add(cell.toString());
                cell.setLength(0);
            } else {
                cell.append(c);
            }
        }
        cells.add(cell.toString());
        return cells.toArray(new String[0]);
    }
}
