package crmstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.avro.LogicalType;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.SchemaStore;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads crmstream's topics back with the reference Avro implementation (Apache Avro for Java)
 * and the Java Kafka client, and compares them with a CRM simulator's truth.
 *
 * <pre>
 * Interop --bootstrap HOST:PORT
 *         (--schemas-topic TOPIC | --registry URL [--registry-user U --registry-password-env VAR])
 *         (--topic TOPIC --truth TRUTH.json [--pk FIELD])...
 *         [--defs DEFS.json [--defs-for TOPIC]...]... [--max-report N] [--timeout SECONDS]
 * </pre>
 *
 * <p>--pk applies to the --topic before it (default "id"); TRUTH.json is the simulator's
 * {@code {"records":[...]}}; --defs are the truths of custom field definition tables, and
 * --defs-for attaches the --defs before it to a topic (see {@link CustomFields}). With
 * --registry, keys and values are in the Confluent wire format (see {@link Registry}) instead of
 * single-object encoding. Steps:
 *
 * <ol>
 *   <li>The schemas topic is read (read_committed) to its end: every key must be the 16 lowercase
 *       hex digits of the Java CRC-64-AVRO fingerprint of the Parsing Canonical Form of the schema
 *       it holds; every schema goes into a {@link SchemaStore.Cache}.
 *   <li>Each table topic is read from the beginning to its end offsets (read_committed; the loop
 *       stops when the position reaches the end offset, which may be a transaction marker). Every
 *       non-null value must be single-object encoded with a fingerprint present in the schemas
 *       topic (and equal to Java's fingerprint of that schema), and is decoded with a
 *       {@link BinaryMessageDecoder} whose resolver is the store (no bytes may be left over).
 *       The envelope (before, after, source, op, ts_ms) is checked: op r/c/u carry an after image
 *       whose primary key equals the message key; d events and tombstones remove the key.
 *   <li>The latest after image per key is compared field by field with the truth: JSON keys are
 *       the field names (or their "json" attribute); {@code _unmapped} (compact JSON of the keys
 *       the schema does not name) is parsed and merged back; timestamps compare as instants
 *       (RFC 3339, naive "YYYY-MM-DD HH:MM:SS" as UTC, date-only, or numbers in epoch seconds, or
 *       the field's "json_unit"); numbers numerically; null equals missing (a field absent from
 *       the truth must hold its default); "" and zero dates are null for non-string types.
 *   <li>Typed custom fields ({@link CustomFields}): the topic's current schema against the
 *       definitions, every typed value against Java's own conversion of the raw CRM value.
 *   <li>Schema evolution: each writer schema, in the order of first use, and each published
 *       version of the topic (registry subject or schemas topic entries of the same name) must
 *       read data written with every earlier one (BACKWARD, {@link SchemaCompatibility}).
 * </ol>
 *
 * <p>Prints {@code interop <topic>: records=N decoded=M keys=K mismatches=X ...} per topic and the
 * first --max-report (default 10) problems of each as {@code MISMATCH <topic>: ...} lines. Exit
 * status: 0 all equal, 1 a mismatch or an undecodable message, 2 usage or runtime error.
 */
public final class Interop {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int F_JSON_TEXT = 1, F_UNIT_MS = 2, F_UNIT_US = 4;

  private static int maxReport = 10;
  static final CustomFields custom = new CustomFields();
  static Registry registry; // --registry: Confluent-framed keys and values
  private static long timeoutMs = 60_000;

  /** One topic's problems: all are counted, the first maxReport are kept for printing. */
  static final class Report {
    final String topic;
    int count;
    final List<String> shown = new ArrayList<>();

    Report(String topic) {
      this.topic = topic;
    }

    void add(String what) {
      if (count++ < maxReport) shown.add(what);
    }

    void print() {
      for (String s : shown) System.out.println("  MISMATCH " + topic + ": " + s);
      if (count > shown.size()) System.out.println("  ... and " + (count - shown.size()) + " more");
    }
  }

  record Target(String topic, String truth, String pk) {}

  public static void main(String[] args) {
    int rc;
    try {
      rc = run(args);
    } catch (UsageException e) {
      System.err.println("interop: " + e.getMessage());
      System.err.println(
          "usage: Interop --bootstrap HOST:PORT (--schemas-topic TOPIC"
              + " | --registry URL [--registry-user USER --registry-password-env VAR])"
              + " (--topic TOPIC --truth TRUTH.json [--pk FIELD])..."
              + " [--defs DEFS.json [--defs-for TOPIC]...]... [--max-report N] [--timeout SECONDS]");
      rc = 2;
    } catch (Exception e) {
      System.err.println("interop: error: " + e);
      e.printStackTrace();
      rc = 2;
    }
    System.exit(rc);
  }

  static final class UsageException extends Exception {
    private static final long serialVersionUID = 1L;

    UsageException(String m) {
      super(m);
    }
  }

  static int run(String[] args) throws Exception {
    String bootstrap = null, schemasTopic = null;
    String registryUrl = null, registryUser = null, registryPassword = null;
    List<String[]> targets = new ArrayList<>();
    List<String> defsFiles = new ArrayList<>();
    Map<String, List<String>> defsFor = new HashMap<>(); // defs file -> topics
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (a.equals("-h") || a.equals("--help")) throw new UsageException("help");
      if (i + 1 >= args.length) throw new UsageException(a + " needs a value");
      String v = args[++i];
      switch (a) {
        case "--bootstrap" -> bootstrap = v;
        case "--schemas-topic" -> schemasTopic = v;
        case "--topic" -> targets.add(new String[] {v, null, "id"});
        case "--truth", "--pk" -> {
          if (targets.isEmpty()) throw new UsageException(a + " before any --topic");
          targets.get(targets.size() - 1)[a.equals("--truth") ? 1 : 2] = v;
        }
        case "--max-report" -> maxReport = Integer.parseInt(v);
        case "--defs" -> defsFiles.add(v);
        case "--defs-for" -> {
          if (defsFiles.isEmpty()) throw new UsageException("--defs-for before any --defs");
          defsFor.computeIfAbsent(defsFiles.get(defsFiles.size() - 1), k -> new ArrayList<>()).add(v);
        }
        case "--registry" -> registryUrl = v;
        case "--registry-user" -> registryUser = v;
        case "--registry-password-env" -> {
          registryPassword = System.getenv(v);
          if (registryPassword == null) throw new UsageException("environment variable " + v + " is not set");
        }
        case "--timeout" -> timeoutMs = Long.parseLong(v) * 1000;
        default -> throw new UsageException("unknown option " + a);
      }
    }
    if (bootstrap == null || (schemasTopic == null && registryUrl == null) || targets.isEmpty())
      throw new UsageException(
          "--bootstrap, --schemas-topic or --registry, and at least one --topic are required");
    if (registryUrl != null) registry = new Registry(registryUrl, registryUser, registryPassword);
    List<Target> list = new ArrayList<>();
    Set<String> topicNames = new HashSet<>();
    for (String[] t : targets) {
      if (t[1] == null) throw new UsageException("--topic " + t[0] + " has no --truth");
      if (!new File(t[1]).canRead()) throw new UsageException("cannot read " + t[1]);
      if (!topicNames.add(t[0])) throw new UsageException("--topic " + t[0] + " given twice");
      list.add(new Target(t[0], t[1], t[2]));
    }
    for (String f : defsFiles) {
      JsonNode records = JSON.readTree(new File(f)).get("records");
      if (records == null || !records.isArray()) throw new UsageException(f + ": no \"records\" array");
      custom.addDefinitions(records, defsFor.getOrDefault(f, List.of()));
    }

    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
    p.put(ConsumerConfig.CLIENT_ID_CONFIG, "crmstream-interop");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "50"); // empty fetches come back at once
    int bad = 0;
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
      Map<String, List<PartitionInfo>> topics = consumer.listTopics(Duration.ofMillis(timeoutMs));
      Schemas schemas = new Schemas(schemasTopic == null ? "(registry)" : schemasTopic);
      if (schemasTopic != null) {
        if (!topics.containsKey(schemasTopic))
          schemas.report.add("the schemas topic does not exist");
        else readTopics(consumer, topics.get(schemasTopic), schemas::accept);
        System.out.printf(
            "interop %s: schemas=%d messages=%d problems=%d%n",
            schemasTopic, schemas.byFingerprint.size(), schemas.messages, schemas.report.count);
        schemas.report.print();
        bad += schemas.report.count;
      }
      // Every table topic in one read: one consumer, all partitions at once.
      Map<String, TopicCheck> checks = new LinkedHashMap<>();
      List<PartitionInfo> parts = new ArrayList<>();
      for (Target t : list) {
        TopicCheck c = new TopicCheck(t, schemas);
        checks.put(t.topic(), c);
        if (!topics.containsKey(t.topic())) c.report.add("the topic does not exist");
        else parts.addAll(topics.get(t.topic()));
      }
      if (!parts.isEmpty()) readTopics(consumer, parts, r -> checks.get(r.topic()).accept(r));
      for (TopicCheck c : checks.values()) {
        c.finish();
        bad += c.report.count + c.undecodable;
      }
    }
    return bad == 0 ? 0 : 1;
  }

  interface Sink {
    void accept(ConsumerRecord<byte[], byte[]> r) throws Exception;
  }

  /** Every committed message of the partitions, from the beginning to the end offsets at the start. */
  static void readTopics(KafkaConsumer<byte[], byte[]> c, List<PartitionInfo> infos, Sink sink)
      throws Exception {
    List<TopicPartition> parts = new ArrayList<>();
    for (PartitionInfo pi : infos) parts.add(new TopicPartition(pi.topic(), pi.partition()));
    c.assign(parts);
    c.seekToBeginning(parts);
    Map<TopicPartition, Long> end = c.endOffsets(parts, Duration.ofMillis(timeoutMs));
    long deadline = System.currentTimeMillis() + timeoutMs;
    Set<TopicPartition> open = new HashSet<>();
    for (TopicPartition tp : parts) if (c.position(tp) < end.get(tp)) open.add(tp);
    while (!open.isEmpty()) {
      if (System.currentTimeMillis() > deadline)
        throw new IllegalStateException("timed out reading " + open + " (end offsets " + end + ")");
      for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100))) {
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        if (r.offset() < end.get(tp)) sink.accept(r);
      }
      open.removeIf(tp -> c.position(tp) >= end.get(tp));
    }
    c.unsubscribe();
  }

  /** The schemas topic: fingerprint (from the key) -> schema, and the SchemaStore. */
  static final class Schemas {
    final Report report;
    final SchemaStore.Cache store = new SchemaStore.Cache();
    final Map<Long, Schema> byFingerprint = new HashMap<>();
    final Map<Long, String> canonical = new HashMap<>();
    final List<Long> order = new ArrayList<>(); // fingerprints in the order of their last publication
    // The last text published under each fingerprint: doc and other attributes are not part of
    // the Parsing Canonical Form, so a renamed custom field (a new doc) keeps the fingerprint.
    final Map<Long, Schema> lastText = new HashMap<>();
    int messages;

    Schemas(String topic) {
      report = new Report(topic);
    }

    void accept(ConsumerRecord<byte[], byte[]> r) {
      messages++;
      String where = "offset " + r.offset();
      if (r.key() == null) {
        report.add(where + ": no key");
        return;
      }
      String key = new String(r.key(), StandardCharsets.UTF_8);
      if (r.value() == null) return; // a tombstone: nothing to resolve
      if (!key.matches("[0-9a-f]{16}")) {
        report.add(where + ": key \"" + key + "\" is not 16 lowercase hex digits");
        return;
      }
      Schema s;
      try {
        s = new Schema.Parser().parse(new String(r.value(), StandardCharsets.UTF_8));
      } catch (RuntimeException e) {
        report.add(where + " (key " + key + "): Java cannot parse the schema: " + e.getMessage());
        return;
      }
      long fp = Long.parseUnsignedLong(key, 16);
      long java = SchemaNormalization.parsingFingerprint64(s);
      if (java != fp) {
        report.add(
            String.format(
                "%s: key %s but Java's fingerprint of the schema is %016x; canonical form: %s",
                where, key, java, SchemaNormalization.toParsingForm(s)));
      }
      String pcf = SchemaNormalization.toParsingForm(s);
      String prev = canonical.putIfAbsent(fp, pcf);
      if (prev != null && !prev.equals(pcf))
        report.add(where + ": key " + key + " was already used for another schema");
      byFingerprint.putIfAbsent(fp, s);
      store.addSchema(s);
      lastText.put(fp, s);
      order.remove(Long.valueOf(fp));
      order.add(fp);
    }

    /** The published schemas named like w, oldest publication first. */
    List<Schema> published(Schema w) {
      List<Schema> out = new ArrayList<>();
      for (long fp : order) {
        Schema s = lastText.get(fp);
        if (s.getType() == Schema.Type.RECORD && s.getFullName().equals(w.getFullName())) out.add(s);
      }
      return out;
    }
  }

  /** One table topic: decoding, envelope checks, latest image per key, comparison. */
  static final class TopicCheck {
    final Target target;
    final Schemas schemas;
    final Report report;
    final Map<Long, BinaryMessageDecoder<GenericRecord>> decoders = new HashMap<>();
    final Map<Long, GenericDatumReader<Object>> readers = new HashMap<>();
    final Map<Long, Schema> writers = new LinkedHashMap<>(); // in order of first use
    final Map<Long, Boolean> envelopes = new HashMap<>(); // fingerprint -> envelope shape ok
    final Map<String, GenericRecord> latest = new HashMap<>();
    final Map<String, Integer> ops = new TreeMap<>();
    final Set<Long> keyIds = new HashSet<>(); // registry mode: schema ids of the keys
    int records, decoded, tombstones, undecodable;
    BinaryDecoder bin;

    TopicCheck(Target t, Schemas s) {
      target = t;
      schemas = s;
      report = new Report(t.topic());
    }

    void accept(ConsumerRecord<byte[], byte[]> r) {
      records++;
      String where = "partition " + r.partition() + " offset " + r.offset();
      if (r.key() == null) {
        report.add(where + ": message without a key");
        return;
      }
      String key;
      try {
        if (registry != null) {
          keyIds.add(Registry.id(r.key()));
          key = registry.keyText(r.key());
        } else key = new String(r.key(), StandardCharsets.UTF_8);
      } catch (IOException e) {
        report.add(where + ": key not a framed Avro string: " + e.getMessage());
        return;
      }
      where += " key " + key;
      byte[] v = r.value();
      if (v == null) {
        tombstones++;
        latest.remove(key);
        return;
      }
      if (registry != null) {
        acceptFramed(v, key, where);
        return;
      }
      if (v.length < 10 || (v[0] & 0xff) != 0xC3 || (v[1] & 0xff) != 0x01) {
        undecodable++;
        report.add(where + ": not single-object encoded (" + hex(v, 12) + ")");
        return;
      }
      long fp = ByteBuffer.wrap(v, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
      Schema writer = schemas.byFingerprint.get(fp);
      if (writer == null) {
        undecodable++;
        report.add(String.format("%s: fingerprint %016x is not in the schemas topic", where, fp));
        return;
      }
      if (!writers.containsKey(fp)) {
        writers.put(fp, writer);
        if (SchemaNormalization.parsingFingerprint64(writer) != fp)
          report.add(String.format("%s: header fingerprint %016x is not Java's", where, fp));
        if (schemas.store.findByFingerprint(fp) == null)
          report.add(String.format("%s: the SchemaStore cannot resolve %016x", where, fp));
      }
      GenericRecord ev;
      try {
        BinaryMessageDecoder<GenericRecord> dec =
            decoders.computeIfAbsent(
                fp, k -> new BinaryMessageDecoder<>(GenericData.get(), writer, schemas.store));
        ev = dec.decode(v);
        // BinaryMessageDecoder ignores trailing bytes: the body must be exactly one datum.
        bin = DecoderFactory.get().binaryDecoder(v, 10, v.length - 10, bin);
        readers
            .computeIfAbsent(fp, k -> new GenericDatumReader<>(writer, writer, GenericData.get()))
            .read(null, bin);
        if (!bin.isEnd()) throw new IOException("bytes left over after the Avro body");
      } catch (Exception e) {
        undecodable++;
        report.add(
            where + ": undecodable: " + e + (e.getCause() == null ? "" : " (" + e.getCause() + ")"));
        return;
      }
      decoded++;
      final String at = where;
      if (!envelopes.computeIfAbsent(fp, k -> envelopeOk(writer, at))) return;
      event(ev, key, where);
    }

    /** A Confluent-framed value: 00, the schema id, the body; the schema from the registry. */
    void acceptFramed(byte[] v, String key, String where) {
      long id;
      try {
        id = Registry.id(v);
      } catch (IOException e) {
        undecodable++;
        report.add(where + ": not Confluent framed (" + hex(v, 8) + ")");
        return;
      }
      GenericRecord ev;
      Schema writer;
      try {
        writer = registry.schema(id);
        bin = DecoderFactory.get().binaryDecoder(v, 5, v.length - 5, bin);
        ev =
            (GenericRecord)
                readers
                    .computeIfAbsent(id, k -> new GenericDatumReader<>(writer, writer, GenericData.get()))
                    .read(null, bin);
        if (!bin.isEnd()) throw new IOException("bytes left over after the Avro body");
      } catch (Exception e) {
        undecodable++;
        report.add(where + ": undecodable (schema id " + id + "): " + e);
        return;
      }
      decoded++;
      writers.putIfAbsent(id, writer);
      final String at = where;
      if (!envelopes.computeIfAbsent(id, k -> envelopeOk(writer, at))) return;
      event(ev, key, where);
    }

    void event(GenericRecord ev, String key, String where) {
      String op = String.valueOf(ev.get("op"));
      ops.merge(op, 1, Integer::sum);
      Object after = ev.get("after");
      Object source = ev.get("source");
      if (source instanceof GenericRecord src && src.getSchema().getField("table") != null) {
        Object table = src.get("table");
        if (table == null || !target.topic().endsWith("." + table))
          report.add(where + ": source.table is " + table);
      }
      switch (op) {
        case "d" -> {
          if (after != null) report.add(where + ": a delete with an after image");
          latest.remove(key);
        }
        case "r", "c", "u" -> {
          if (!(after instanceof GenericRecord rec)) {
            report.add(where + ": op " + op + " without an after image");
            return;
          }
          Schema.Field pkf = fieldByJsonKey(rec.getSchema(), target.pk());
          Object pkv = pkf == null ? null : rec.get(pkf.pos());
          if (pkv == null || !key.equals(pkv.toString()))
            report.add(where + ": the after image's " + target.pk() + " is " + pkv);
          latest.put(key, rec);
        }
        default -> report.add(where + ": unknown op \"" + op + "\"");
      }
    }

    boolean envelopeOk(Schema w, String where) {
      if (w.getType() == Schema.Type.RECORD) {
        List<String> missing = new ArrayList<>();
        for (String f : List.of("before", "after", "source", "op", "ts_ms"))
          if (w.getField(f) == null) missing.add(f);
        if (missing.isEmpty()) return true;
        report.add(where + ": the writer schema " + w.getFullName() + " lacks " + missing);
      } else report.add(where + ": the writer schema is not a record");
      return false;
    }

    /** Each schema, as reader, reads data written with every schema before it (BACKWARD). */
    void backward(String what, List<Schema> ordered) {
      for (int i = 1; i < ordered.size(); i++)
        for (int j = 0; j < i; j++) {
          Schema newer = ordered.get(i), older = ordered.get(j);
          var res = SchemaCompatibility.checkReaderWriterCompatibility(newer, older);
          if (res.getType() != SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE)
            report.add(
                String.format(
                    "%s: schema %d (%016x) cannot read data written with schema %d (%016x): %s",
                    what, i + 1, SchemaNormalization.parsingFingerprint64(newer), j + 1,
                    SchemaNormalization.parsingFingerprint64(older),
                    res.getResult().getIncompatibilities()));
        }
    }

    void finish() throws IOException {
      // Schema evolution: the writer schemas in the order of first use, then every version
      // published for the topic (registry subject, or schemas topic entries of the same name).
      backward("writer schemas", new ArrayList<>(writers.values()));
      List<Schema> published = new ArrayList<>();
      if (registry != null) {
        List<Registry.Version> vs = registry.versions(target.topic() + "-value");
        Set<Long> ids = new HashSet<>();
        for (Registry.Version v : vs) {
          published.add(v.schema());
          ids.add(v.id());
        }
        for (long id : writers.keySet())
          if (!ids.contains(id)) report.add("schema id " + id + " is not a version of " + target.topic() + "-value");
        if (!keyIds.isEmpty()) {
          Set<Long> keySubject = new HashSet<>();
          for (Registry.Version v : registry.versions(target.topic() + "-key")) {
            keySubject.add(v.id());
            if (v.schema().getType() != Schema.Type.STRING)
              report.add(target.topic() + "-key version " + v.version() + " is " + v.schema() + ", not \"string\"");
          }
          for (long id : keyIds)
            if (!keySubject.contains(id)) report.add("key schema id " + id + " is not a version of " + target.topic() + "-key");
        }
      } else if (!writers.isEmpty()) {
        published = schemas.published(new ArrayList<>(writers.values()).get(writers.size() - 1));
      }
      backward("published versions", published);
      Schema current =
          !published.isEmpty()
              ? published.get(published.size() - 1)
              : writers.isEmpty() ? null : new ArrayList<>(writers.values()).get(writers.size() - 1);
      List<String> schemaProblems = new ArrayList<>();
      int defs = custom.checkSchema(target.topic(), current, schemaProblems);
      for (String p : schemaProblems) report.add(p);
      int checked0 = custom.checked, invalid0 = custom.invalid;
      Map<String, Integer> typed0 = new TreeMap<>(custom.typedOk);
      JsonNode truth = JSON.readTree(new File(target.truth())).get("records");
      if (truth == null || !truth.isArray())
        throw new IOException(target.truth() + ": no \"records\" array");
      Set<String> seen = new HashSet<>();
      for (JsonNode rec : truth) {
        JsonNode k = rec.get(target.pk());
        if (k == null || k.isNull()) {
          report.add("a truth record has no " + target.pk() + ": " + cut(rec.toString()));
          continue;
        }
        String key = k.isTextual() ? k.asText() : k.toString();
        if (!seen.add(key)) report.add("the truth lists key " + key + " twice");
        GenericRecord got = latest.get(key);
        if (got == null) report.add("key " + key + ": in the CRM, not in the topic");
        else {
          List<String> diffs = new ArrayList<>();
          JsonNode truthRec = rec;
          if (CustomFields.customField(got.getSchema()) != null || custom.hasDefinitions(target.topic())) {
            com.fasterxml.jackson.databind.node.ObjectNode copy =
                ((com.fasterxml.jackson.databind.node.ObjectNode) rec).deepCopy();
            custom.check(target.topic(), "key " + key + ": ", copy, got, diffs);
            truthRec = copy;
          }
          compareRecord("key " + key + ": ", truthRec, got, diffs);
          for (String d : diffs) report.add(d);
        }
      }
      List<String> extra = new ArrayList<>();
      for (String k : latest.keySet()) if (!seen.contains(k)) extra.add(k);
      Collections.sort(extra);
      for (String k : extra) report.add("key " + k + ": in the topic, not in the CRM");
      StringBuilder o = new StringBuilder();
      ops.forEach((op, n) -> o.append(o.length() == 0 ? "" : ",").append(op).append(':').append(n));
      StringBuilder ty = new StringBuilder();
      custom.typedOk.forEach(
          (k, n) -> {
            int d = n - typed0.getOrDefault(k, 0);
            if (d > 0) ty.append(ty.length() == 0 ? "" : ",").append(k).append(':').append(d);
          });
      System.out.printf(
          "interop %s: records=%d decoded=%d keys=%d mismatches=%d undecodable=%d truth=%d"
              + " tombstones=%d ops=%s schemas=%d versions=%d custom_fields=%d custom_values=%d"
              + " custom_invalid=%d custom_typed=%s%n",
          target.topic(), records, decoded, latest.size(), report.count - undecodable,
          undecodable, truth.size(), tombstones, o, writers.size(), published.size(), defs,
          custom.checked - checked0, custom.invalid - invalid0, ty.length() == 0 ? "-" : ty);
      report.print();
    }
  }

  // ---- comparison -------------------------------------------------------------------------

  static String jsonKey(Schema.Field f) {
    String k = f.getProp("json");
    return k != null ? k : f.name();
  }

  static Schema.Field fieldByJsonKey(Schema s, String key) {
    for (Schema.Field f : s.getFields()) if (!f.name().equals("_unmapped") && jsonKey(f).equals(key)) return f;
    return null;
  }

  /** The amap flags of a field: from the field's attributes, then its type object's. */
  static int flags(Schema.Field f) {
    int fl = unitAndText(f.getProp("json_text"), f.getProp("json_unit"), 0);
    if (f.schema().getType() != Schema.Type.UNION)
      fl = unitAndText(f.schema().getProp("json_text"), f.schema().getProp("json_unit"), fl);
    return fl;
  }

  static int unitAndText(String text, String unit, int fl) {
    if ("true".equals(text)) fl |= F_JSON_TEXT;
    if (unit != null) {
      fl &= ~(F_UNIT_MS | F_UNIT_US);
      if (unit.equals("ms")) fl |= F_UNIT_MS;
      else if (unit.equals("us")) fl |= F_UNIT_US;
    }
    return fl;
  }

  /**
   * Every key of the truth object, every field of the record and every key of its _unmapped
   * must agree; null and missing are the same.
   */
  static void compareRecord(String path, JsonNode truth, GenericRecord rec, List<String> out)
      throws IOException {
    Schema s = rec.getSchema();
    Map<String, Schema.Field> mapped = new LinkedHashMap<>();
    Schema.Field unmappedField = null;
    for (Schema.Field f : s.getFields()) {
      if (f.name().equals("_unmapped")) unmappedField = f;
      else if (!CustomFields.JSON_KEY.equals(f.getProp("json"))) mapped.put(jsonKey(f), f);
    }
    JsonNode unmapped = null;
    if (unmappedField != null && rec.get(unmappedField.pos()) != null) {
      String text = rec.get(unmappedField.pos()).toString();
      try {
        unmapped = JSON.readTree(text);
      } catch (IOException e) {
        out.add(path + "_unmapped is not JSON: " + cut(text));
      }
      if (unmapped != null && !unmapped.isObject()) {
        out.add(path + "_unmapped is not a JSON object: " + cut(text));
        unmapped = null;
      }
    }
    Set<String> keys = new LinkedHashSet<>();
    truth.fieldNames().forEachRemaining(keys::add);
    keys.addAll(mapped.keySet());
    if (unmapped != null) unmapped.fieldNames().forEachRemaining(keys::add);
    for (String k : keys) {
      JsonNode t = truth.get(k);
      Schema.Field f = mapped.get(k);
      if (f != null) {
        if (unmapped != null && unmapped.has(k))
          out.add(path + k + ": also in _unmapped (" + cut(String.valueOf(unmapped.get(k))) + ")");
        Object v = rec.get(f.pos());
        if (isNull(t) && v != null && f.hasDefaultValue() && sameAsDefault(v, f)) continue;
        compare(path + k, t, v, f.schema(), flags(f), out);
      } else {
        JsonNode u = unmapped == null ? null : unmapped.get(k);
        if (!jsonEquals(t, u))
          out.add(
              path + k + ": truth " + show(t) + ", _unmapped has "
                  + (u == null ? "no such key" : cut(u.toString())));
      }
    }
  }

  static boolean sameAsDefault(Object v, Schema.Field f) {
    try {
      return GenericData.get().compare(v, GenericData.get().getDefaultValue(f), f.schema()) == 0;
    } catch (RuntimeException e) {
      return false;
    }
  }

  static boolean isNull(JsonNode t) {
    return t == null || t.isNull() || t.isMissingNode();
  }

  static void compare(String path, JsonNode t, Object v, Schema s, int fl, List<String> out)
      throws IOException {
    if (s.getType() == Schema.Type.UNION) {
      if (v == null) {
        if (isNull(t) || (t.isTextual() && noValue(t.asText(), s))) return;
        out.add(path + ": truth " + show(t) + ", decoded null");
        return;
      }
      compare(path, t, v, s.getTypes().get(GenericData.get().resolveUnion(s, v)), fl, out);
      return;
    }
    if (isNull(t)) {
      if (v != null) out.add(path + ": truth null or missing, decoded " + showAvro(v, s));
      return;
    }
    if (v == null) {
      out.add(path + ": truth " + show(t) + ", decoded null");
      return;
    }
    String bad = path + ": truth " + show(t) + ", decoded " + showAvro(v, s);
    LogicalType lt = s.getLogicalType();
    if (lt != null
        && (s.getType() == Schema.Type.LONG || s.getType() == Schema.Type.INT)
        && List.of("timestamp-millis", "timestamp-micros", "date").contains(lt.getName())) {
      Long want = timeValue(t, lt.getName(), fl);
      if (want == null || want != ((Number) v).longValue()) out.add(bad);
      return;
    }
    switch (s.getType()) {
      case RECORD -> {
        if (!t.isObject()) out.add(bad);
        else compareRecord(path + ".", t, (GenericRecord) v, out);
      }
      case ARRAY -> {
        List<?> l = (List<?>) v;
        if (!t.isArray() || t.size() != l.size()) out.add(bad);
        else
          for (int i = 0; i < l.size(); i++)
            compare(path + "[" + i + "]", t.get(i), l.get(i), s.getElementType(), fl, out);
      }
      case MAP -> {
        if (!t.isObject()) {
          out.add(bad);
          return;
        }
        Map<String, Object> m = new HashMap<>();
        for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) m.put(e.getKey().toString(), e.getValue());
        Set<String> keys = new LinkedHashSet<>();
        t.fieldNames().forEachRemaining(keys::add);
        keys.addAll(m.keySet());
        for (String k : keys) compare(path + "[" + k + "]", t.get(k), m.get(k), s.getValueType(), fl, out);
      }
      case LONG, INT -> {
        BigDecimal want = decimal(t);
        if (want == null || want.compareTo(BigDecimal.valueOf(((Number) v).longValue())) != 0) out.add(bad);
      }
      case DOUBLE, FLOAT -> {
        BigDecimal want = decimal(t);
        double got = ((Number) v).doubleValue();
        boolean eq =
            want != null
                && (s.getType() == Schema.Type.DOUBLE
                    ? want.doubleValue() == got
                    : want.floatValue() == (float) got);
        if (!eq) out.add(bad);
      }
      case BOOLEAN -> {
        if (!t.isBoolean() || t.booleanValue() != (Boolean) v) out.add(bad);
      }
      case ENUM -> {
        if (!t.isTextual() || !t.asText().equals(v.toString())) out.add(bad);
      }
      case BYTES, FIXED -> {
        byte[] got;
        if (v instanceof ByteBuffer bb) {
          got = new byte[bb.remaining()];
          bb.duplicate().get(got);
        } else got = ((GenericFixed) v).bytes();
        if (!t.isTextual() || !Arrays.equals(t.asText().getBytes(StandardCharsets.UTF_8), got)) out.add(bad);
      }
      case STRING -> {
        String got = v.toString();
        if (t.isTextual()) {
          if (!t.asText().equals(got)) out.add(bad);
        } else {
          // Numbers and booleans are stored as their JSON text, objects and arrays (json_text
          // fields) as compact JSON.
          JsonNode parsed;
          try {
            parsed = JSON.readTree(got);
          } catch (IOException e) {
            parsed = null;
          }
          if (parsed == null || !jsonEquals(t, parsed)) out.add(bad);
        }
      }
      default -> out.add(path + ": unexpected Avro type " + s.getType());
    }
  }

  /** "" and zero dates: stored as null for the nullable non-string types (amap no_value). */
  static boolean noValue(String text, Schema union) {
    for (Schema b : union.getTypes()) {
      switch (b.getType()) {
        case NULL -> {}
        case STRING, BYTES, FIXED, RECORD, ARRAY, MAP -> {
          return false;
        }
        default -> {
          boolean time = b.getLogicalType() != null;
          if (text.isEmpty()) return true;
          if (time && text.startsWith("0000-00-00")) return true;
        }
      }
    }
    return false;
  }

  static BigDecimal decimal(JsonNode t) {
    try {
      if (t.isNumber()) return t.decimalValue();
      if (t.isTextual()) return new BigDecimal(t.asText().trim());
    } catch (NumberFormatException e) {
      return null;
    }
    return null;
  }

  private static final Pattern TS =
      Pattern.compile(
          "(\\d{4})-(\\d{2})-(\\d{2})(?:[Tt ](\\d{2}):(\\d{2})(?::(\\d{2})(?:[.,](\\d+))?)?"
              + "\\s*(Z|z|[+-]\\d{2}(?::?\\d{2})?)?)?");

  /** Epoch milliseconds of a CRM time string, Long.MIN_VALUE for "no value", null if invalid. */
  static Long parseTime(String s) {
    if (s.isEmpty() || s.startsWith("0000-00-00")) return Long.MIN_VALUE;
    if (s.matches("-?\\d+")) return Long.parseLong(s) * 1000;
    Matcher m = TS.matcher(s.trim());
    if (!m.matches()) return null;
    LocalDateTime ldt =
        LocalDateTime.of(
            Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)),
            m.group(4) == null ? 0 : Integer.parseInt(m.group(4)),
            m.group(5) == null ? 0 : Integer.parseInt(m.group(5)),
            m.group(6) == null ? 0 : Integer.parseInt(m.group(6)));
    long ms = ldt.toInstant(ZoneOffset.UTC).toEpochMilli();
    if (m.group(7) != null) ms += Long.parseLong((m.group(7) + "000").substring(0, 3));
    String off = m.group(8);
    if (off != null && !off.equalsIgnoreCase("z")) {
      String d = off.replace(":", "");
      int h = Integer.parseInt(d.substring(1, 3)), mi = d.length() > 3 ? Integer.parseInt(d.substring(3, 5)) : 0;
      long offMs = (h * 3600L + mi * 60L) * 1000;
      ms -= d.charAt(0) == '-' ? -offMs : offMs;
    }
    return ms;
  }

  /** The truth value in the Avro logical type's unit (ms, us or days), as amap computes it. */
  static Long timeValue(JsonNode t, String logical, int fl) {
    long perSec = (fl & F_UNIT_MS) != 0 ? 1000 : (fl & F_UNIT_US) != 0 ? 1_000_000 : 1;
    long target = logical.equals("timestamp-micros") ? 1_000_000 : 1000;
    Long r;
    if (t.isIntegralNumber() || (t.isTextual() && perSec != 1 && t.asText().matches("-?\\d+"))) {
      long x = t.isIntegralNumber() ? t.longValue() : Long.parseLong(t.asText());
      r = perSec <= target ? x * (target / perSec) : Math.floorDiv(x, perSec / target);
    } else if (t.isNumber()) {
      double x = t.doubleValue() * ((double) target / perSec);
      r = logical.equals("date") ? (long) Math.floor(x / 86_400_000.0) : Math.round(Math.rint(x));
      return r;
    } else if (t.isTextual()) {
      Long ms = parseTime(t.asText());
      if (ms == null || ms == Long.MIN_VALUE) return null;
      r = target == 1000 ? ms : ms * 1000;
    } else return null;
    return logical.equals("date") ? Math.floorDiv(r, 86_400_000L) : r;
  }

  /** JSON equality with null == missing and numbers compared as amap reads them. */
  static boolean jsonEquals(JsonNode a, JsonNode b) {
    if (isNull(a) || isNull(b)) return isNull(a) && isNull(b);
    if (a.isNumber() && b.isNumber()) {
      if (a.isIntegralNumber() && b.isIntegralNumber()) return a.bigIntegerValue().equals(b.bigIntegerValue());
      return a.doubleValue() == b.doubleValue();
    }
    if (a.isArray() && b.isArray()) {
      if (a.size() != b.size()) return false;
      for (int i = 0; i < a.size(); i++) if (!jsonEquals(a.get(i), b.get(i))) return false;
      return true;
    }
    if (a.isObject() && b.isObject()) {
      Set<String> keys = new HashSet<>();
      a.fieldNames().forEachRemaining(keys::add);
      b.fieldNames().forEachRemaining(keys::add);
      for (String k : keys) if (!jsonEquals(a.get(k), b.get(k))) return false;
      return true;
    }
    return a.equals(b);
  }

  // ---- display ----------------------------------------------------------------------------

  static String show(JsonNode t) {
    return isNull(t) ? "null" : cut(t.toString());
  }

  static String showAvro(Object v, Schema s) {
    if (v == null) return "null";
    LogicalType lt = s.getLogicalType();
    if (lt != null && v instanceof Long l) {
      if (lt.getName().equals("timestamp-millis")) return l + " (" + Instant.ofEpochMilli(l) + ")";
      if (lt.getName().equals("timestamp-micros"))
        return l + " (" + Instant.ofEpochSecond(Math.floorDiv(l, 1_000_000L), Math.floorMod(l, 1_000_000L) * 1000) + ")";
    }
    if (v instanceof CharSequence) return cut(JSON.valueToTree(v.toString()).toString());
    return cut(String.valueOf(v));
  }

  static String cut(String s) {
    return s.length() <= 200 ? s : s.substring(0, 200) + "...";
  }

  static String hex(byte[] b, int n) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < Math.min(n, b.length); i++) sb.append(String.format("%02x", b[i] & 0xff));
    return sb.toString();
  }
}
