package reference;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.jpmml.evaluator.Evaluator;
import org.jpmml.evaluator.FieldValue;
import org.jpmml.evaluator.InputField;
import org.jpmml.evaluator.LoadingModelEvaluatorBuilder;

/**
 * Times JPMML-Evaluator on models and their input rows, the way a server that uses it scores:
 * the arguments of every row are prepared (InputField.prepare) before the timed loop, which
 * only calls Evaluator.evaluate, row after row. Each model is warmed up first for half the time
 * (the JIT compiles the hot paths), then timed in several rounds; the best round's mean is
 * printed. Time is the thread's CPU time (ThreadMXBean), so that other processes on a shared
 * machine do not count, read once per 20,000 records or more.
 *
 * Usage: BenchScorer SECONDS NAME=MODEL.pmml=INPUT.csv...
 * Output: one line per model, "NAME NANOSECONDS_PER_RECORD". Rows JPMML rejects are left out.
 */
public class BenchScorer {

    private static final int ROUNDS = 5;

    public static void main(String[] args) throws Exception {
        double seconds = Double.parseDouble(args[0]);
        for (int i = 1; i < args.length; i++) {
            String[] parts = args[i].split("=", 3);
            double nanos = bench(new File(parts[1]), new File(parts[2]), seconds);
            System.out.printf("%s %.1f%n", parts[0], nanos);
        }
    }

    /** The best mean time per record over ROUNDS rounds, after a warm-up of half the time. */
    private static double bench(File model, File inputs, double seconds) throws Exception {
        Evaluator evaluator = new LoadingModelEvaluatorBuilder().load(model).build();
        evaluator.verify();
        List<Map<String, FieldValue>> rows = prepare(evaluator, inputs);
        long budget = (long) (seconds * 1e9 / (2 * ROUNDS));
        long sink = run(evaluator, rows, budget * ROUNDS)[1];
        double best = Double.MAX_VALUE;
        for (int round = 0; round < ROUNDS; round++) {
            long[] result = run(evaluator, rows, budget);
            best = Math.min(best, (double) result[0] / result[2]);
            sink += result[1];
        }
        if (sink == 42) {
            System.err.println("(unlikely)");
        }
        return best;
    }

    /**
     * Records scored between two readings of the clock (as benches/versus_jpmml.rs does, whose
     * clock costs microseconds to read).
     */
    private static final int BATCH = 20_000;

    /**
     * Scores the rows in turn for about `budget` nanoseconds of CPU: {elapsed, sink, records}.
     * The clock is read after every BATCH records or more (whole passes over the rows).
     */
    private static long[] run(Evaluator evaluator, List<Map<String, FieldValue>> rows, long budget) {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        int passes = Math.max(1, (BATCH + rows.size() - 1) / Math.max(1, rows.size()));
        long start = threads.getCurrentThreadCpuTime();
        long records = 0;
        long sink = 0;
        long elapsed;
        do {
            for (int pass = 0; pass < passes; pass++) {
                for (Map<String, FieldValue> row : rows) {
                    Map<String, ?> results = evaluator.evaluate(row);
                    sink += results.size();
                }
            }
            records += (long) passes * rows.size();
            elapsed = threads.getCurrentThreadCpuTime() - start;
        } while (elapsed < budget);
        return new long[] {elapsed, sink, records};
    }

    /** Each row's prepared arguments; rows the evaluator rejects are left out. */
    private static List<Map<String, FieldValue>> prepare(Evaluator evaluator, File inputs) throws Exception {
        List<String> lines = Files.readAllLines(inputs.toPath(), StandardCharsets.UTF_8);
        String[] header = lines.get(0).split(",", -1);
        List<Map<String, FieldValue>> rows = new ArrayList<>();
        for (String line : lines.subList(1, lines.size())) {
            if (line.isEmpty()) {
                continue;
            }
            String[] cells = line.split(",", -1);
            Map<String, Object> raw = new LinkedHashMap<>();
            for (int i = 0; i < header.length && i < cells.length; i++) {
                String name = header[i].replace("\"", "");
                raw.put(name, cells[i].isEmpty() ? null : cells[i].replace("\"", ""));
            }
            Map<String, FieldValue> arguments = new LinkedHashMap<>();
            try {
                for (InputField field : evaluator.getInputFields()) {
                    arguments.put(field.getName(), field.prepare(raw.get(field.getName())));
                }
                evaluator.evaluate(arguments);
            } catch (RuntimeException error) {
                continue;
            }
            rows.add(arguments);
        }
        return rows;
    }
}
