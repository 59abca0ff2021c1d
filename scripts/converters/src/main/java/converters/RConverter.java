package converters;

import java.io.BufferedInputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.zip.GZIPInputStream;

import org.dmg.pmml.PMML;
import org.jpmml.model.PMMLUtil;
import org.jpmml.rexp.Converter;
import org.jpmml.rexp.ConverterFactory;
import org.jpmml.rexp.RExp;
import org.jpmml.rexp.RExpParser;

/**
 * Converts an R model saved with saveRDS (gzip-compressed or not) to PMML with JPMML-R, as its
 * own command line does (which is not published on Maven Central).
 *
 * Usage: RConverter MODEL.rds MODEL.pmml
 */
public class RConverter {

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: RConverter MODEL.rds MODEL.pmml");
            System.exit(2);
        }
        RExp rexp;
        try (InputStream input = open(new File(args[0]))) {
            rexp = new RExpParser(input).parse();
        }
        Converter<RExp> converter = ConverterFactory.newInstance().newConverter(rexp);
        PMML pmml = converter.encodePMML();
        try (OutputStream output = new FileOutputStream(args[1])) {
            PMMLUtil.marshal(pmml, output);
        }
    }

    private static InputStream open(File file) throws Exception {
        InputStream input = new BufferedInputStream(new FileInputStream(file));
        input.mark(2);
        int first = input.read();
        int second = input.read();
        input.reset();
        return (first == 0x1f && second == 0x8b) ? new GZIPInputStream(input) : input;
    }
}
