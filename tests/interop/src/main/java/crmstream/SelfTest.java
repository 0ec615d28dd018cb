package crmstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import java.util.Objects;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Checks of the checker, without Kafka or a registry: the custom value conversions on the
 * examples of the CRMs' documentation, the types read from definitions, and the Confluent
 * framing path (keys, values, tombstones, trailing bytes) on hand-made messages.
 * {@code java -cp ... crmstream.SelfTest} prints "selftest: N checks passed" or the failures
 * and exits 1.
 */
public final class SelfTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static int passed, failed;

  private static void expect(String what, Object got, Object want) {
    if (Objects.equals(got, want)) passed++;
    else {
      failed++;
      System.out.println("selftest FAIL " + what + ": got " + got + ", want " + want);
    }
  }

  private static JsonNode j(String text) throws IOException {
    return JSON.readTree(text);
  }

  public static void main(String[] args) throws Exception {
    conversions();
    framing();
    System.out.println("selftest: " + passed + " checks passed, " + failed + " failed");
    System.exit(failed == 0 ? 0 : 1);
  }

  static void conversions() throws IOException {
    CustomFields cf = new CustomFields();
    String pdEnum = "e0eeb56529145a16a03be234a8486df949574d34";
    String pdSet = "9ce2758fc83623835b7bd0912873a9cdb933febd";
    cf.addDefinitions(
        j("[{\"id\":1004,\"name\":\"Renewal\",\"data_type\":\"Date\",\"available_on\":[\"opportunity\"]},"
            + "{\"id\":1005,\"name\":\"Budget\",\"data_type\":\"Currency\",\"currency\":\"USD\",\"available_on\":[\"lead\"]},"
            + "{\"id\":1006,\"name\":\"Interests\",\"data_type\":\"MultiSelect\",\"available_on\":[\"person\"],"
            + "\"options\":[{\"id\":10061,\"name\":\"API\"},{\"id\":10062,\"name\":\"Mobile\"}]},"
            + "{\"id\":9,\"key\":\"" + pdEnum + "\",\"name\":\"Tier\",\"field_type\":\"enum\",\"edit_flag\":true,"
            + "\"options\":[{\"id\":11,\"label\":\"Gold\"},{\"id\":12,\"label\":\"Silver\"}]},"
            + "{\"id\":10,\"key\":\"" + pdSet + "\",\"name\":\"Regions\",\"field_type\":\"set\",\"edit_flag\":true,"
            + "\"options\":[{\"id\":11,\"label\":\"Gold\"},{\"id\":12,\"label\":\"Silver\"}]},"
            + "{\"id\":\"cf_x\",\"name\":\"Shared\",\"type\":\"choices\",\"accepts_multiple_values\":true,"
            + "\"associations\":[{\"object_type\":\"lead\"}]}]"),
        List.of());
    // Copper Date 1515744000 (the documentation's example) is 2018-01-12: 17543 days.
    expect("copper date", cf.convert("1004", "date", j("1515744000")), 17543);
    expect("date in ms", cf.convert("1004", "date", j("1515744000000")), 17543);
    expect("date string", cf.convert("1004", "date", j("\"2018-01-12\"")), 17543);
    expect("date with offset", cf.convert("1004", "date", j("\"2018-01-12T23:30:00-05:00\"")), 17544);
    expect("empty date", cf.convert("1004", "date", j("\"\"")), null);
    expect("datetime", cf.convert("x", "datetime", j("\"2018-01-12T10:00:00.25+02:00\"")), 1515744000250L); // 08:00:00.25Z
    expect("naive datetime", cf.convert("x", "datetime", j("\"2018-01-12 00:00:01\"")), 17543 * 86_400_000L + 1000);
    expect("bad day", cf.convert("x", "datetime", j("\"2018-02-31\"")), null);
    // Pipedrive enum: the option id as a v2 integer or a v1 string is the label.
    expect("enum int", cf.convert(pdEnum, "enum", j("11")), "Gold");
    expect("enum string", cf.convert(pdEnum, "enum", j("\"11\"")), "Gold");
    expect("enum label", cf.convert(pdEnum, "enum", j("\"Silver\"")), "Silver");
    expect("enum unknown", cf.convert(pdEnum, "enum", j("99")), null);
    expect("enum real", cf.convert(pdEnum, "enum", j("11.0")), null);
    CustomFields.Kind set = new CustomFields.Kind("enum", true);
    expect("set v2", cf.convertAny(pdSet, set, j("[11,12]")), List.of("Gold", "Silver"));
    expect("set v1", cf.convertAny(pdSet, set, j("\"11,12\"")), List.of("Gold", "Silver"));
    expect("set one id", cf.convertAny(pdSet, set, j("\"12\"")), List.of("Silver"));
    expect("set with null", cf.convertAny(pdSet, set, j("[11,null]")), null);
    expect("copper multiselect", cf.convertAny("1006", set, j("[10062]")), List.of("Mobile"));
    expect("empty multiselect", cf.convertAny("1006", set, j("[]")), List.of());
    // Money: {value|amount, currency}; Copper Currency: a number and the definition's currency.
    expect("money v2", cf.convert("k", "money", j("{\"value\":12.5,\"currency\":\"EUR\"}")), new CustomFields.Money(12.5, "EUR"));
    expect("money amount", cf.convert("k", "money", j("{\"amount\":\"3\",\"currency\":\"SEK\"}")), new CustomFields.Money(3.0, "SEK"));
    expect("copper currency", cf.convert("1005", "money", j("12")), new CustomFields.Money(12.0, "USD"));
    expect("money bad currency", cf.convert("k", "money", j("{\"value\":1,\"currency\":5}")), null);
    expect("money array", cf.convert("1005", "money", j("[]")), null);
    // Numbers: JSON numbers and decimal strings only.
    expect("number string", cf.convert("k", "number", j("\"9.5\"")), 9.5);
    expect("number exp", cf.convert("k", "number", j("\"-1e3\"")), -1000.0);
    expect("number suffix", cf.convert("k", "number", j("\"12f\"")), null);
    expect("number hex", cf.convert("k", "number", j("\"0x1A\"")), null);
    expect("number NaN", cf.convert("k", "number", j("\"NaN\"")), null);
    expect("boolean 1", cf.convert("k", "boolean", j("1")), true);
    expect("boolean maybe", cf.convert("k", "boolean", j("\"maybe\"")), null);
    expect("string of number", CustomFields.same(cf.convert("k", "string", j("12.50")), "12.5"), true);
    expect("string of object", cf.convert("k", "string", j("{}")), null);
    // Types read from the definitions.
    expect("kind copper multiselect", CustomFields.kind(j("{\"data_type\":\"MultiSelect\"}")).toString(), "enum[]");
    expect("kind copper percentage", CustomFields.kind(j("{\"data_type\":\"Percentage\"}")).toString(), "number");
    expect("kind pipedrive set", CustomFields.kind(j("{\"field_type\":\"set\"}")).toString(), "enum[]");
    expect("kind pipedrive address", CustomFields.kind(j("{\"field_type\":\"address\"}")).type(), null);
    expect("kind close choices", CustomFields.kind(j("{\"type\":\"choices\",\"accepts_multiple_values\":true}")).toString(), "string[]");
    expect("applies copper", CustomFields.applies(j("{\"data_type\":\"Date\",\"available_on\":[\"person\"]}"), "people"), true);
    expect("applies copper no", CustomFields.applies(j("{\"data_type\":\"Date\",\"available_on\":[\"lead\"]}"), "people"), false);
    expect("applies close shared", CustomFields.applies(j("{\"id\":\"cf_x\",\"type\":\"text\",\"associations\":[{\"object_type\":\"lead\"}]}"), "contacts"), false);
    expect("applies pipedrive builtin", CustomFields.applies(j("{\"key\":\"title\",\"field_type\":\"varchar\",\"edit_flag\":false}"), "deals"), false);
  }

  /** A framed value and key through the same path as the registry mode's Kafka messages. */
  static void framing() throws IOException {
    Schema env =
        new Schema.Parser()
            .parse(
                "{\"type\":\"record\",\"name\":\"Envelope\",\"namespace\":\"crmstream.t.items\",\"fields\":["
                    + "{\"name\":\"before\",\"type\":\"null\",\"default\":null},"
                    + "{\"name\":\"after\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Item\",\"fields\":["
                    + "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"n\",\"type\":[\"null\",\"long\"],\"default\":null}]}]},"
                    + "{\"name\":\"source\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Source\",\"fields\":["
                    + "{\"name\":\"table\",\"type\":\"string\"}]}],\"default\":null},"
                    + "{\"name\":\"op\",\"type\":\"string\"},{\"name\":\"ts_ms\",\"type\":\"long\"}]}");
    Registry reg = new Registry("http://127.0.0.1:9", null, null); // never asked: ids are known
    reg.put(7, env);
    reg.put(3, Schema.create(Schema.Type.STRING));
    Interop.registry = reg;
    GenericRecord after = new GenericData.Record(env.getField("after").schema().getTypes().get(1));
    after.put("id", "itm_1");
    after.put("n", 42L);
    GenericRecord source = new GenericData.Record(env.getField("source").schema().getTypes().get(1));
    source.put("table", "items");
    GenericRecord ev = new GenericData.Record(env);
    ev.put("after", after);
    ev.put("source", source);
    ev.put("op", "c");
    ev.put("ts_ms", 1L);
    byte[] value = frame(7, env, ev);
    byte[] key = frame(3, Schema.create(Schema.Type.STRING), "itm_1");
    expect("value header", Interop.hex(value, 5), "0000000007");
    expect("key bytes", Interop.hex(key, 11), "00000000030a69746d5f31");
    expect("key text", reg.keyText(key), "itm_1");
    expect("value id", Registry.id(value), 7L);
    Interop.TopicCheck c =
        new Interop.TopicCheck(new Interop.Target("p.s.items", "-", "id"), new Interop.Schemas("(none)"));
    c.accept(new ConsumerRecord<>("p.s.items", 0, 0, key, value));
    expect("decoded", c.decoded, 1);
    expect("latest n", c.latest.get("itm_1") == null ? null : c.latest.get("itm_1").get("n"), 42L);
    byte[] trailing = java.util.Arrays.copyOf(value, value.length + 1);
    c.accept(new ConsumerRecord<>("p.s.items", 0, 1, key, trailing));
    expect("trailing byte undecodable", c.undecodable, 1);
    byte[] unframed = value.clone();
    unframed[0] = (byte) 0xC3;
    c.accept(new ConsumerRecord<>("p.s.items", 0, 2, key, unframed));
    expect("unframed undecodable", c.undecodable, 2);
    c.accept(new ConsumerRecord<byte[], byte[]>("p.s.items", 0, 3, key, null));
    expect("tombstone", c.tombstones, 1);
    expect("tombstone removes the key", c.latest.containsKey("itm_1"), false);
    expect("problems", c.report.count, 2);
    Interop.registry = null;
  }

  static byte[] frame(int id, Schema s, Object datum) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(new byte[] {0, (byte) (id >>> 24), (byte) (id >>> 16), (byte) (id >>> 8), (byte) id});
    BinaryEncoder e = EncoderFactory.get().binaryEncoder(out, null);
    new GenericDatumWriter<Object>(s).write(datum, e);
    e.flush();
    return out.toByteArray();
  }
}
