/* secret.h — CRM credentials from an environment variable or from a file (a mounted Kubernetes
 * Secret): one naming rule and one check for both. */
#ifndef CRM_SECRET_H
#define CRM_SECRET_H

#include <stddef.h>

/* Largest secret file read (a credential, not a document). */
#define SECRET_FILE_MAX 65536

/* 1-based position of the first control character (below 0x20, or 0x7f) in v, 0 when none: a
 * CR/LF in a token would add a header line to every request. */
size_t secret_control_byte(const char *v);

/* The name of the file twin of a secret option: "api_key_env" -> "api_key_file" (a name not
 * ending in "_env" gets "_file" appended). Returns out. */
char *secret_file_option(const char *env_option, char *out, size_t outlen);

/* The secret in file `path`: its content with trailing newlines (LF or CRLF) stripped; empty,
 * too large, unreadable or holding a control character is an error naming the file and never
 * the content. Returns a malloc'd string or NULL with err set. */
char *secret_read_file(const char *path, char *err, size_t errlen);

#endif
