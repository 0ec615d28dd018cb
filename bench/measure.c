/* measure.c — runs a command and prints its CPU time (user + system, all threads) and peak RSS,
 * the two figures the engine's performance goals are stated in.
 * Usage: measure COMMAND [ARGS...]; prints "cpu_s=<s> user_s=<s> sys_s=<s> maxrss_kib=<n>" on
 * stderr and exits with the command's status. */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: measure COMMAND [ARGS...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        perror("execvp");
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("wait4");
        return 2;
    }
    double user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    double sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    fprintf(stderr, "cpu_s=%.3f user_s=%.3f sys_s=%.3f maxrss_kib=%ld\n", user + sys, user, sys,
            ru.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}
