package crmstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.*;
import org.apache.avro.LogicalType;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.SchemaStore;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads crmstream topics with a real Avro implementation: resolves every writer schema from the
 * schemas topic by fingerprint, decodes every event (read_committed), keeps the latest after image
 * per key and compares it field by field with the simulator's truth.
 *
 * <p>Usage: Interop BOOTSTRAP SCHEMAS_TOPIC (TOPIC TRUTH.json PK)...
 */
public final class Interop {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Map<String, Long> fingerprints = new HashMap<>();

  public static void main(String[] args) throws Exception {
    if (args.length < 5 || (args.length - 2) % 3 != 0) {
      System.err.println("usage: Interop BOOTSTRAP SCHEMAS_TOPIC (TOPIC TRUTH.json PK)...");
      System.exit(2);
    }
    SchemaStore.Cache store = new SchemaStore.Cache();
    int schemas = 0;
    for (ConsumerRecord<byte[], byte[]> r : readAll(args[0], args[1])) {
      if (r.value() == null) continue;
      Schema s = new Schema.Parser().parse(new String(r.value(), "UTF-8"));
      store.addSchema(s);
      fingerprints.put(new String(r.key(), "UTF-8"), SchemaNormalization.parsingFingerprint64(s));
      schemas++;
    }
    System.out.println("interop: " + schemas + " schemas read from " + args[1]);
    int bad = 0;
    for (int i = 2; i < args.length; i += 3) bad += checkTopic(args[0], args[i], args[i + 1], args[i + 2], store);
    System.exit(bad == 0 ? 0 : 1);
  }

  static List<ConsumerRecord<byte[], byte[]>> readAll(String bootstrap, String topic) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
      List<TopicPartition> parts = new ArrayList<>();
      c.partitionsFor(topic).forEach(pi -> parts.add(new TopicPartition(topic, pi.partition())));
      c.assign(parts);
      c.seekToBeginning(parts);
      Map<TopicPartition, Long> end = c.endOffsets(parts);
      long deadline = System.currentTimeMillis() + 60000;
      while (parts.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
        if (System.currentTimeMillis() > deadline) throw new IllegalStateException("timeout reading " + topic);
        c.poll(java.time.Duration.ofMillis(200)).forEach(out::add);
      }
    }
    return out;
  }

  static int checkTopic(String bootstrap, String topic, String truthFile, String pk, SchemaStore store)
      throws Exception {
    Map<String, GenericRecord> latest = new HashMap<>();
    int decoded = 0, problems = 0;
    List<ConsumerRecord<byte[], byte[]>> records = readAll(bootstrap, topic);
    for (ConsumerRecord<byte[], byte[]> r : records) {
      String key = new String(r.key(), "UTF-8");
      byte[] v = r.value();
      if (v == null) {
        latest.remove(key);
        continue;
      }
      if (v.length < 10 || (v[0] & 0xff) != 0xC3 || v[1] != 0x01) {
        problems += report(topic, "offset " + r.offset() + ": not single-object encoded");
        continue;
      }
      long fp = ByteBuffer.wrap(v, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
      Schema writer = store.findByFingerprint(fp);
      if (writer == null) {
        problems += report(topic, "offset " + r.offset() + ": fingerprint " + Long.toHexString(fp) + " not in the schemas topic");
        continue;
      }
      Long keyed = fingerprints.get(String.format("%016x", fp));
      if (keyed == null || keyed != fp || SchemaNormalization.parsingFingerprint64(writer) != fp)
        problems += report(topic, "fingerprint " + Long.toHexString(fp) + " does not match Java's");
      GenericRecord ev = new BinaryMessageDecoder<GenericRecord>(GenericData.get(), writer, store).decode(v);
      decoded++;
      String op = ev.get("op").toString();
      if (op.equals("d")) latest.remove(key);
      else latest.put(key, (GenericRecord) ev.get("after"));
    }
    JsonNode truth = JSON.readTree(new File(truthFile)).get("records");
    Set<String> seen = new HashSet<>();
    for (JsonNode rec : truth) {
      String key = rec.get(pk).asText();
      seen.add(key);
      GenericRecord got = latest.get(key);
      if (got == null) problems += report(topic, "key " + key + " missing");
      else problems += compareRecord(topic, key, rec, got);
    }
    for (String k : latest.keySet())
      if (!seen.contains(k)) problems += report(topic, "key " + k + " is in the topic but not in the CRM");
    System.out.printf("interop %s: records=%d decoded=%d keys=%d truth=%d mismatches=%d%n", topic,
        records.size(), decoded, latest.size(), truth.size(), problems);
    return problems;
  }

  static int reported = 0;

  static int report(String topic, String what) {
    if (reported++ < 20) System.out.println("  MISMATCH " + topic + ": " + what);
    return 1;
  }

  /** Every truth field equals the decoded record; unknown fields must come back via _unmapped. */
  static int compareRecord(String topic, String path, JsonNode truth, GenericRecord got) throws Exception {
    Map<String, Object> decoded = new LinkedHashMap<>();
    Map<String, Schema> types = new HashMap<>();
    for (Schema.Field f : got.getSchema().getFields()) {
      if (f.name().equals("_unmapped")) continue;
      String jsonKey = f.getProp("json") != null ? f.getProp("json") : f.name();
      decoded.put(jsonKey, got.get(f.name()));
      types.put(jsonKey, f.schema());
    }
    JsonNode unmapped = null;
    if (got.getSchema().getField("_unmapped") != null && got.get("_unmapped") != null)
      unmapped = JSON.readTree(got.get("_unmapped").toString());
    int problems = 0;
    for (Iterator<Map.Entry<String, JsonNode>> it = truth.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      String k = e.getKey();
      if (types.containsKey(k)) {
        if (!same(e.getValue(), decoded.get(k), types.get(k)))
          problems += report(topic, path + "." + k + ": truth " + e.getValue() + " != " + decoded.get(k));
      } else {
        JsonNode u = unmapped == null ? null : unmapped.get(k);
        if (!e.getValue().isNull() && (u == null || !u.equals(e.getValue())))
          problems += report(topic, path + "." + k + ": not kept in _unmapped (" + u + ")");
      }
    }
    return problems;
  }

  static boolean same(JsonNode t, Object v, Schema schema) throws Exception {
    if (t == null || t.isNull() || (t.isTextual() && t.asText().isEmpty() && v == null)) return v == null;
    if (v == null) return false;
    /* The union branch the value was written with (unions may hold several non-null types). */
    Schema s = schema.getType() == Schema.Type.UNION
        ? schema.getTypes().get(GenericData.get().resolveUnion(schema, v)) : schema;
    LogicalType lt = s.getLogicalType();
    if (lt != null && lt.getName().startsWith("timestamp")) {
      long ms = ((Number) v).longValue();
      if (lt.getName().equals("timestamp-micros")) ms /= 1000;
      return instantMs(t) == ms;
    }
    switch (s.getType()) {
      case RECORD: {
        GenericRecord r = (GenericRecord) v;
        for (Iterator<Map.Entry<String, JsonNode>> it = t.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          Schema.Field f = r.getSchema().getField(e.getKey());
          if (f == null) continue; /* nested unknown keys live in a nested _unmapped */
          if (!same(e.getValue(), r.get(f.name()), f.schema())) return false;
        }
        return true;
      }
      case ARRAY: {
        List<?> l = (List<?>) v;
        if (!t.isArray() || t.size() != l.size()) return false;
        for (int i = 0; i < l.size(); i++) if (!same(t.get(i), l.get(i), s.getElementType())) return false;
        return true;
      }
      case MAP: {
        Map<?, ?> m = (Map<?, ?>) v;
        if (!t.isObject() || t.size() != m.size()) return false;
        for (Map.Entry<?, ?> e : m.entrySet())
          if (!same(t.get(e.getKey().toString()), e.getValue(), s.getValueType())) return false;
        return true;
      }
      case LONG: case INT: case DOUBLE: case FLOAT:
        return t.isNumber() ? t.asDouble() == ((Number) v).doubleValue()
                            : Double.parseDouble(t.asText()) == ((Number) v).doubleValue();
      case BOOLEAN:
        return t.asBoolean() == (Boolean) v;
      default: {
        String text = v.toString();
        if (t.isTextual()) return t.asText().equals(text);
        return JSON.readTree(text).equals(t); /* json_text fields hold compact JSON */
      }
    }
  }

  static long instantMs(JsonNode t) {
    if (t.isNumber()) return t.asLong() * 1000;
    String s = t.asText();
    if (s.matches("\\d{4}-\\d{2}-\\d{2}")) return LocalDate.parse(s).atStartOfDay().toInstant(ZoneOffset.UTC).toEpochMilli();
    if (s.matches("\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}"))
      return LocalDateTime.parse(s, DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss")).toInstant(ZoneOffset.UTC).toEpochMilli();
    if (s.matches(".*([zZ]|[+-]\\d{2}:?\\d{2})$")) return OffsetDateTime.parse(s.replaceAll("([+-]\\d{2})(\\d{2})$", "$1:$2")).toInstant().toEpochMilli();
    return LocalDateTime.parse(s).toInstant(ZoneOffset.UTC).toEpochMilli();
  }
}
