package crmstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;

/**
 * The consumer side of the Confluent wire format without Confluent's libraries (only Maven
 * Central is reachable): schemas fetched by id from {@code GET /schemas/ids/{id}}, cached;
 * keys decoded as framed Avro strings.
 */
final class Registry {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final String url;
  private final String auth;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
  private final Map<Long, Schema> schemas = new HashMap<>();

  Registry(String url, String user, String password) {
    this.url = url.replaceAll("/+$", "");
    this.auth =
        user == null
            ? null
            : "Basic "
                + Base64.getEncoder()
                    .encodeToString((user + ":" + (password == null ? "" : password)).getBytes(StandardCharsets.UTF_8));
  }

  Schema schema(long id) throws IOException, InterruptedException {
    Schema s = schemas.get(id);
    if (s != null) return s;
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(url + "/schemas/ids/" + id))
            .header("Accept", "application/vnd.schemaregistry.v1+json")
            .timeout(Duration.ofSeconds(30));
    if (auth != null) b.header("Authorization", auth);
    HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200)
      throw new IOException("registry: HTTP " + r.statusCode() + " for id " + id + ": " + r.body());
    JsonNode body = JSON.readTree(r.body());
    s = new Schema.Parser().parse(body.get("schema").asText());
    schemas.put(id, s);
    return s;
  }

  /** The text of a key framed as 00 + id + Avro string; the id must name the "string" schema. */
  String keyText(byte[] key) throws IOException {
    if (key.length < 6 || key[0] != 0) throw new IOException("no Confluent header");
    long id = ByteBuffer.wrap(key, 1, 4).getInt() & 0xffffffffL;
    try {
      Schema s = schema(id);
      if (s.getType() != Schema.Type.STRING) throw new IOException("key schema " + id + " is " + s);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    }
    BinaryDecoder d = DecoderFactory.get().binaryDecoder(key, 5, key.length - 5, null);
    String text = d.readString();
    if (!d.isEnd()) throw new IOException("bytes left over after the key string");
    return text;
  }
}
