#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"

/* Drain both pipes together so a child that fills one cannot block. */
static void collect(int outfd, int errfd, struct child_result *r)
{
    size_t nout = 0, nerr = 0;
    struct pollfd fds[2] = { { outfd, POLLIN, 0 }, { errfd, POLLIN, 0 } };
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[4096];
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
                continue;
            }
            char *dst = i == 0 ? r->out : r->err;
            size_t *len = i == 0 ? &nout : &nerr;
            size_t room = sizeof r->out - 1 - *len;
            size_t take = (size_t)n < room ? (size_t)n : room;
            memcpy(dst + *len, buf, take);
            *len += take;
        }
    }
    r->out[nout] = '\0';
    r->err[nerr] = '\0';
}

static void finish(pid_t pid, int outfd, int errfd, struct child_result *r)
{
    collect(outfd, errfd, r);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    r->exited = WIFEXITED(st);
    r->status = r->exited ? WEXITSTATUS(st) : -1;
    r->signaled = WIFSIGNALED(st);
    r->signo = r->signaled ? WTERMSIG(st) : 0;
}

static pid_t start(int out[2], int err[2])
{
    fflush(NULL);
    if (pipe(out) || pipe(err)) {
        perror("pipe");
        exit(99);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(99);
    }
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        close(out[0]); close(out[1]);
        close(err[0]); close(err[1]);
        /* An abort() is expected in many children: no core files. */
        signal(SIGABRT, SIG_DFL);
    } else {
        close(out[1]);
        close(err[1]);
    }
    return pid;
}

void run_child(void (*fn)(void *), void *arg, struct child_result *r)
{
    int out[2], err[2];
    memset(r, 0, sizeof *r);
    pid_t pid = start(out, err);
    if (pid == 0) {
        fn(arg);
        fflush(NULL);
        _exit(0);
    }
    finish(pid, out[0], err[0], r);
}

void run_program(const char *const argv[], const char *const env[], struct child_result *r)
{
    int out[2], err[2];
    memset(r, 0, sizeof *r);
    pid_t pid = start(out, err);
    if (pid == 0) {
        for (const char *const *e = env; e && *e; e++) {
            if (strchr(*e, '='))
                putenv((char *)*e);
            else
                unsetenv(*e);
        }
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    finish(pid, out[0], err[0], r);
}

const char *sibling_program(const char *name)
{
    static char path[4096];
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return name;
    self[n] = '\0';
    /* libtool may run the test from .libs/; the programs sit beside it. */
    snprintf(path, sizeof path, "%s/%s", dirname(self), name);
    return path;
}
