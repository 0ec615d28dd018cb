package crmstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;

/**
 * Typed custom fields, checked independently of crmstream's C code: the raw values of the
 * simulator's truth are converted here, with the CRM's definitions, and must equal the typed
 * values in the record's {@code custom} field (or sit, as their JSON text, in {@code
 * custom._invalid}). The raw values are then taken out of the truth record so the rest compares
 * field by field as before.
 *
 * <p>Where the raw values live: Close {@code custom.<cf_id>} keys (plus the deprecated
 * name-keyed {@code custom} dict, dropped); Pipedrive members of the v2 {@code custom_fields}
 * object or v1 top-level 40-hex keys (+ {@code <key>_currency}); Copper entries of the {@code
 * custom_fields} array.
 */
final class CustomFields {
  static final String JSON_KEY = "$custom";
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Definition id (Close cf id, Pipedrive key, Copper id) -> its record. */
  final Map<String, JsonNode> defs = new HashMap<>();

  int checked, invalid;

  void addDefinitions(JsonNode records) {
    if (records == null || !records.isArray()) return;
    for (JsonNode d : records) {
      JsonNode key = d.has("key") ? d.get("key") : d.get("id");
      if (key != null && !key.isNull()) defs.put(key.asText(), d);
    }
  }

  static Schema.Field customField(Schema rec) {
    for (Schema.Field f : rec.getFields()) if (JSON_KEY.equals(f.getProp("json"))) return f;
    return null;
  }

  /** Checks the typed values of rec against truth and removes the raw values from truth. */
  void check(String path, ObjectNode truth, GenericRecord rec, List<String> out) {
    Schema.Field cf = customField(rec.getSchema());
    if (cf == null) return;
    Schema customSchema = nonNull(cf.schema());
    String ns = customSchema.getNamespace(); // crmstream.<connector>.<table>
    String connector = ns == null ? "" : ns.split("\\.")[1];
    GenericRecord typed = (GenericRecord) rec.get(cf.pos());
    Map<?, ?> invalidMap =
        typed == null ? null : (Map<?, ?>) typed.get("_invalid");
    if (connector.equals("close") && truth.get("custom") != null && truth.get("custom").isObject())
      truth.remove("custom");
    for (Schema.Field f : customSchema.getFields()) {
      String id = f.getProp("crm_id");
      if (id == null) continue;
      String type = f.getProp("crm_type");
      boolean active = !"false".equals(String.valueOf(f.getObjectProp("crm_active")));
      Object tv = typed == null ? null : typed.get(f.name());
      Object inv = invalidMap == null ? null : lookup(invalidMap, f.name());
      if (!active && tv == null && inv == null) continue; // stays raw in records of today
      JsonNode raw = take(connector, truth, id, type);
      String where = path + "custom." + f.name() + " (" + id + ", " + type + ")";
      checked++;
      if (inv != null) {
        invalid++;
        try {
          JsonNode kept = JSON.readTree(inv.toString());
          if (!Interop.jsonEquals(raw, kept))
            out.add(where + ": _invalid holds " + inv + " but the CRM has " + raw);
        } catch (IOException e) {
          out.add(where + ": _invalid is not JSON: " + inv);
        }
        if (tv != null) out.add(where + ": both typed and invalid");
        continue;
      }
      if (raw == null || raw.isNull()) {
        if (tv != null) out.add(where + ": typed " + tv + " but the CRM has no value");
        continue;
      }
      if (tv == null) {
        out.add(where + ": the CRM value " + raw + " is missing (neither typed nor _invalid)");
        continue;
      }
      String why = matches(id, type, nonNull(f.schema()), raw, tv);
      if (why != null) out.add(where + ": " + why);
    }
  }

  private static Object lookup(Map<?, ?> m, String name) {
    for (Map.Entry<?, ?> e : m.entrySet()) if (e.getKey().toString().equals(name)) return e.getValue();
    return null;
  }

  static Schema nonNull(Schema s) {
    if (s.getType() != Schema.Type.UNION) return s;
    for (Schema b : s.getTypes()) if (b.getType() != Schema.Type.NULL) return b;
    return s;
  }

  /** Removes the raw value of field id from truth and returns it (null when absent). */
  private JsonNode take(String connector, ObjectNode truth, String id, String type) {
    switch (connector) {
      case "close" -> {
        return truth.remove("custom." + id);
      }
      case "pipedrive" -> {
        JsonNode cf = truth.get("custom_fields");
        if (cf != null && cf.isObject() && cf.has(id)) {
          ObjectNode copy = ((ObjectNode) cf).deepCopy();
          JsonNode v = copy.remove(id);
          truth.set("custom_fields", copy);
          return v;
        }
        JsonNode v = truth.remove(id);
        JsonNode cur = truth.remove(id + "_currency");
        if (v != null && "money".equals(type) && cur != null) {
          ObjectNode m = JSON.createObjectNode();
          m.set("value", v);
          m.set("currency", cur);
          return m;
        }
        if (cur != null) truth.set(id + "_currency", cur);
        return v;
      }
      case "copper" -> {
        JsonNode list = truth.get("custom_fields");
        if (list == null || !list.isArray()) return null;
        ArrayNode rest = JSON.createArrayNode();
        JsonNode found = null;
        for (JsonNode e : list) {
          JsonNode did = e.get("custom_field_definition_id");
          if (found == null && did != null && did.asText().equals(id)) found = e.get("value");
          else rest.add(e);
        }
        truth.set("custom_fields", rest);
        return found;
      }
      default -> {
        return null;
      }
    }
  }

  /** null when the typed Avro value v is what raw converts to, else why not. */
  private String matches(String id, String type, Schema s, JsonNode raw, Object v) {
    if (s.getType() == Schema.Type.ARRAY) {
      List<JsonNode> items = new ArrayList<>();
      if (raw.isArray()) raw.forEach(items::add);
      else if (raw.isTextual() && type.equals("enum") && raw.asText().contains(","))
        for (String part : raw.asText().split(",")) items.add(JSON.getNodeFactory().textNode(part));
      else items.add(raw);
      List<?> got = (List<?>) v;
      if (got.size() != items.size()) return "typed " + got + " but the CRM has " + raw;
      for (int i = 0; i < items.size(); i++) {
        String why = matches(id, type, s.getElementType(), items.get(i), got.get(i));
        if (why != null) return "item " + i + ": " + why;
      }
      return null;
    }
    Object want = convert(id, type, raw);
    if (want == null) return "cannot convert the CRM value " + raw + " to " + type;
    boolean eq;
    if (want instanceof Double d && v instanceof Number n) eq = Math.abs(d - n.doubleValue()) < 1e-9;
    else if (want instanceof Object[] money && v instanceof GenericRecord r) {
      Object a = r.get("amount"), c = r.get("currency");
      eq = a instanceof Number n && Math.abs((Double) money[0] - n.doubleValue()) < 1e-9
          && String.valueOf(money[1]).equals(String.valueOf(c));
    } else eq = want.toString().equals(v.toString());
    return eq ? null : "typed " + v + " but the CRM's " + raw + " converts to " + show(want);
  }

  private static String show(Object o) {
    return o instanceof Object[] a ? java.util.Arrays.toString(a) : String.valueOf(o);
  }

  private Object convert(String id, String type, JsonNode raw) {
    switch (type) {
      case "number" -> {
        if (raw.isNumber()) return raw.asDouble();
        if (raw.isTextual()) {
          try {
            return Double.parseDouble(raw.asText());
          } catch (NumberFormatException e) {
            return null;
          }
        }
        return null;
      }
      case "boolean" -> {
        if (raw.isBoolean()) return raw.asBoolean();
        if (raw.isIntegralNumber() && (raw.asInt() == 0 || raw.asInt() == 1)) return raw.asInt() == 1;
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
        JsonNode amount = raw.isObject() ? (raw.has("amount") ? raw.get("amount") : raw.get("value")) : raw;
        Object a = amount == null ? null : convert(id, "number", amount);
        if (a == null) return null;
        JsonNode def = defs.get(id);
        String cur =
            raw.isObject() && raw.hasNonNull("currency")
                ? raw.get("currency").asText()
                : def != null && def.hasNonNull("currency") ? def.get("currency").asText() : null;
        return new Object[] {a, cur};
      }
      case "enum" -> {
        JsonNode def = defs.get(id);
        JsonNode opts = def == null ? null : def.get("options");
        if (opts != null && opts.isArray()) {
          for (JsonNode o : opts) {
            String label = o.has("label") ? o.get("label").asText() : o.path("name").asText();
            if (o.path("id").asText().equals(raw.asText())) return label;
          }
          for (JsonNode o : opts) {
            String label = o.has("label") ? o.get("label").asText() : o.path("name").asText();
            if (raw.isTextual() && label.equals(raw.asText())) return label;
          }
          return null;
        }
        return raw.isValueNode() ? raw.asText() : null;
      }
      default -> { // string
        if (raw.isTextual()) return raw.asText();
        if (raw.isNumber() || raw.isBoolean()) return raw.toString();
        return null;
      }
    }
  }

  /** Epoch ms of a timestamp string (any accepted format) or epoch seconds (ms when > 1e11). */
  private static Long millis(JsonNode raw) {
    if (raw.isNumber()) {
      double d = raw.asDouble();
      return Math.abs(d) > 1e11 ? (long) d : (long) (d * 1000);
    }
    if (!raw.isTextual()) return null;
    String s = raw.asText();
    if (s.matches("\\d{4}-\\d{2}-\\d{2}"))
      return LocalDate.parse(s).atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
    Long t = Interop.parseTime(s);
    if (t != null) return t;
    try {
      return Instant.parse(s).toEpochMilli();
    } catch (RuntimeException e) {
      return null;
    }
  }

}
