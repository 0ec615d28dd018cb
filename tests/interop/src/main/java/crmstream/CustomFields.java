package crmstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.math.BigDecimal;
import java.time.DateTimeException;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.avro.LogicalType;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;

/**
 * Typed custom fields, checked independently of crmstream's C code. The CRM's definitions (the
 * simulator's truth of the definitions tables) give each field its type by this class's own
 * reading of the CRM APIs; the raw values of the simulator's truth are converted here and must
 * equal the typed values in the record's {@code custom} field, or sit, as their JSON text, in
 * {@code custom._invalid} when (and only when) they do not convert. The raw values are then taken
 * out of the truth record so the rest compares field by field as before.
 *
 * <p>Where the raw values live: Close {@code custom.<cf_id>} keys (plus the deprecated name-keyed
 * {@code custom} dict, dropped); Pipedrive members of the v2 {@code custom_fields} object or v1
 * top-level 40-hex keys (+ {@code <key>_currency}); Copper entries of the {@code custom_fields}
 * array.
 */
final class CustomFields {
  static final String JSON_KEY = "$custom";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern HEX40 = Pattern.compile("[0-9a-f]{40}");
  private static final Pattern DECIMAL = Pattern.compile("[+-]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][+-]?\\d+)?");
  private static final Pattern EPOCH = Pattern.compile("-?\\d+");
  private static final Pattern TS =
      Pattern.compile(
          "(\\d{4})-(\\d{2})-(\\d{2})(?:[Tt ](\\d{2}):(\\d{2})(?::(\\d{2}))?(?:[.,](\\d+))?"
              + "(Z|z|[+-]\\d{2}(?::?\\d{2})?)?)?");

  /** A CRM, as told by the shape of its definitions. */
  enum Crm {
    CLOSE,
    PIPEDRIVE,
    COPPER
  }

  /** The type this class gives a definition: crm_type and multi-value; null type = untyped. */
  record Kind(String type, boolean multi) {
    @Override
    public String toString() {
      return multi ? type + "[]" : type;
    }
  }

  /** Definition id (Close cf id, Pipedrive key, Copper id) -> its record, from every --defs. */
  final Map<String, JsonNode> defs = new HashMap<>();
  /** Topic -> the definition files attached to it (--defs FILE --defs-for TOPIC). */
  private final Map<String, List<JsonNode>> defsByTopic = new HashMap<>();

  int checked, invalid, defsChecked;
  /** Typed values found equal to Java's conversion, by crm_type ("[]" for multi-value). */
  final Map<String, Integer> typedOk = new java.util.TreeMap<>();

  void addDefinitions(JsonNode records, List<String> topics) {
    if (records == null || !records.isArray()) return;
    for (JsonNode d : records) {
      String id = id(d);
      if (id != null) defs.put(id, d);
    }
    for (String t : topics) defsByTopic.computeIfAbsent(t, k -> new ArrayList<>()).add(records);
  }

  private static String id(JsonNode d) {
    JsonNode key = d.hasNonNull("key") ? d.get("key") : d.get("id");
    return key == null || key.isNull() ? null : key.asText();
  }

  static Crm crm(JsonNode d) {
    if (d.has("data_type")) return Crm.COPPER;
    if (d.has("field_type")) return Crm.PIPEDRIVE;
    return Crm.CLOSE;
  }

  static Schema.Field customField(Schema rec) {
    for (Schema.Field f : rec.getFields()) if (JSON_KEY.equals(f.getProp("json"))) return f;
    return null;
  }

  static Schema nonNull(Schema s) {
    if (s.getType() != Schema.Type.UNION) return s;
    for (Schema b : s.getTypes()) if (b.getType() != Schema.Type.NULL) return b;
    return s;
  }

  // ---- which definitions apply to a table, and their types --------------------------------

  /** The table of a topic: the part after the last dot. */
  static String table(String topic) {
    return topic.substring(topic.lastIndexOf('.') + 1);
  }

  /** Does definition d (from a file attached to the topic) define a custom field of its table? */
  static boolean applies(JsonNode d, String table) {
    switch (crm(d)) {
      case COPPER -> {
        // available_on names the entity: person, company, lead, opportunity, project, task.
        String entity =
            switch (table) {
              case "people" -> "person";
              case "companies" -> "company";
              case "opportunities" -> "opportunity";
              default -> table.endsWith("s") ? table.substring(0, table.length() - 1) : table;
            };
        for (JsonNode on : d.path("available_on")) if (on.asText().equals(entity)) return true;
        return false;
      }
      case PIPEDRIVE -> {
        // Custom fields are the *Fields rows with edit_flag true, keyed by a 40-hex hash;
        // subfield rows (parent_id) describe parts of another field.
        String key = d.path("key").asText();
        return d.path("edit_flag").asBoolean(false)
            && (!d.has("parent_id") || d.get("parent_id").isNull())
            && HEX40.matcher(key).matches();
      }
      default -> {
        // Close: the object's own fields, and shared fields associated with the object type.
        if (!d.has("associations")) return d.hasNonNull("id");
        String object =
            switch (table) {
              case "leads" -> "lead";
              case "contacts" -> "contact";
              case "opportunities" -> "opportunity";
              default -> "activity";
            };
        for (JsonNode a : d.path("associations"))
          if (a.path("object_type").asText().equals(object)) return true;
        return false;
      }
    }
  }

  /** The type of a definition, read from the CRM's own type names; type null = left untyped. */
  static Kind kind(JsonNode d) {
    switch (crm(d)) {
      case COPPER -> {
        String t = d.path("data_type").asText();
        return switch (t) {
          case "Float", "Percentage" -> new Kind("number", false);
          case "Currency" -> new Kind("money", false);
          case "Checkbox" -> new Kind("boolean", false);
          case "Date" -> new Kind("date", false);
          case "Dropdown" -> new Kind("enum", false);
          case "MultiSelect" -> new Kind("enum", true);
          default -> new Kind("string", false); // String, Text, URL, Connect
        };
      }
      case PIPEDRIVE -> {
        String t = d.path("field_type").asText();
        return switch (t) {
          case "varchar", "varchar_auto", "text", "phone", "user", "org", "people" ->
              new Kind("string", false);
          case "double", "int" -> new Kind("number", false);
          case "monetary" -> new Kind("money", false);
          case "date" -> new Kind("date", false);
          case "enum" -> new Kind("enum", false);
          case "set" -> new Kind("enum", true);
          default -> new Kind(null, false); // address, daterange, time, timerange: composite
        };
      }
      default -> {
        boolean multi = d.path("accepts_multiple_values").asBoolean(false);
        String t = d.path("type").asText();
        return switch (t) {
          case "number" -> new Kind("number", multi);
          case "date" -> new Kind("date", multi);
          case "datetime" -> new Kind("datetime", multi);
          default -> new Kind("string", multi); // text, textarea, choices (labels), user, ...
        };
      }
    }
  }

  /** The typable definitions that apply to the topic's table, by id, in file order. */
  Map<String, JsonNode> applicable(String topic) {
    Map<String, JsonNode> out = new LinkedHashMap<>();
    for (JsonNode file : defsByTopic.getOrDefault(topic, List.of()))
      for (JsonNode d : file) {
        String id = id(d);
        if (id != null && applies(d, table(topic)) && kind(d).type() != null) out.put(id, d);
      }
    return out;
  }

  boolean hasDefinitions(String topic) {
    return defsByTopic.containsKey(topic);
  }

  /** The Avro type crm_type (and multi) must have: what the C side is expected to declare. */
  static String avroProblem(Kind k, Schema t) {
    if (k.multi()) {
      if (t.getType() != Schema.Type.ARRAY) return "not an array";
      t = t.getElementType();
    } else if (t.getType() == Schema.Type.ARRAY) return "an array";
    LogicalType lt = t.getLogicalType();
    boolean ok =
        switch (k.type()) {
          case "string", "enum" -> t.getType() == Schema.Type.STRING;
          case "number" -> t.getType() == Schema.Type.DOUBLE;
          case "boolean" -> t.getType() == Schema.Type.BOOLEAN;
          case "date" -> t.getType() == Schema.Type.INT && lt != null && lt.getName().equals("date");
          case "datetime" ->
              t.getType() == Schema.Type.LONG && lt != null && lt.getName().equals("timestamp-millis");
          case "money" ->
              t.getType() == Schema.Type.RECORD
                  && t.getFullName().equals("crmstream.Money")
                  && t.getFields().size() == 2
                  && t.getField("amount") != null
                  && nonNull(t.getField("amount").schema()).getType() == Schema.Type.DOUBLE
                  && t.getField("currency") != null
                  && nonNull(t.getField("currency").schema()).getType() == Schema.Type.STRING;
          default -> false;
        };
    return ok ? null : "Avro type " + t + " for " + k.type();
  }

  /**
   * The current schema of a topic (its latest published envelope) against the current
   * definitions: every typable definition that applies is an active field with this class's
   * type, its label as doc, and nothing else is active. Returns the number of definitions.
   */
  int checkSchema(String topic, Schema envelope, List<String> out) {
    if (!hasDefinitions(topic) || envelope == null || envelope.getField("after") == null) return 0;
    Schema after = nonNull(envelope.getField("after").schema());
    Map<String, JsonNode> want = applicable(topic);
    Schema.Field cf = customField(after);
    String where = "current schema: ";
    if (cf == null) {
      if (!want.isEmpty()) out.add(where + "no custom field, but " + want.keySet() + " apply");
      return 0;
    }
    Schema rec = nonNull(cf.schema());
    if (cf.schema().getType() != Schema.Type.UNION || !cf.hasDefaultValue() || rec.getType() != Schema.Type.RECORD)
      out.add(where + "custom is not [\"null\", record] with default null");
    Set<String> active = new HashSet<>();
    for (Schema.Field f : rec.getFields()) {
      if (f.name().equals("_invalid")) {
        Schema m = nonNull(f.schema());
        if (m.getType() != Schema.Type.MAP || m.getValueType().getType() != Schema.Type.STRING)
          out.add(where + "_invalid is not a map of strings");
        continue;
      }
      String id = f.getProp("crm_id"), type = f.getProp("crm_type");
      String at = where + "custom." + f.name() + " (" + id + "): ";
      if (id == null || type == null || f.getObjectProp("crm_active") == null) {
        out.add(at + "lacks crm_id, crm_type or crm_active");
        continue;
      }
      if (f.schema().getType() != Schema.Type.UNION
          || f.schema().getTypes().get(0).getType() != Schema.Type.NULL
          || !f.hasDefaultValue())
        out.add(at + "not nullable with default null");
      if (!Boolean.TRUE.equals(f.getObjectProp("crm_active"))) continue;
      if (!active.add(id)) out.add(at + "a second active field for the same CRM field");
      JsonNode d = want.get(id);
      if (d == null) {
        out.add(at + "active, but no current definition of the table has this id");
        continue;
      }
      Kind k = kind(d);
      boolean multi = nonNull(f.schema()).getType() == Schema.Type.ARRAY;
      if (!k.type().equals(type) || k.multi() != multi)
        out.add(at + "typed " + type + (multi ? "[]" : "") + ", the CRM's " + crmType(d) + " is " + k);
      String why = avroProblem(new Kind(type, multi), nonNull(f.schema()));
      if (why != null) out.add(at + why);
      String label = d.path("name").asText();
      if (!label.equals(f.doc())) out.add(at + "doc \"" + f.doc() + "\", the CRM's label is \"" + label + "\"");
    }
    for (Map.Entry<String, JsonNode> e : want.entrySet())
      if (!active.contains(e.getKey()))
        out.add(where + "definition " + e.getKey() + " (" + crmType(e.getValue()) + ") has no active field");
    defsChecked += want.size();
    return want.size();
  }

  private static String crmType(JsonNode d) {
    return switch (crm(d)) {
      case COPPER -> d.path("data_type").asText();
      case PIPEDRIVE -> d.path("field_type").asText();
      default ->
          d.path("type").asText() + (d.path("accepts_multiple_values").asBoolean(false) ? "[]" : "");
    };
  }

  // ---- values ------------------------------------------------------------------------------

  /** Checks the typed values of rec against truth and removes the raw values from truth. */
  void check(String topic, String path, ObjectNode truth, GenericRecord rec, List<String> out) {
    Map<String, JsonNode> want = applicable(topic);
    Schema.Field cf = customField(rec.getSchema());
    Crm crm = null;
    for (JsonNode d : want.values()) crm = crm(d);
    if (cf == null) {
      // Nothing typed: every raw value of a field that should be typed is a problem.
      if (crm != null)
        for (String id : want.keySet()) {
          JsonNode raw = peek(crm, truth, id);
          if (raw != null && !raw.isNull())
            out.add(path + "custom field " + id + ": the CRM value " + cut(raw) + " is not typed (no custom field)");
        }
      return;
    }
    Schema customSchema = nonNull(cf.schema());
    if (crm == null) crm = crmOfNamespace(customSchema.getNamespace());
    GenericRecord typed = (GenericRecord) rec.get(cf.pos());
    Map<String, Object> invalidMap = new HashMap<>();
    if (typed != null && typed.get("_invalid") instanceof Map<?, ?> m)
      for (Map.Entry<?, ?> e : m.entrySet()) invalidMap.put(e.getKey().toString(), e.getValue());
    if (crm == Crm.CLOSE && truth.get("custom") != null && truth.get("custom").isObject())
      truth.remove("custom");
    Set<String> ids = new HashSet<>();
    for (Schema.Field f : customSchema.getFields()) {
      String id = f.getProp("crm_id");
      if (id == null) continue;
      ids.add(id);
      String type = f.getProp("crm_type");
      boolean active = Boolean.TRUE.equals(f.getObjectProp("crm_active"));
      Object tv = typed == null ? null : typed.get(f.name());
      Object inv = invalidMap.remove(f.name());
      String where = path + "custom." + f.name() + " (" + id + ", " + type + ")";
      if (!active) {
        // An inactive field is never written; the raw value stays where the CRM put it.
        if (tv != null || inv != null) out.add(where + ": a value in a field no longer active");
        continue;
      }
      JsonNode raw = take(crm, truth, id, type);
      Kind k = new Kind(type, nonNull(f.schema()).getType() == Schema.Type.ARRAY);
      if (raw != null && !raw.isNull()) checked++;
      if (inv != null) {
        invalid++;
        try {
          JsonNode kept = JSON.readTree(inv.toString());
          if (raw == null || !Interop.jsonEquals(raw, kept))
            out.add(where + ": _invalid holds " + inv + " but the CRM has " + raw);
        } catch (IOException e) {
          out.add(where + ": _invalid is not JSON: " + inv);
        }
        if (tv != null) out.add(where + ": both typed and in _invalid");
        Object conv = raw == null ? null : convertAny(id, k, raw);
        if (conv != null)
          out.add(where + ": " + cut(raw) + " is in _invalid, but it converts to " + show(conv));
        continue;
      }
      if (raw == null || raw.isNull()) {
        if (tv != null) out.add(where + ": typed " + tv + " but the CRM has no value");
        continue;
      }
      if (tv == null) {
        out.add(where + ": the CRM value " + cut(raw) + " is missing (neither typed nor _invalid)");
        continue;
      }
      Object conv = convertAny(id, k, raw);
      if (conv == null) out.add(where + ": typed " + tv + ", but " + cut(raw) + " does not convert to " + k);
      else if (!same(conv, tv)) out.add(where + ": typed " + tv + ", but " + cut(raw) + " converts to " + show(conv));
      else typedOk.merge(k.toString(), 1, Integer::sum);
    }
    for (String name : invalidMap.keySet()) out.add(path + "custom._invalid has " + name + ", not a field");
    // Fields that should be typed but are not in this record's schema at all.
    for (String id : want.keySet()) {
      if (ids.contains(id)) continue;
      JsonNode raw = peek(crm, truth, id);
      if (raw != null && !raw.isNull())
        out.add(path + "custom field " + id + ": the CRM value " + cut(raw) + " is not typed (not in the writer schema)");
    }
  }

  private static Crm crmOfNamespace(String ns) {
    String c = ns == null || ns.split("\\.").length < 2 ? "" : ns.split("\\.")[1];
    return switch (c) {
      case "pipedrive" -> Crm.PIPEDRIVE;
      case "copper" -> Crm.COPPER;
      default -> Crm.CLOSE;
    };
  }

  /** The raw value of field id in truth, left in place (null when absent). */
  private static JsonNode peek(Crm crm, ObjectNode truth, String id) {
    switch (crm) {
      case CLOSE -> {
        return truth.get("custom." + id);
      }
      case PIPEDRIVE -> {
        JsonNode cf = truth.get("custom_fields");
        if (cf != null && cf.isObject() && cf.has(id)) return cf.get(id);
        return truth.get(id);
      }
      default -> {
        for (JsonNode e : truth.path("custom_fields"))
          if (e.path("custom_field_definition_id").asText().equals(id)) return e.get("value");
        return null;
      }
    }
  }

  /** Removes the raw value of field id from truth and returns it (null when absent). */
  private static JsonNode take(Crm crm, ObjectNode truth, String id, String type) {
    switch (crm) {
      case CLOSE -> {
        return truth.remove("custom." + id);
      }
      case PIPEDRIVE -> {
        JsonNode cf = truth.get("custom_fields");
        if (cf != null && cf.isObject() && cf.has(id)) {
          ObjectNode copy = ((ObjectNode) cf).deepCopy();
          JsonNode v = copy.remove(id);
          truth.set("custom_fields", copy);
          return v;
        }
        JsonNode v = truth.remove(id);
        if (v != null && "money".equals(type) && truth.has(id + "_currency")) {
          ObjectNode m = JSON.createObjectNode();
          m.set("value", v);
          m.set("currency", truth.remove(id + "_currency"));
          return m;
        }
        return v;
      }
      default -> {
        JsonNode list = truth.get("custom_fields");
        if (list == null || !list.isArray()) return null;
        ArrayNode rest = JSON.createArrayNode();
        JsonNode found = null;
        boolean seen = false;
        for (JsonNode e : list) {
          if (!seen && e.path("custom_field_definition_id").asText().equals(id)) {
            seen = true;
            found = e.has("value") ? e.get("value") : JSON.nullNode();
          } else rest.add(e);
        }
        truth.set("custom_fields", rest);
        return found;
      }
    }
  }

  // ---- conversion (this class's reading of the rules) ---------------------------------------

  /** The value raw converts to for kind k (a List for multi-value fields), or null. */
  Object convertAny(String id, Kind k, JsonNode raw) {
    if (!k.multi()) return convert(id, k.type(), raw);
    List<JsonNode> items = new ArrayList<>();
    JsonNode opts = options(id);
    if (raw.isArray()) raw.forEach(items::add);
    else if (raw.isTextual() && k.type().equals("enum") && opts != null && optionById(opts, raw.asText()) == null) {
      // Pipedrive v1 "set": comma-separated option ids.
      for (String part : raw.asText().split(","))
        if (!part.isEmpty()) items.add(JSON.getNodeFactory().textNode(part));
    } else items.add(raw);
    List<Object> out = new ArrayList<>();
    for (JsonNode it : items) {
      Object c = it.isNull() ? null : convert(id, k.type(), it);
      if (c == null) return null;
      out.add(c);
    }
    return out;
  }

  /** Options of an enum definition (Pipedrive [{id,label}], Copper [{id,name}]), or null. */
  private JsonNode options(String id) {
    JsonNode def = defs.get(id);
    JsonNode opts = def == null ? null : def.get("options");
    return opts != null && opts.isArray() && opts.size() > 0 ? opts : null;
  }

  private static String label(JsonNode o) {
    return o.has("label") ? o.get("label").asText() : o.path("name").asText();
  }

  private static JsonNode optionById(JsonNode opts, String id) {
    for (JsonNode o : opts) if (o.path("id").asText().equals(id)) return o;
    return null;
  }

  Object convert(String id, String type, JsonNode raw) {
    switch (type) {
      case "number" -> {
        return number(raw);
      }
      case "boolean" -> {
        if (raw.isBoolean()) return raw.asBoolean();
        if (raw.isIntegralNumber() && (raw.asLong() == 0 || raw.asLong() == 1)) return raw.asLong() == 1;
        if (raw.isTextual() && (raw.asText().equals("true") || raw.asText().equals("false")))
          return Boolean.parseBoolean(raw.asText());
        return null;
      }
      case "date" -> {
        Long ms = millis(raw);
        return ms == null ? null : (int) Math.floorDiv(ms, 86_400_000L);
      }
      case "datetime" -> {
        return millis(raw);
      }
      case "money" -> {
        Double amount;
        String currency = null;
        if (raw.isObject()) {
          JsonNode a = raw.has("amount") ? raw.get("amount") : raw.get("value");
          amount = a == null || a.isNull() ? null : number(a);
          if (a != null && !a.isNull() && amount == null) return null;
          JsonNode c = raw.get("currency");
          if (c != null && !c.isNull() && !c.isTextual()) return null;
          if (c != null && c.isTextual()) currency = c.asText();
        } else {
          amount = number(raw);
          if (amount == null) return null;
        }
        if (currency == null) { // Copper: the definition's currency
          JsonNode def = defs.get(id);
          if (def != null && def.hasNonNull("currency")) currency = def.get("currency").asText();
        }
        return new Money(amount, currency);
      }
      case "enum" -> {
        JsonNode opts = options(id);
        if (opts == null) return string(raw);
        if (!raw.isTextual() && !raw.isIntegralNumber()) return null;
        JsonNode o = optionById(opts, raw.asText());
        if (o != null) return label(o);
        if (raw.isTextual()) for (JsonNode x : opts) if (label(x).equals(raw.asText())) return label(x);
        return null;
      }
      default -> {
        return string(raw);
      }
    }
  }

  record Money(Double amount, String currency) {}

  private static Object string(JsonNode raw) {
    if (raw.isTextual()) return raw.asText();
    if (raw.isNumber()) return raw.decimalValue(); // compared numerically with the typed text
    if (raw.isBoolean()) return raw.toString();
    return null;
  }

  private static Double number(JsonNode raw) {
    double d;
    if (raw.isNumber()) d = raw.asDouble();
    else if (raw.isTextual() && DECIMAL.matcher(raw.asText()).matches()) d = Double.parseDouble(raw.asText());
    else return null;
    return Double.isFinite(d) ? d : null;
  }

  /**
   * Epoch ms of a timestamp: JSON numbers are epoch seconds (ms when above 1e11), digit strings
   * epoch seconds, other strings RFC 3339 / ISO 8601 dates or date-times (naive = UTC).
   */
  static Long millis(JsonNode raw) {
    if (raw.isNumber()) {
      double d = raw.asDouble();
      if (!Double.isFinite(d)) return null;
      return Math.abs(d) > 1e11 ? (long) d : (long) (d * 1000);
    }
    if (!raw.isTextual()) return null;
    String s = raw.asText();
    if (EPOCH.matcher(s).matches()) {
      try {
        return Math.multiplyExact(Long.parseLong(s), 1000L);
      } catch (ArithmeticException | NumberFormatException e) {
        return null;
      }
    }
    Matcher m = TS.matcher(s);
    if (!m.matches()) return null;
    try {
      LocalDateTime t =
          LocalDate.of(num(m, 1), num(m, 2), num(m, 3))
              .atTime(m.group(4) == null ? 0 : num(m, 4), m.group(5) == null ? 0 : num(m, 5),
                  m.group(6) == null ? 0 : Math.min(num(m, 6), 59));
      long ms = t.toInstant(ZoneOffset.UTC).toEpochMilli();
      if (m.group(6) != null && num(m, 6) == 60) ms += 1000; // a leap second
      if (m.group(7) != null) ms += Long.parseLong((m.group(7) + "00").substring(0, 3));
      String off = m.group(8);
      if (off != null && !off.equalsIgnoreCase("z")) {
        String d = off.replace(":", "");
        int h = Integer.parseInt(d.substring(1, 3)), mi = d.length() > 3 ? Integer.parseInt(d.substring(3, 5)) : 0;
        long offMs = (h * 3600L + mi * 60L) * 1000;
        ms += d.charAt(0) == '-' ? offMs : -offMs;
      }
      return ms;
    } catch (DateTimeException e) {
      return null;
    }
  }

  private static int num(Matcher m, int g) {
    return Integer.parseInt(m.group(g));
  }

  /** Does the converted value c equal the typed Avro value v? */
  static boolean same(Object c, Object v) {
    if (c instanceof List<?> a) {
      if (!(v instanceof List<?> b) || a.size() != b.size()) return false;
      for (int i = 0; i < a.size(); i++) if (!same(a.get(i), b.get(i))) return false;
      return true;
    }
    if (c instanceof Money m) {
      if (!(v instanceof GenericRecord r)) return false;
      Object a = r.get("amount"), cur = r.get("currency");
      boolean amountEq = m.amount() == null ? a == null : a instanceof Double d && sameDouble(m.amount(), d);
      return amountEq && String.valueOf(m.currency()).equals(String.valueOf(cur));
    }
    if (c instanceof Double d) return v instanceof Double x && sameDouble(d, x);
    if (c instanceof BigDecimal n) { // a number in a string field
      try {
        return new BigDecimal(v.toString()).compareTo(n) == 0;
      } catch (NumberFormatException e) {
        return false;
      }
    }
    if (c instanceof Integer || c instanceof Long || c instanceof Boolean) return c.equals(v);
    return c.toString().equals(v == null ? null : v.toString());
  }

  private static boolean sameDouble(double a, double b) {
    return a == b || Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(a));
  }

  static String show(Object o) {
    return o instanceof Money m ? "Money{" + m.amount() + ", " + m.currency() + "}" : String.valueOf(o);
  }

  private static String cut(JsonNode n) {
    return Interop.cut(String.valueOf(n));
  }
}
