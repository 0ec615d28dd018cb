/* test_ops_server.c — the metrics/probe listener keeps answering /healthz while 1,200 slow
 * connections are open (issue 15 item 11: a select() server stopped answering), closes the flood
 * beyond its per-address limit and after its idle timeout, and logs libmicrohttpd's messages
 * through our logger. Loopback only: the flood comes from 127.0.0.2, the probe from 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "ops_server.h"
#include "util.h"

static json_t *healthy(int ready, int *ok)
{
    *ok = 1;
    return json_pack("{s:b}", "ready", ready);
}

/* A connection to 127.0.0.1:port from `from`, or -1. */
static int connect_from(const char *from, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in src = {0}, dst = {0};
    src.sin_family = dst.sin_family = AF_INET;
    inet_pton(AF_INET, from, &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    dst.sin_port = htons((uint16_t)port);
    if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof(src)) ||
        connect(fd, (struct sockaddr *)&dst, sizeof(dst))) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* GET path from 127.0.0.1; the status line's code, or -1 when no answer within timeout_ms. */
static int probe(int port, const char *path, int timeout_ms)
{
    int fd = connect_from("127.0.0.1", port);
    if (fd < 0)
        return -1;
    char req[128], resp[512];
    int n =
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    int code = -1;
    struct pollfd p = {fd, POLLIN, 0};
    if (write(fd, req, (size_t)n) == n && poll(&p, 1, timeout_ms) == 1) {
        ssize_t got = read(fd, resp, sizeof(resp) - 1);
        if (got > 12) {
            resp[got] = '\0';
            code = atoi(resp + 9);
        }
    }
    close(fd);
    return code;
}

/* 1 when the server closed fd (read returns 0 or a reset) within timeout_ms. */
static int closed_by_server(int fd, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    char c;
    return poll(&p, 1, timeout_ms) == 1 && read(fd, &c, 1) <= 0;
}

int main(void)
{
    /* room for the flood and the server's side of it */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    int flood = rl.rlim_cur > 2600 ? 1200 : (int)(rl.rlim_cur - 200) / 2;

    /* stderr into a file, to see what libmicrohttpd says and how */
    fflush(stderr);
    int saved = dup(2);
    FILE *captured = tmpfile();
    dup2(fileno(captured), 2);

    char err[256];
    ops_server *s = ops_server_start("127.0.0.1", 0, healthy, err, sizeof(err));
    CHECK(s != NULL);
    int port = s ? ops_server_port(s) : 0;
    CHECK(probe(port, "/healthz", 2000) == 200);

    int *fds = malloc(sizeof(int) * (size_t)flood), opened = 0;
    const char *partial = "GET /healthz HTTP/1.1\r\nHost: x\r\n"; /* never finished */
    for (int i = 0; i < flood; i++) {
        fds[i] = connect_from("127.0.0.2", port);
        if (fds[i] >= 0) {
            opened++;
            if (write(fds[i], partial, strlen(partial)) < 0)
                fprintf(stderr, "write: %s\n", strerror(errno));
        }
    }
    CHECK(opened == flood);
    /* the probe answers while the flood is open, every time */
    int answered = 0;
    for (int i = 0; i < 5; i++)
        answered += probe(port, "/healthz", 2000) == 200;
    CHECK(answered == 5);
    CHECK(probe(port, "/metrics", 2000) == 200);
    /* the flood beyond the per-address limit was closed at once, the rest after the timeout */
    int closed = 0;
    for (int i = 0; i < flood; i++)
        closed += fds[i] >= 0 && closed_by_server(fds[i], 0);
    fprintf(stdout, "  flood of %d: %d closed at once\n", flood, closed);
    CHECK(closed >= flood - 40);
    int later = 0;
    for (int i = 0; i < flood; i++)
        later += fds[i] >= 0 && closed_by_server(fds[i], 8000);
    CHECK(later == opened);
    for (int i = 0; i < flood; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    CHECK(probe(port, "/healthz", 2000) == 200);
    ops_server_stop(s);

    /* what went to stderr: our log lines only, one of them from libmicrohttpd's limit */
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(captured);
    char line[1024];
    int lines = 0, ours = 1, mhd = 0;
    while (fgets(line, sizeof(line), captured)) {
        lines++;
        if (strncmp(line, "ts=", 3) != 0) {
            ours = 0;
            fprintf(stderr, "  not a log line: %s", line);
        }
        mhd += strstr(line, "metrics server:") != NULL;
    }
    fclose(captured);
    CHECK(lines > 0 && ours);
    CHECK(mhd > 0 && mhd < 20); /* rate-limited: hundreds of refusals, a few lines */
    return check_summary("ops_server");
}
