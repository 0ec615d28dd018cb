package crmstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;

/**
 * The consumer side of the Confluent wire format without Confluent's libraries (only Maven
 * Central is reachable): {@code 00}, a 4-byte big-endian schema id, the Avro binary body. Schemas
 * are fetched by id from {@code GET /schemas/ids/{id}} and cached; the versions of a subject
 * from {@code GET /subjects/{s}/versions[/{v}]}; keys are framed Avro strings.
 */
final class Registry {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final String url;
  private final String auth;
  private HttpClient http;
  private final Map<Long, Schema> schemas = new HashMap<>();

  /** One version of a subject. */
  record Version(int version, long id, Schema schema) {}

  Registry(String url, String user, String password) {
    this.url = url.replaceAll("/+$", "");
    this.auth =
        user == null
            ? null
            : "Basic "
                + Base64.getEncoder()
                    .encodeToString((user + ":" + (password == null ? "" : password)).getBytes(StandardCharsets.UTF_8));
  }

  /** A schema known without asking the registry (the self-test). */
  void put(long id, Schema s) {
    schemas.put(id, s);
  }

  private JsonNode get(String path) throws IOException {
    if (http == null) http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(url + path))
            .header("Accept", "application/vnd.schemaregistry.v1+json")
            .timeout(Duration.ofSeconds(30));
    if (auth != null) b.header("Authorization", auth);
    HttpResponse<String> r;
    try {
      r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    }
    if (r.statusCode() != 200)
      throw new IOException("registry: HTTP " + r.statusCode() + " for GET " + path + ": " + r.body());
    return JSON.readTree(r.body());
  }

  Schema schema(long id) throws IOException {
    Schema s = schemas.get(id);
    if (s != null) return s;
    s = new Schema.Parser().parse(get("/schemas/ids/" + id).get("schema").asText());
    schemas.put(id, s);
    return s;
  }

  /** Every version of the subject, oldest first (empty when the subject does not exist). */
  List<Version> versions(String subject) throws IOException {
    String s = URLEncoder.encode(subject, StandardCharsets.UTF_8);
    JsonNode list;
    try {
      list = get("/subjects/" + s + "/versions");
    } catch (IOException e) {
      if (e.getMessage().contains("HTTP 404")) return List.of();
      throw e;
    }
    List<Version> out = new ArrayList<>();
    for (JsonNode v : list) {
      JsonNode one = get("/subjects/" + s + "/versions/" + v.asInt());
      long id = one.get("id").asLong();
      Schema schema = new Schema.Parser().parse(one.get("schema").asText());
      schemas.putIfAbsent(id, schema);
      out.add(new Version(v.asInt(), id, schema));
    }
    return out;
  }

  /** The schema id of a framed message (00 + 4-byte big-endian id + body). */
  static long id(byte[] framed) throws IOException {
    if (framed.length < 5 || framed[0] != 0) throw new IOException("no Confluent header");
    return ByteBuffer.wrap(framed, 1, 4).getInt() & 0xffffffffL;
  }

  /** The text of a key framed as 00 + id + Avro string; the id must name the "string" schema. */
  String keyText(byte[] key) throws IOException {
    long id = id(key);
    Schema s = schema(id);
    if (s.getType() != Schema.Type.STRING) throw new IOException("key schema " + id + " is " + s);
    BinaryDecoder d = DecoderFactory.get().binaryDecoder(key, 5, key.length - 5, null);
    String text = d.readString();
    if (!d.isEnd()) throw new IOException("bytes left over after the key string");
    return text;
  }
}
