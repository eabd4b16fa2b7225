// muster-supervisor: the small process that runs one task on an agent, and a way into a running one.
//
// A task must outlive the agent daemon (it may be kill -9'd and restarted, and the new agent
// reattaches), so the agent does not parent task processes itself: it starts this program, which
// costs about a megabyte where a Node process per task would cost forty.
//
//   muster-supervisor run --sandbox DIR [--cgroup PATH]... [--user UID:GID[:G1,G2,...]] [--pid-ns]
//       [--mount-ns] [--grace-secs S] [--log-max-bytes N] [--log-max-files K] [--ready-fd FD]
//       --proc NAME CMD [--proc NAME CMD]...
//   muster-supervisor enter --target PID [--pid-ns] [--mount-ns] [--cgroup PATH]...
//       [--user UID:GID[:G...]] [--cwd DIR] -- ARGV...
//
// `run` is two processes. The outer one is the pid the agent holds: it owns the sandbox's log files
// (stdout and stderr arrive over two pipes and are rotated by size), forwards the agent's signals,
// and writes DIR/.muster/exit.json when everything has ended. It forks "init", which is pid 1 of the
// task's pid namespace when there is one: init joins the cgroups, sets up the mount namespace, starts
// every process (`/bin/sh -c CMD` in its own process group, as the task's user, in the sandbox),
// reports each start and end to the outer over a socket, reaps orphans, and tears the task down when
// a process fails or when asked to stop. Keeping setup in init (not in the outer) means every
// process of the task, init included, is inside the task's cgroups and namespaces, while the outer
// stays outside, where it can still write the sandbox and see host pids.
//
// Two things keep a task's start quick. On cgroup v2, init is born in the task's cgroup (clone3 with
// CLONE_INTO_CGROUP) instead of writing itself into cgroup.procs, a write that takes the cgroup
// subsystem's global threadgroup lock and can wait for an RCU grace period. And the task's CPU quota
// is lifted while init sets the task up and starts its processes, and put back before the ready
// line: with 0.01 cpus a task may run 1 ms per 100 ms period, and the few ms of CPU the kernel
// spends on namespaces, fork and exec would otherwise cost ~100 ms each time the quota runs out.
// The quota holds from the moment the agent hears the task runs; if it cannot be put back, the
// task is killed and the start is an error.
//
// The agent reads the contract above and nothing else: the exit file, the ready line and the
// signals (SIGTERM: stop gracefully; SIGUSR1: kill everything) are its whole interface.

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

// Limits: each far beyond a real task, so that no input can make the supervisor allocate or loop
// without bound.
#define MAX_PROCS 64
#define MAX_CGROUPS 32
#define MAX_GROUPS 256
#define MAX_NAME 63
#define MAX_CMD (64 * 1024)
#define MAX_LOG_FILES 100
#define MAX_LOG_BYTES (1ULL << 50)
#define MAX_GRACE_MS (7LL * 24 * 3600 * 1000)
#define MSG_MAX 512           // one report from init to the outer, one error line
#define CHUNK (64 * 1024)     // one read from a log pipe
#define DRAIN_MS 1000         // how long the outer keeps reading logs after init ended
#define MAX_TREE 65536        // processes visited when signalling a task's process tree
#define EXIT_JSON_MAX (64 * 1024)

enum killed { KILLED_NONE, KILLED_TERM, KILLED_KILL };

struct user_spec {
  bool set;
  uid_t uid;
  gid_t gid;
  size_t ngroups;
  gid_t groups[MAX_GROUPS];
};

struct proc {
  const char *name;
  const char *cmd;
  pid_t pid;      // as init sees it (the namespace's pid); in the outer: the host's
  bool started;
  bool ended;
};

// One log stream: a pipe shared by every process of the task and the sandbox file it lands in.
struct stream {
  const char *name;
  int pipe_rd;
  int fd;
  unsigned long long size;
  bool eof;
  bool complained;
};

static struct {
  const char *sandbox;
  const char *cgroups[MAX_CGROUPS];
  size_t ncgroups;
  struct user_spec user;
  bool pid_ns;
  bool mount_ns;
  long long grace_ms;
  unsigned long long log_max_bytes;
  int log_max_files;
  int ready_fd;
  struct proc procs[MAX_PROCS];
  size_t nprocs;
} cfg = {.grace_ms = 5000, .log_max_files = 5, .ready_fd = -1};

static const char *role = "supervisor";

// ---------------------------------------------------------------------------------------------
// Small helpers

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...) {
  char line[MSG_MAX + 128];
  int n = snprintf(line, sizeof line, "muster-supervisor[%d %s]: ", (int)getpid(), role);
  if (n < 0) return;
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (m < 0) return;
  size_t len = strlen(line);
  line[len++] = '\n';
  ssize_t ignored = write(STDERR_FILENO, line, len);
  (void)ignored;
}

// format_line formats a one-line message: newlines and other control characters become spaces, so
// that a message can travel as one line on the ready fd and as one report from init.
static void format_line(char *out, size_t size, const char *fmt, va_list ap) {
  int n = vsnprintf(out, size, fmt, ap);
  if (n < 0) out[0] = '\0';
  for (char *p = out; *p != '\0'; p++) {
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
  }
}

static long long clock_ms(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long now_ms(void) { return clock_ms(CLOCK_REALTIME); }
static long long mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

static bool write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    len -= (size_t)n;
  }
  return true;
}

// write_file writes a short string to a file that exists (cgroup.procs, oom_score_adj).
static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return errno;
  int err = write_all(fd, text, strlen(text)) ? 0 : errno;
  close(fd);
  return err;
}

static void move_fd(int from, int to) {
  if (from == to) {
    fcntl(to, F_SETFD, 0);
  } else {
    dup2(from, to);
  }
}

// close_from closes every descriptor from `lowest` up, so that a task inherits nothing of ours.
static void close_from(int lowest) {
  if (syscall(SYS_close_range, (unsigned)lowest, ~0U, 0) == 0) return;
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = lowest; fd < max; fd++) close(fd);
}

// reset_signals gives a process about to exec the dispositions and mask a fresh process has: our
// ignored SIGINT/SIGHUP/SIGPIPE and blocked signals must not leak into the task.
static void reset_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &sa, NULL);  // fails harmlessly for the C library's internal signals
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

static bool parse_u64(const char *s, unsigned long long max, unsigned long long *out) {
  if (s == NULL || *s == '\0' || strlen(s) > 20) return false;
  unsigned long long v = 0;
  for (const char *p = s; *p != '\0'; p++) {
    if (*p < '0' || *p > '9') return false;
    unsigned d = (unsigned)(*p - '0');
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

// parse_secs reads seconds with an optional fraction ("5", "0.5") into milliseconds.
static bool parse_secs(const char *s, long long *ms) {
  const char *dot = strchr(s, '.');
  char whole[24];
  size_t wlen = dot == NULL ? strlen(s) : (size_t)(dot - s);
  if (wlen == 0 || wlen >= sizeof whole) return false;
  memcpy(whole, s, wlen);
  whole[wlen] = '\0';
  unsigned long long secs;
  if (!parse_u64(whole, (unsigned long long)MAX_GRACE_MS / 1000, &secs)) return false;
  long long frac = 0;
  if (dot != NULL) {
    const char *f = dot + 1;
    if (*f == '\0' || strlen(f) > 9) return false;
    long long scale = 100;
    for (; *f != '\0'; f++) {
      if (*f < '0' || *f > '9') return false;
      frac += (*f - '0') * scale;
      scale /= 10;
    }
  }
  *ms = (long long)secs * 1000 + frac;
  return *ms <= MAX_GRACE_MS;
}

// parse_id reads one uid or gid. (uid_t)-1 means "unchanged" to setuid and friends: never accept it.
static bool parse_id(const char *s, size_t len, unsigned *out) {
  char buf[16];
  if (len == 0 || len >= sizeof buf) return false;
  memcpy(buf, s, len);
  buf[len] = '\0';
  unsigned long long v;
  if (!parse_u64(buf, 0xfffffffeULL, &v)) return false;
  *out = (unsigned)v;
  return true;
}

// parse_user reads UID:GID[:G1,G2,...]. Without a list the task gets no supplementary groups: it
// must not keep root's.
static bool parse_user(const char *s, struct user_spec *u) {
  const char *colon = strchr(s, ':');
  if (colon == NULL || !parse_id(s, (size_t)(colon - s), &u->uid)) return false;
  const char *gid = colon + 1;
  const char *end = strchr(gid, ':');
  if (!parse_id(gid, end == NULL ? strlen(gid) : (size_t)(end - gid), &u->gid)) return false;
  u->ngroups = 0;
  if (end != NULL && end[1] != '\0') {
    const char *g = end + 1;
    for (;;) {
      const char *comma = strchr(g, ',');
      size_t len = comma == NULL ? strlen(g) : (size_t)(comma - g);
      if (u->ngroups >= MAX_GROUPS || !parse_id(g, len, &u->groups[u->ngroups])) return false;
      u->ngroups++;
      if (comma == NULL) break;
      g = comma + 1;
    }
  }
  u->set = true;
  return true;
}

static bool valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > MAX_NAME) return false;
  for (const char *p = s; *p != '\0'; p++) {
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')) return false;
  }
  return true;
}

static bool valid_path(const char *s) { return s[0] == '/' && strlen(s) < PATH_MAX - 32; }

enum step { STEP_STDIO, STEP_GROUPS, STEP_GID, STEP_UID, STEP_CHDIR, STEP_EXEC };

// become_user drops to the task's user; on failure it returns the errno and sets the failed step.
static int become_user(const struct user_spec *u, enum step *step) {
  if (!u->set) return 0;
  *step = STEP_GROUPS;
  if (setgroups(u->ngroups, u->groups) != 0) return errno;
  *step = STEP_GID;
  if (setgid(u->gid) != 0) return errno;
  *step = STEP_UID;
  if (setuid(u->uid) != 0) return errno;
  return 0;
}

// user_error says which step of becoming the task's user failed, as "cannot ...: why".
static void user_error(char *out, size_t size, enum step step, int err) {
  if (step == STEP_GROUPS) snprintf(out, size, "cannot set the supplementary groups of uid %u: %s", cfg.user.uid, strerror(err));
  else if (step == STEP_GID) snprintf(out, size, "cannot run as gid %u: %s", cfg.user.gid, strerror(err));
  else snprintf(out, size, "cannot run as uid %u: %s", cfg.user.uid, strerror(err));
}

// born_in is the index of the cgroup init was born in (clone3 with CLONE_INTO_CGROUP), or -1.
static long born_in = -1;

// join_cgroups moves the calling process (and so every child it forks later) into each cgroup.
static int join_cgroups(const char **failed) {
  for (size_t i = 0; i < cfg.ncgroups; i++) {
    if ((long)i == born_in) continue;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/cgroup.procs", cfg.cgroups[i]);
    int err = write_file(path, "0");
    if (err != 0) {
      *failed = cfg.cgroups[i];
      return err;
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// JSON output

struct jbuf {
  char data[EXIT_JSON_MAX];
  size_t len;
  bool overflow;
};

static void jraw(struct jbuf *b, const char *s, size_t n) {
  if (b->len + n >= sizeof b->data) {
    b->overflow = true;
    return;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
}

static void jprintf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jprintf(struct jbuf *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) {
    b->overflow = true;
    return;
  }
  jraw(b, tmp, (size_t)n);
}

// utf8_len is the length of the valid UTF-8 sequence at p, or 0 when it is not one.
static size_t utf8_len(const unsigned char *p) {
  if (p[0] < 0x80) return 1;
  size_t n;
  unsigned cp;
  if ((p[0] & 0xe0) == 0xc0) n = 2, cp = p[0] & 0x1f;
  else if ((p[0] & 0xf0) == 0xe0) n = 3, cp = p[0] & 0x0f;
  else if ((p[0] & 0xf8) == 0xf0) n = 4, cp = p[0] & 0x07;
  else return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// jstring writes a JSON string. Messages are free text (paths, strerror in any locale): control
// characters are escaped and bytes that are not UTF-8 become U+FFFD, so the file always parses.
static void jstring(struct jbuf *b, const char *s) {
  jraw(b, "\"", 1);
  const unsigned char *p = (const unsigned char *)s;
  while (*p != '\0') {
    if (*p == '"' || *p == '\\') {
      char esc[2] = {'\\', (char)*p};
      jraw(b, esc, 2);
      p++;
    } else if (*p < 0x20 || *p == 0x7f) {
      jprintf(b, "\\u%04x", *p);
      p++;
    } else {
      size_t n = utf8_len(p);
      if (n == 0) {
        jraw(b, "\\ufffd", 6);
        p++;
      } else {
        jraw(b, (const char *)p, n);
        p += n;
      }
    }
  }
  jraw(b, "\"", 1);
}

// ---------------------------------------------------------------------------------------------
// init: pid 1 of the task (or its root process without a pid namespace)

static int report_sock = -1;   // init's end of the socket to the outer
static int devnull = -1;
static int sandbox_fd = -1;
static int out_wr = -1, err_wr = -1;
// cwd_fd is the sandbox as seen from the task's mount namespace, opened before /tmp is covered: a
// sandbox under /tmp would otherwise be unreachable by its path once the sandbox's tmp/ is on /tmp.
static int cwd_fd = -1;

struct exec_failure {
  int step;
  int err;
};

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...) {
  char msg[MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  format_line(msg, sizeof msg, fmt, ap);
  va_end(ap);
  while (send(report_sock, msg, strlen(msg), MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

// report_started tells the outer that a process started. Inside a pid namespace init only knows the
// namespace's pid; SCM_CREDENTIALS carries the process itself, and the kernel translates its pid into
// the receiver's namespace, which is how the outer learns the host pid. The process exists until
// init reaps it, so the pid cannot be stale here.
static void report_started(size_t index, pid_t pid) {
  if (cfg.pid_ns) {
    char msg[64];
    int n = snprintf(msg, sizeof msg, "S %zu %d", index, (int)pid);
    struct iovec iov = {.iov_base = msg, .iov_len = (size_t)n};
    union {
      char buf[CMSG_SPACE(sizeof(struct ucred))];
      struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
    struct ucred cred = {.pid = pid, .uid = getuid(), .gid = getgid()};
    memcpy(CMSG_DATA(c), &cred, sizeof cred);
    if (sendmsg(report_sock, &mh, MSG_NOSIGNAL) >= 0) return;
    diag("cannot pass the host pid of process %s: %s", cfg.procs[index].name, strerror(errno));
  }
  report("s %zu %d", index, (int)pid);
}

// children_of pushes the children of every thread of pid onto the stack.
static void children_of(pid_t pid, pid_t *stack, size_t *n, size_t cap) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *dir = opendir(path);
  if (dir == NULL) return;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char file[128];
    snprintf(file, sizeof file, "/proc/%d/task/%.20s/children", (int)pid, e->d_name);
    FILE *f = fopen(file, "re");
    if (f == NULL) continue;
    int child;
    while (*n < cap && fscanf(f, "%d", &child) == 1) {
      if (child > 1) stack[(*n)++] = child;
    }
    fclose(f);
  }
  closedir(dir);
}

// kill_all signals every process of the task. In a pid namespace that is kill(-1). Without one we
// signal each process group whose leader we have not reaped (its pgid cannot have been reused) and
// then walk the tree under init: init is a child subreaper, so every process the task started,
// in whatever group or session, is a descendant of init.
static void kill_all(int sig) {
  if (cfg.pid_ns) {
    kill(-1, sig);
    return;
  }
  for (size_t i = 0; i < cfg.nprocs; i++) {
    if (cfg.procs[i].started && !cfg.procs[i].ended) kill(-cfg.procs[i].pid, sig);
  }
  static pid_t stack[4096];
  size_t n = 0, visited = 0;
  children_of(getpid(), stack, &n, sizeof stack / sizeof stack[0]);
  while (n > 0 && visited < MAX_TREE) {
    pid_t pid = stack[--n];
    visited++;
    kill(pid, sig);
    children_of(pid, stack, &n, sizeof stack / sizeof stack[0]);
  }
}

// teardown kills whatever is left of the task and reaps it, so that init leaves nothing behind.
static void teardown(void) {
  for (int round = 0; round < 500; round++) {
    kill_all(SIGKILL);
    pid_t r;
    while ((r = waitpid(-1, NULL, WNOHANG)) > 0) {
    }
    if (r < 0 && errno == ECHILD) return;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  diag("some task processes did not die after SIGKILL");
}

static void init_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void init_fail(const char *fmt, ...) {
  char msg[MSG_MAX - 8];
  va_list ap;
  va_start(ap, fmt);
  format_line(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag("%s", msg);
  report("E %s", msg);
  teardown();
  _exit(1);
}

static void exec_process(const struct proc *p, int errfd) __attribute__((noreturn));
static void exec_process(const struct proc *p, int errfd) {
  struct exec_failure f = {STEP_STDIO, 0};
  setpgid(0, 0);
  reset_signals();
  write_file("/proc/self/oom_score_adj", "0");
  move_fd(devnull, 0);
  move_fd(out_wr, 1);
  move_fd(err_wr, 2);
  // The failure pipe moves to fd 3 (close-on-exec, so a successful exec closes it: EOF means
  // "started"), the sandbox to fd 4 until we are in it, and everything above is closed. Both go
  // through copies above 4 first: either may sit on 3 or 4 now.
  int high_err = fcntl(errfd, F_DUPFD_CLOEXEC, 5);
  int high_cwd = fcntl(cwd_fd, F_DUPFD_CLOEXEC, 5);
  if (high_err < 0 || high_cwd < 0 || dup3(high_err, 3, O_CLOEXEC) < 0 || dup3(high_cwd, 4, O_CLOEXEC) < 0) _exit(127);
  errfd = 3;
  close_from(5);
  enum step step = STEP_STDIO;
  int err = become_user(&cfg.user, &step);
  if (err != 0) {
    f.step = (int)step;
    f.err = err;
  } else if (fchdir(4) != 0) {
    // After dropping to the user, so that a sandbox the user cannot enter is an error here.
    f.step = STEP_CHDIR;
    f.err = errno;
  } else {
    close(4);
    char *argv[] = {"sh", "-c", (char *)p->cmd, NULL};
    execve("/bin/sh", argv, environ);
    f.step = STEP_EXEC;
    f.err = errno;
  }
  ssize_t ignored = write(errfd, &f, sizeof f);
  (void)ignored;
  _exit(127);
}

static void start_process(size_t index) {
  struct proc *p = &cfg.procs[index];
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) != 0) init_fail("cannot start process %s: pipe: %s", p->name, strerror(errno));
  pid_t pid = fork();
  if (pid < 0) init_fail("cannot start process %s: fork: %s", p->name, strerror(errno));
  if (pid == 0) {
    close(ep[0]);
    exec_process(p, ep[1]);
  }
  // Both sides set the group, so that a signal init sends right away already finds it.
  setpgid(pid, pid);
  close(ep[1]);
  p->pid = pid;
  p->started = true;
  report_started(index, pid);
  struct exec_failure f;
  ssize_t n;
  while ((n = read(ep[0], &f, sizeof f)) < 0 && errno == EINTR) {
  }
  close(ep[0]);
  if (n != (ssize_t)sizeof f) return;
  const char *why = strerror(f.err);
  char user[MSG_MAX / 2];
  switch (f.step) {
    case STEP_GROUPS:
    case STEP_GID:
    case STEP_UID:
      user_error(user, sizeof user, (enum step)f.step, f.err);
      init_fail("%s (process %s)", user, p->name);
    case STEP_CHDIR: init_fail("cannot enter the sandbox %s: %s (process %s)", cfg.sandbox, why, p->name);
    case STEP_EXEC: init_fail("cannot run /bin/sh: %s (process %s)", why, p->name);
    default: init_fail("cannot set up the output of process %s: %s", p->name, why);
  }
}

// bind_fd_on bind-mounts the directory open as fd on target, through /proc/self/fd so that the
// source is exactly what was opened (no path to swap for a link in between).
static void bind_fd_on(int fd, const char *target, const char *what) {
  char source[64];
  snprintf(source, sizeof source, "/proc/self/fd/%d", fd);
  if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) != 0) init_fail("cannot mount %s on %s: %s", what, target, strerror(errno));
}

// is_dir tells whether path names a directory (following links: these are the host's own paths).
static bool is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

// expose_sandbox makes the sandbox reachable at its own path again when one of the task's private
// mounts covers it (a work dir under /tmp, /var/tmp or /dev/shm, a common place to try things):
// the task, its health checks and `exec` find $MUSTER_SANDBOX where the agent said. The path is
// walked from / one component at a time without following links, creating what is missing in the
// covering mount (a few empty directories in the sandbox's tmp/, owned by root), and the sandbox
// is bound on the last one. `real` is the sandbox's canonical path, taken before any mount.
static void expose_sandbox(int dir, const char *real) {
  struct stat want, got;
  if (fstat(dir, &want) != 0) init_fail("cannot stat the sandbox %s: %s", real, strerror(errno));
  if (stat(real, &got) == 0 && got.st_dev == want.st_dev && got.st_ino == want.st_ino) return;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s", real);
  int at = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (at < 0) init_fail("cannot open /: %s", strerror(errno));
  char *save = NULL;
  for (char *name = strtok_r(path, "/", &save); name != NULL; name = strtok_r(NULL, "/", &save)) {
    int next = openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT) {
      if (mkdirat(at, name, 0755) != 0 && errno != EEXIST) init_fail("cannot make the sandbox's path %s visible to the task: mkdir %s: %s", real, name, strerror(errno));
      next = openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (next < 0) init_fail("cannot make the sandbox's path %s visible to the task: %s: %s", real, name, strerror(errno));
    close(at);
    at = next;
  }
  char target[64];
  snprintf(target, sizeof target, "/proc/self/fd/%d", at);
  bind_fd_on(dir, target, "the sandbox");
  close(at);
}

// setup_mounts gives the task a private mount namespace: its own /proc when it has its own pid
// namespace (so ps shows only the task), the sandbox's tmp/ as /tmp and /var/tmp (what a task
// leaves there is its own, counted in its disk and removed with its sandbox), and a tmpfs of its
// own as /dev/shm (charged to the task's memory cgroup). Nothing of the host's temp dirs is
// reachable, and the sandbox stays at its own path even when one of these covers it.
static void setup_mounts(void) {
  // The canonical path, resolved in the host's view: the walk in expose_sandbox follows no links.
  char real[PATH_MAX];
  if (realpath(cfg.sandbox, real) == NULL) init_fail("cannot resolve the sandbox %s: %s", cfg.sandbox, strerror(errno));
  if (unshare(CLONE_NEWNS) != 0) init_fail("cannot create a mount namespace: %s", strerror(errno));
  // Private first: nothing we mount may propagate back to the host.
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) init_fail("cannot make / private: %s", strerror(errno));
  // tmp/ is opened without following links and bind-mounted through its descriptor, so a task that
  // replaced it with a link (the sandbox may be writable by the task) cannot get /tmp bound elsewhere.
  // The sandbox is opened again: a bind mount's source must be a mount of this new namespace.
  int dir = open(real, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir < 0) init_fail("cannot open the sandbox %s: %s", cfg.sandbox, strerror(errno));
  cwd_fd = dir;
  int tmp = openat(dir, "tmp", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (tmp < 0 && errno == ENOENT) {
    if (mkdirat(sandbox_fd, "tmp", 0755) != 0 && errno != EEXIST) {
      init_fail("cannot create %s/tmp: %s", cfg.sandbox, strerror(errno));
    }
    if (cfg.user.set && fchownat(sandbox_fd, "tmp", cfg.user.uid, cfg.user.gid, AT_SYMLINK_NOFOLLOW) != 0) {
      init_fail("cannot give %s/tmp to uid %u: %s", cfg.sandbox, cfg.user.uid, strerror(errno));
    }
    tmp = openat(dir, "tmp", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (tmp < 0) init_fail("cannot open %s/tmp: %s", cfg.sandbox, strerror(errno));
  bind_fd_on(tmp, "/tmp", "the sandbox's tmp/");
  if (is_dir("/var/tmp")) bind_fd_on(tmp, "/var/tmp", "the sandbox's tmp/");
  close(tmp);
  if (is_dir("/dev/shm") && mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
    init_fail("cannot mount a private /dev/shm: %s", strerror(errno));
  }
  expose_sandbox(dir, real);
  if (cfg.pid_ns && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
    init_fail("cannot mount /proc for the task's pid namespace: %s", strerror(errno));
  }
}

static void init_main(pid_t outer) __attribute__((noreturn));
static void init_main(pid_t outer) {
  role = "init";
  prctl(PR_SET_NAME, "muster-init");  // tells it from the outer in ps and top
  // If the outer dies, init dies; with a pid namespace the kernel then kills every task process.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Without a pid namespace the outer is still our parent, unless it died before prctl.
  if (!cfg.pid_ns && getppid() != outer) _exit(1);
  // Orphans of the task come to init rather than to the host's init, so it can reap and kill them.
  prctl(PR_SET_CHILD_SUBREAPER, 1);

  // SIGTERM, SIGUSR1 and SIGCHLD are still blocked (inherited from the outer): read them here.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGCHLD);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) init_fail("cannot create a signalfd: %s", strerror(errno));

  const char *cgroup = NULL;
  int err = join_cgroups(&cgroup);
  if (err != 0) init_fail("cannot join cgroup %s: %s", cgroup, strerror(err));
  if (cfg.mount_ns) setup_mounts();
  else cwd_fd = sandbox_fd;
  devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) init_fail("cannot open /dev/null: %s", strerror(errno));

  for (size_t i = 0; i < cfg.nprocs; i++) start_process(i);
  report("R");

  bool stopping = false, failing = false;
  long long kill_at = -1;
  size_t running = cfg.nprocs;
  while (running > 0) {
    int timeout = -1;
    if (kill_at >= 0) {
      long long left = kill_at - mono_ms();
      timeout = left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
    }
    struct pollfd pfd = {.fd = sfd, .events = POLLIN};
    if (poll(&pfd, 1, timeout) < 0 && errno != EINTR) diag("poll: %s", strerror(errno));
    if (kill_at >= 0 && mono_ms() >= kill_at) {
      kill_all(SIGKILL);
      kill_at = -1;
    }
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
      if (si.ssi_signo == SIGTERM) {
        stopping = true;
        kill_all(SIGTERM);
      } else if (si.ssi_signo == SIGUSR1) {
        stopping = true;
        kill_at = -1;
        kill_all(SIGKILL);
      }
    }
    // Reap on every wake-up: SIGCHLDs coalesce, and orphans we inherit are reaped silently.
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (size_t i = 0; i < cfg.nprocs; i++) {
        struct proc *p = &cfg.procs[i];
        if (!p->started || p->ended || p->pid != pid) continue;
        p->ended = true;
        running--;
        bool failed;
        if (WIFSIGNALED(status)) {
          report("X %zu s %d", i, WTERMSIG(status));
          failed = true;
        } else {
          report("X %zu c %d", i, WEXITSTATUS(status));
          failed = WEXITSTATUS(status) != 0;
        }
        // The first failure ends the task: the others get SIGTERM, then SIGKILL after the grace.
        if (failed && !stopping && !failing && running > 0) {
          failing = true;
          kill_all(SIGTERM);
          kill_at = mono_ms() + cfg.grace_ms;
        }
        break;
      }
    }
  }
  teardown();
  _exit(0);
}

// ---------------------------------------------------------------------------------------------
// outer: the pid the agent holds

static int meta_fd = -1;
static long long started_at;
static char error_msg[MSG_MAX];
static bool have_error;

struct ending {
  size_t index;
  bool signalled;
  int value;
};

static struct {
  pid_t init_pid;
  bool ready;
  bool init_reported_error;
  enum killed killed;
  struct ending endings[MAX_PROCS];
  size_t nendings;
  long long ended_at;
} run;

static void ready_line(const char *kind, const char *text) {
  if (cfg.ready_fd < 0) return;
  char line[MSG_MAX + 32];
  int n = snprintf(line, sizeof line, "%s %s\n", kind, text);
  if (n > 0) {
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    line[len - 1] = '\n';
    // The agent may be gone: SIGPIPE is ignored, and EPIPE is no reason to stop.
    if (!write_all(cfg.ready_fd, line, len)) diag("cannot write the ready line: %s", strerror(errno));
  }
  close(cfg.ready_fd);
  cfg.ready_fd = -1;
}

static void set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_error(const char *fmt, ...) {
  if (have_error) return;
  va_list ap;
  va_start(ap, fmt);
  format_line(error_msg, sizeof error_msg, fmt, ap);
  va_end(ap);
  have_error = true;
  diag("%s", error_msg);
  ready_line("error", error_msg);
}

// write_exit_file writes DIR/.muster/exit.json through the descriptor of .muster opened at start:
// even if the task swapped .muster for a link since, root writes only where it meant to.
static bool write_exit_file(void) {
  static struct jbuf b;
  b.len = 0;
  b.overflow = false;
  jprintf(&b, "{\"version\":1,\"initPid\":%d,\"startedAt\":%lld,\"endedAt\":%lld,\"exits\":[",
          (int)run.init_pid, started_at, run.ended_at);
  bool seen[MAX_PROCS] = {false};
  size_t written = 0;
  for (size_t i = 0; i < run.nendings; i++) {
    const struct ending *e = &run.endings[i];
    const struct proc *p = &cfg.procs[e->index];
    seen[e->index] = true;
    jprintf(&b, "%s{\"name\":", written++ > 0 ? "," : "");
    jstring(&b, p->name);
    jprintf(&b, ",\"pid\":%d,\"%s\":%d}", (int)p->pid, e->signalled ? "signal" : "exitCode", e->value);
  }
  // A process that started but whose end init never reported died with init (SIGKILL). After a
  // setup error init tears the task down on purpose, and exits stay as reported.
  if (!run.init_reported_error) {
    for (size_t i = 0; i < cfg.nprocs; i++) {
      const struct proc *p = &cfg.procs[i];
      if (!p->started || seen[i]) continue;
      jprintf(&b, "%s{\"name\":", written++ > 0 ? "," : "");
      jstring(&b, p->name);
      jprintf(&b, ",\"pid\":%d,\"signal\":9}", (int)p->pid);
    }
  }
  jraw(&b, "]", 1);
  if (run.killed != KILLED_NONE) jprintf(&b, ",\"killed\":\"%s\"", run.killed == KILLED_KILL ? "SIGKILL" : "SIGTERM");
  if (have_error) {
    jraw(&b, ",\"error\":", 9);
    jstring(&b, error_msg);
  }
  jraw(&b, "}\n", 2);
  if (b.overflow) {
    diag("exit.json would exceed %d bytes", EXIT_JSON_MAX);
    return false;
  }

  int fd = openat(meta_fd, "exit.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    diag("cannot create exit.json.tmp: %s", strerror(errno));
    return false;
  }
  bool ok = write_all(fd, b.data, b.len) && fsync(fd) == 0;
  if (!ok) diag("cannot write exit.json.tmp: %s", strerror(errno));
  close(fd);
  if (ok && renameat(meta_fd, "exit.json.tmp", meta_fd, "exit.json") != 0) {
    diag("cannot rename exit.json.tmp: %s", strerror(errno));
    ok = false;
  }
  if (ok) fsync(meta_fd);
  return ok;
}

static void fail_before_init(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail_before_init(const char *fmt, ...) {
  char msg[MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  format_line(msg, sizeof msg, fmt, ap);
  va_end(ap);
  set_error("%s", msg);
  run.ended_at = now_ms();
  if (meta_fd >= 0 && write_exit_file()) exit(0);
  exit(1);
}

// ---------------------------------------------------------------------------------------------
// The task's start: its CPU quota lifted meanwhile, and init born in its cgroup where the kernel can

// A CPU quota of the task's, lifted while it starts: the file and what to write back.
struct quota {
  char path[PATH_MAX];
  char value[64];
};
static struct quota quotas[MAX_CGROUPS];
static size_t nquotas;

// read_small reads a short kernel file into buf (NUL-terminated, trailing newline dropped).
static int read_small(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return errno;
  ssize_t n;
  while ((n = read(fd, buf, size - 1)) < 0 && errno == EINTR) {
  }
  int err = n < 0 ? errno : 0;
  close(fd);
  if (err != 0) return err;
  buf[n] = '\0';
  if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = '\0';
  return 0;
}

// lift_cpu_quotas lifts the CPU quota of every cgroup of the task that has one (v1
// cpu.cfs_quota_us, v2 cpu.max) and keeps what was there for restore_cpu_quotas. A cgroup of
// another controller has neither file. A quota that cannot be read or lifted stays as it is: the
// task starts more slowly, nothing worse.
static void lift_cpu_quotas(void) {
  static const struct {
    const char *file;
    const char *unlimited;
  } kinds[] = {{"cpu.cfs_quota_us", "-1"}, {"cpu.max", "max"}};
  for (size_t i = 0; i < cfg.ncgroups; i++) {
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
      struct quota *q = &quotas[nquotas];
      snprintf(q->path, sizeof q->path, "%s/%s", cfg.cgroups[i], kinds[k].file);
      int err = read_small(q->path, q->value, sizeof q->value);
      if (err == ENOENT) continue;
      if (err != 0) {
        diag("cannot read %s: %s", q->path, strerror(err));
        break;
      }
      // "-1" (v1) and "max 100000" (v2): no quota to lift.
      if (strncmp(q->value, kinds[k].unlimited, strlen(kinds[k].unlimited)) == 0) break;
      err = write_file(q->path, kinds[k].unlimited);
      if (err != 0) diag("cannot lift the cpu quota in %s: %s", q->path, strerror(err));
      else nquotas++;
      break;
    }
  }
}

// restore_cpu_quotas puts back what lift_cpu_quotas lifted; false (with the error set) when it cannot.
static bool restore_cpu_quotas(void) {
  for (size_t i = 0; i < nquotas; i++) {
    int err = write_file(quotas[i].path, quotas[i].value);
    if (err != 0) {
      set_error("cannot put back the cpu quota \"%s\" in %s: %s", quotas[i].value, quotas[i].path, strerror(err));
      return false;
    }
  }
  nquotas = 0;
  return true;
}

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#if !defined(SYS_clone3) && defined(__NR_clone3)
#define SYS_clone3 __NR_clone3
#endif

// The clone3 arguments up to cgroup (CLONE_ARGS_SIZE_VER2), spelled out so that old kernel headers
// do not matter.
struct clone3_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

// fork_init forks init. When one of the task's cgroups is on cgroup v2, init is born in it (clone3
// with CLONE_INTO_CGROUP, Linux 5.7) and does not join it later; where the kernel cannot (older,
// or it refuses the cgroup), a plain fork, and init joins by writing cgroup.procs as on v1, which
// reports the real error if there is one. After a raw clone3 the C library's cached thread id is
// the outer's; init never uses it (no raise, abort or pthread_kill), and its own children, forked
// through the library, have theirs right.
static pid_t fork_init(void) {
#ifdef SYS_clone3
  for (size_t i = 0; i < cfg.ncgroups; i++) {
    struct statfs fs;
    if (statfs(cfg.cgroups[i], &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC) continue;
    // An O_PATH descriptor will not do: the kernel wants the cgroup's directory opened.
    int dir = open(cfg.cgroups[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) break;
    struct clone3_args args = {.flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)dir};
    long pid = syscall(SYS_clone3, &args, sizeof args);
    int err = errno;
    if (pid == 0) {
      born_in = (long)i;
      close(dir);
      return 0;
    }
    close(dir);
    if (pid > 0) return (pid_t)pid;
    diag("clone3 into cgroup %s: %s; init joins it after a fork instead", cfg.cgroups[i], strerror(err));
    break;
  }
#endif
  return fork();
}

static int stream_open(struct stream *s) {
  int fd = openat(sandbox_fd, s->name, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  struct stat st;
  // The task may write its sandbox: refuse what it could have planted under the name (a fifo, a
  // device, a hard link to a file elsewhere).
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink > 1) {
    close(fd);
    return EINVAL;
  }
  s->fd = fd;
  s->size = (unsigned long long)st.st_size;
  return 0;
}

// stream_rotate shifts name.(K-1) to name.K ... name to name.1 (the oldest beyond K is replaced)
// and starts a fresh file.
static void stream_rotate(struct stream *s) {
  close(s->fd);
  s->fd = -1;
  char from[64], to[64];
  if (cfg.log_max_files == 0) {
    if (unlinkat(sandbox_fd, s->name, 0) != 0 && errno != ENOENT) diag("cannot remove %s: %s", s->name, strerror(errno));
  } else {
    for (int i = cfg.log_max_files - 1; i >= 0; i--) {
      if (i == 0) snprintf(from, sizeof from, "%s", s->name);
      else snprintf(from, sizeof from, "%s.%d", s->name, i);
      snprintf(to, sizeof to, "%s.%d", s->name, i + 1);
      if (renameat(sandbox_fd, from, sandbox_fd, to) != 0 && errno != ENOENT) {
        diag("cannot rename %s to %s: %s", from, to, strerror(errno));
      }
    }
  }
  int err = stream_open(s);
  if (err != 0) diag("cannot open %s/%s: %s", cfg.sandbox, s->name, strerror(err));
}

static void stream_write(struct stream *s, const char *data, size_t len) {
  if (s->fd < 0) {
    int err = stream_open(s);
    if (err != 0) {
      if (!s->complained) diag("cannot open %s/%s, output is lost: %s", cfg.sandbox, s->name, strerror(err));
      s->complained = true;
      return;
    }
  }
  // A chunk bigger than the limit still goes whole into a fresh file: output is never cut.
  if (cfg.log_max_bytes > 0 && s->size > 0 && s->size + len > cfg.log_max_bytes) {
    stream_rotate(s);
    if (s->fd < 0) return;
  }
  if (!write_all(s->fd, data, len)) {
    if (!s->complained) diag("cannot write %s/%s, output is lost: %s", cfg.sandbox, s->name, strerror(errno));
    s->complained = true;
    return;
  }
  s->complained = false;
  s->size += len;
}

// stream_pump reads one chunk from the pipe into the file; at EOF it closes the pipe.
static void stream_pump(struct stream *s) {
  static char chunk[CHUNK];
  if (s->eof) return;
  ssize_t n = read(s->pipe_rd, chunk, sizeof chunk);
  if (n > 0) {
    stream_write(s, chunk, (size_t)n);
  } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
    close(s->pipe_rd);
    s->pipe_rd = -1;
    s->eof = true;
  }
}

// handle_report applies one message from init: S/s (a process started, with its pid), R (all
// started), X (a process ended: c exit code | s signal), E (setup failed).
static void handle_report(const char *msg, const struct ucred *cred) {
  unsigned long long index;
  char kind;
  int value;
  char idx[24];
  if ((msg[0] == 'S' || msg[0] == 's') && sscanf(msg + 1, " %20s %d", idx, &value) == 2 &&
      parse_u64(idx, MAX_PROCS - 1, &index) && index < cfg.nprocs) {
    struct proc *p = &cfg.procs[index];
    p->started = true;
    p->pid = msg[0] == 'S' && cred != NULL && cred->pid > 0 ? cred->pid : value;
  } else if (strcmp(msg, "R") == 0) {
    run.ready = true;
    char pid[24];
    snprintf(pid, sizeof pid, "%d", (int)run.init_pid);
    // The quota holds before anyone hears the task runs; a task that would run without it is killed.
    if (!restore_cpu_quotas()) kill(run.init_pid, SIGUSR1);
    if (!have_error) ready_line("ready", pid);
  } else if (msg[0] == 'X' && sscanf(msg + 1, " %20s %c %d", idx, &kind, &value) == 3 &&
             parse_u64(idx, MAX_PROCS - 1, &index) && index < cfg.nprocs && (kind == 'c' || kind == 's')) {
    if (cfg.procs[index].ended || run.nendings >= MAX_PROCS) return;
    cfg.procs[index].ended = true;
    run.endings[run.nendings++] = (struct ending){.index = index, .signalled = kind == 's', .value = value};
  } else if (msg[0] == 'E' && msg[1] == ' ') {
    run.init_reported_error = true;
    set_error("%s", msg + 2);
  } else {
    diag("unexpected report from init: %.80s", msg);
  }
}

// read_reports drains the socket from init; returns false at EOF (init is gone).
static bool read_reports(int sock) {
  for (;;) {
    char msg[MSG_MAX + 1];
    union {
      char buf[CMSG_SPACE(sizeof(struct ucred))];
      struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = msg, .iov_len = MSG_MAX};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf};
    ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return true;
      diag("cannot read reports from init: %s", strerror(errno));
      return false;
    }
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) continue;
    msg[n] = '\0';
    const struct ucred *cred = NULL;
    struct ucred c;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h != NULL; h = CMSG_NXTHDR(&mh, h)) {
      if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS && h->cmsg_len >= CMSG_LEN(sizeof c)) {
        memcpy(&c, CMSG_DATA(h), sizeof c);
        cred = &c;
      }
    }
    handle_report(msg, cred);
  }
}

static void ignore_signal(int sig) { (void)sig; }

static const char *usage =
    "usage: muster-supervisor run --sandbox DIR [--cgroup PATH]... [--user UID:GID[:G1,G2,...]] [--pid-ns]\n"
    "           [--mount-ns] [--grace-secs S] [--log-max-bytes N] [--log-max-files K] [--ready-fd FD]\n"
    "           --proc NAME CMD [--proc NAME CMD]...\n"
    "       muster-supervisor enter --target PID [--pid-ns] [--mount-ns] [--cgroup PATH]...\n"
    "           [--user UID:GID[:G...]] [--cwd DIR] -- ARGV...\n"
    "       muster-supervisor launcher   (requests on stdin; see the source)\n";

// parse_run reads the options of `run`. It keeps going after a bad value where it can, so that a
// --ready-fd anywhere on the line is known and the agent hears the error. Returns the first error.
static const char *parse_run(int argc, char **argv, char *why, size_t size) {
  const char *bad = NULL;
#define BAD(...)                              \
  do {                                        \
    if (bad == NULL) {                        \
      snprintf(why, size, __VA_ARGS__);       \
      bad = why;                              \
    }                                         \
  } while (0)
  for (int i = 0; i < argc; i++) {
    const char *opt = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    unsigned long long v;
    if (strcmp(opt, "--pid-ns") == 0) {
      cfg.pid_ns = true;
      continue;
    }
    if (strcmp(opt, "--mount-ns") == 0) {
      cfg.mount_ns = true;
      continue;
    }
    bool known = strcmp(opt, "--sandbox") == 0 || strcmp(opt, "--cgroup") == 0 || strcmp(opt, "--user") == 0 ||
                 strcmp(opt, "--grace-secs") == 0 || strcmp(opt, "--log-max-bytes") == 0 ||
                 strcmp(opt, "--log-max-files") == 0 || strcmp(opt, "--ready-fd") == 0 || strcmp(opt, "--proc") == 0;
    if (!known) {
      BAD("unknown option %.64s", opt);
      break;
    }
    if (val == NULL || (strcmp(opt, "--proc") == 0 && i + 2 >= argc)) {
      BAD("%s needs a value", opt);
      break;
    }
    i++;
    if (strcmp(opt, "--sandbox") == 0) {
      if (!valid_path(val)) BAD("--sandbox must be an absolute path");
      cfg.sandbox = val;
    } else if (strcmp(opt, "--cgroup") == 0) {
      if (!valid_path(val)) BAD("--cgroup must be an absolute path");
      else if (cfg.ncgroups >= MAX_CGROUPS) BAD("at most %d --cgroup", MAX_CGROUPS);
      else cfg.cgroups[cfg.ncgroups++] = val;
    } else if (strcmp(opt, "--user") == 0) {
      if (!parse_user(val, &cfg.user)) BAD("--user must be UID:GID[:G1,G2,...] with at most %d groups", MAX_GROUPS);
    } else if (strcmp(opt, "--grace-secs") == 0) {
      if (!parse_secs(val, &cfg.grace_ms)) BAD("--grace-secs must be a number of seconds up to a week");
    } else if (strcmp(opt, "--log-max-bytes") == 0) {
      if (!parse_u64(val, MAX_LOG_BYTES, &cfg.log_max_bytes)) BAD("--log-max-bytes must be an integer up to 2^50");
    } else if (strcmp(opt, "--log-max-files") == 0) {
      if (!parse_u64(val, MAX_LOG_FILES, &v)) BAD("--log-max-files must be an integer up to %d", MAX_LOG_FILES);
      else cfg.log_max_files = (int)v;
    } else if (strcmp(opt, "--ready-fd") == 0) {
      if (!parse_u64(val, INT_MAX, &v) || v < 3 || fcntl((int)v, F_GETFD) < 0) BAD("--ready-fd must be an open descriptor above 2");
      else cfg.ready_fd = (int)v;
    } else {
      const char *cmd = argv[++i];
      if (!valid_name(val)) BAD("process name \"%.64s\" must be 1-%d of a-z 0-9 _ -", val, MAX_NAME);
      else if (cmd[0] == '\0' || strlen(cmd) > MAX_CMD) BAD("the command of process %s must be 1 to %d bytes", val, MAX_CMD);
      else if (cfg.nprocs >= MAX_PROCS) BAD("at most %d --proc", MAX_PROCS);
      else {
        for (size_t j = 0; j < cfg.nprocs; j++) {
          if (strcmp(cfg.procs[j].name, val) == 0) BAD("process name %s is given twice", val);
        }
        cfg.procs[cfg.nprocs++] = (struct proc){.name = val, .cmd = cmd};
      }
    }
  }
  if (cfg.sandbox == NULL) BAD("--sandbox is required");
  if (cfg.nprocs == 0) BAD("at least one --proc is required");
#undef BAD
  return bad;
}

static int cmd_run(int argc, char **argv) {
  // Signals first: a SIGTERM from the agent must not kill us before we can forward it.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, NULL);
  // Handlers (never run while blocked) rather than SIG_DFL: a pid namespace's init drops signals
  // whose disposition is the default.
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = ignore_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGCHLD, &sa, NULL);
  // The agent's terminal (or a dying agent's pipe) must not take tasks down.
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  started_at = now_ms();

  // Descriptors 0-2 must be taken, or a pipe we create could land there and be clobbered by dup2.
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0) return 1;
  }

  char why[MSG_MAX];
  const char *bad = parse_run(argc, argv, why, sizeof why);
  if (cfg.ready_fd >= 0) fcntl(cfg.ready_fd, F_SETFD, FD_CLOEXEC);
  if (bad != NULL) {
    set_error("%s", bad);
    fputs(usage, stderr);
    return 2;
  }

  if (setsid() < 0 && errno != EPERM) diag("setsid: %s", strerror(errno));
  write_file("/proc/self/oom_score_adj", "-1000");

  sandbox_fd = open(cfg.sandbox, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (sandbox_fd < 0) fail_before_init("cannot open the sandbox %s: %s", cfg.sandbox, strerror(errno));
  meta_fd = openat(sandbox_fd, ".muster", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (meta_fd < 0) fail_before_init("cannot open %s/.muster: %s", cfg.sandbox, strerror(errno));
  struct stat st;
  if (fstat(meta_fd, &st) != 0 || st.st_uid != geteuid()) {
    int fd = meta_fd;
    meta_fd = -1;  // not ours: write nothing there
    close(fd);
    fail_before_init("%s/.muster is not owned by uid %u", cfg.sandbox, (unsigned)geteuid());
  }
  // A relaunch in the same sandbox must not be mistaken for the end of the previous run.
  if (unlinkat(meta_fd, "exit.json", 0) != 0 && errno != ENOENT) {
    fail_before_init("cannot remove the old %s/.muster/exit.json: %s", cfg.sandbox, strerror(errno));
  }

  struct stream streams[2] = {{.name = "stdout", .fd = -1}, {.name = "stderr", .fd = -1}};
  for (int i = 0; i < 2; i++) {
    int err = stream_open(&streams[i]);
    if (err != 0) fail_before_init("cannot open %s/%s: %s", cfg.sandbox, streams[i].name, strerror(err));
  }
  int out_pipe[2], err_pipe[2], sv[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) fail_before_init("pipe: %s", strerror(errno));
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) fail_before_init("socketpair: %s", strerror(errno));
  int one = 1;
  if (setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) fail_before_init("SO_PASSCRED: %s", strerror(errno));
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) fail_before_init("signalfd: %s", strerror(errno));
  streams[0].pipe_rd = out_pipe[0];
  streams[1].pipe_rd = err_pipe[0];

  if (cfg.pid_ns && unshare(CLONE_NEWPID) != 0) fail_before_init("cannot create a pid namespace: %s", strerror(errno));
  lift_cpu_quotas();
  pid_t outer = getpid();
  pid_t init = fork_init();
  if (init < 0) fail_before_init("cannot fork init: %s", strerror(errno));
  if (init == 0) {
    // Init keeps only what it needs: the write ends of the log pipes, its socket, the sandbox.
    close(sfd);
    close(out_pipe[0]);
    close(err_pipe[0]);
    close(sv[0]);
    close(streams[0].fd);
    close(streams[1].fd);
    close(meta_fd);
    if (cfg.ready_fd >= 0) close(cfg.ready_fd);
    cfg.ready_fd = -1;
    report_sock = sv[1];
    out_wr = out_pipe[1];
    err_wr = err_pipe[1];
    init_main(outer);
  }
  run.init_pid = init;
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(sv[1]);
  for (int i = 0; i < 2; i++) fcntl(streams[i].pipe_rd, F_SETFL, O_NONBLOCK);

  bool init_alive = true, sock_open = true;
  int init_status = 0;
  long long init_end = 0;
  for (;;) {
    // After init, output may still be in the pipes; a stray process outside a pid namespace could
    // hold them open for ever, so the wait for their end is bounded.
    if (!init_alive) {
      if ((!sock_open && streams[0].eof && streams[1].eof) || mono_ms() >= init_end + DRAIN_MS) break;
    }
    struct pollfd pfd[4] = {
        {.fd = sfd, .events = POLLIN},
        {.fd = sock_open ? sv[0] : -1, .events = POLLIN},
        {.fd = streams[0].pipe_rd, .events = POLLIN},
        {.fd = streams[1].pipe_rd, .events = POLLIN},
    };
    int timeout = -1;
    if (!init_alive) {
      long long left = init_end + DRAIN_MS - mono_ms();
      timeout = left < 0 ? 0 : (int)left;
    }
    if (poll(pfd, 4, timeout) < 0 && errno != EINTR) diag("poll: %s", strerror(errno));

    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
      if (!init_alive || si.ssi_signo == SIGCHLD) continue;
      // Repeated requests are forwarded again; "killed" keeps the strongest one asked for.
      if (si.ssi_signo == SIGTERM) {
        if (run.killed == KILLED_NONE) run.killed = KILLED_TERM;
        kill(init, SIGTERM);
      } else if (si.ssi_signo == SIGUSR1) {
        run.killed = KILLED_KILL;
        kill(init, SIGUSR1);
      }
    }
    if (sock_open) sock_open = read_reports(sv[0]);
    for (int i = 0; i < 2; i++) {
      if (pfd[2 + i].revents != 0) stream_pump(&streams[i]);
    }
    if (init_alive && waitpid(init, &init_status, WNOHANG) == init) {
      init_alive = false;
      init_end = mono_ms();
      run.ended_at = now_ms();
      // Without a pid namespace, the processes of an init that was killed are orphans, not dead:
      // kill them, so that the signal 9 the exit file records is true. Their groups are still
      // theirs: a leader init never reaped is a zombie until its new parent reaps it.
      if (!cfg.pid_ns && WIFSIGNALED(init_status)) {
        for (size_t i = 0; i < cfg.nprocs; i++) {
          if (cfg.procs[i].started && !cfg.procs[i].ended) kill(-cfg.procs[i].pid, SIGKILL);
        }
      }
    }
  }
  close(sv[0]);

  if (!run.ready && !have_error) {
    if (WIFSIGNALED(init_status)) set_error("init was killed by signal %d before the task started", WTERMSIG(init_status));
    else set_error("init exited with status %d before the task started", WEXITSTATUS(init_status));
  }
  for (int i = 0; i < 2; i++) {
    if (streams[i].fd >= 0) close(streams[i].fd);
  }
  return write_exit_file() ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// enter: run a command inside a running task

static volatile sig_atomic_t enter_child = 0;

static void forward_signal(int sig) {
  if (enter_child > 0) kill(-enter_child, sig);
}

static void enter_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void enter_fail(int code, const char *fmt, ...) {
  char msg[MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  format_line(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "muster-supervisor enter: %s\n", msg);
  _exit(code);
}

static int cmd_enter(int argc, char **argv) {
  role = "enter";
  pid_t target = 0;
  const char *cwd = NULL;
  int i = 0;
  for (; i < argc; i++) {
    const char *opt = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    unsigned long long v;
    if (strcmp(opt, "--") == 0) {
      i++;
      break;
    } else if (strcmp(opt, "--pid-ns") == 0) {
      cfg.pid_ns = true;
    } else if (strcmp(opt, "--mount-ns") == 0) {
      cfg.mount_ns = true;
    } else if (val == NULL) {
      enter_fail(125, "%.64s: unknown option or missing value", opt);
    } else if (strcmp(opt, "--target") == 0) {
      if (!parse_u64(val, 4194304, &v) || v < 2) enter_fail(125, "--target must be a pid above 1");
      target = (pid_t)v;
      i++;
    } else if (strcmp(opt, "--cgroup") == 0) {
      if (!valid_path(val) || cfg.ncgroups >= MAX_CGROUPS) enter_fail(125, "--cgroup must be an absolute path (at most %d)", MAX_CGROUPS);
      cfg.cgroups[cfg.ncgroups++] = val;
      i++;
    } else if (strcmp(opt, "--user") == 0) {
      if (!parse_user(val, &cfg.user)) enter_fail(125, "--user must be UID:GID[:G1,G2,...]");
      i++;
    } else if (strcmp(opt, "--cwd") == 0) {
      if (!valid_path(val)) enter_fail(125, "--cwd must be an absolute path");
      cwd = val;
      i++;
    } else {
      enter_fail(125, "unknown option %.64s", opt);
    }
  }
  if (target == 0) enter_fail(125, "--target is required");
  if (i >= argc) enter_fail(125, "nothing to run: give the command after --");
  char **command = argv + i;

  const char *cgroup = NULL;
  int err = join_cgroups(&cgroup);
  if (err != 0) enter_fail(125, "cannot join cgroup %s: %s", cgroup, strerror(err));
  // The working directory is opened here, in the agent's mount namespace, and entered with fchdir
  // once inside: the task's user may not be able to walk the path from /. Once in the task's mount
  // namespace it is opened again there (see below).
  int cwd_dir = -1;
  if (cwd != NULL && (cwd_dir = open(cwd, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    enter_fail(125, "cannot open %s: %s", cwd, strerror(errno));
  }
  // Open both namespaces before entering either: inside the task's mount namespace /proc is the
  // task's own, where the host pid of its init does not exist.
  int mnt = -1, pidns = -1;
  char path[64];
  if (cfg.mount_ns) {
    snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)target);
    if ((mnt = open(path, O_RDONLY | O_CLOEXEC)) < 0) enter_fail(125, "cannot open %s: %s", path, strerror(errno));
  }
  if (cfg.pid_ns) {
    snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)target);
    if ((pidns = open(path, O_RDONLY | O_CLOEXEC)) < 0) enter_fail(125, "cannot open %s: %s", path, strerror(errno));
  }
  if (mnt >= 0 && setns(mnt, CLONE_NEWNS) != 0) {
    enter_fail(125, "cannot enter the mount namespace of pid %d: %s", (int)target, strerror(errno));
  }
  // A directory opened in the agent's namespace lies on a mount the task's namespace does not
  // have: getcwd() there finds no path ("(unreachable)"), and the C library's fallback walks up
  // through directories the task's user may not list (sandboxes/ is 0711), so a shell complains.
  // The supervisor binds the sandbox at its own path in the task's namespace: open it there, and
  // use it when it is the same directory (a task may have moved what leads to it).
  if (mnt >= 0 && cwd_dir >= 0) {
    int inside = open(cwd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat a, b;
    if (inside >= 0 && fstat(inside, &a) == 0 && fstat(cwd_dir, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
      close(cwd_dir);
      cwd_dir = inside;
    } else if (inside >= 0) {
      close(inside);
    }
  }
  if (pidns >= 0 && setns(pidns, CLONE_NEWPID) != 0) {
    enter_fail(125, "cannot enter the pid namespace of pid %d: %s", (int)target, strerror(errno));
  }

  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, &old);
  pid_t child = fork();
  if (child < 0) enter_fail(125, "fork: %s", strerror(errno));
  if (child == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    reset_signals();
    enum step step = STEP_STDIO;
    err = become_user(&cfg.user, &step);
    if (err != 0) {
      char msg[MSG_MAX];
      user_error(msg, sizeof msg, step, err);
      enter_fail(125, "%s", msg);
    }
    if (cwd_dir >= 0 && fchdir(cwd_dir) != 0) enter_fail(125, "cannot change to %s: %s", cwd, strerror(errno));
    execvp(command[0], command);
    enter_fail(127, "cannot run %.200s: %s", command[0], strerror(errno));
  }
  setpgid(child, child);
  enter_child = child;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigprocmask(SIG_SETMASK, &old, NULL);
  int status;
  for (;;) {
    pid_t r = waitpid(child, &status, 0);
    if (r == child) break;
    if (r < 0 && errno != EINTR) enter_fail(125, "waitpid: %s", strerror(errno));
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

// ---------------------------------------------------------------------------------------------
// launcher: starts supervisors for the agent, so that the agent never forks itself
//
// The agent is a Node process of a hundred MB or so; forking it to start a supervisor costs its
// event loop 10-25 ms (the kernel copies its page tables before the exec), which bounds how many
// tasks it can start a second and blocks everything else it does meanwhile. The agent starts one
// launcher instead and asks it to start each supervisor: the launcher is small, so its fork is
// cheap, and it runs beside the agent, not on its event loop. It is the supervisors' parent: it
// relays each one's ready line and its end to the agent, and reaps it only once the agent has
// heard of the end, so that until then its pid cannot be reused and a signal the agent sends by
// pid reaches no other process. When the agent goes (its end of our stdin closes), the launcher
// exits and leaves the supervisors running, as the agent's own children would have been.
//
// Requests, on stdin: a 4-byte little-endian length, then that many bytes of NUL-terminated
// strings. "run" ID LOG BINARY N ARG... M ENV... starts BINARY with the N arguments ARG... (argv[0]
// first) and the M strings ENV... as its environment, its stderr appended to the file LOG, its
// ready line on fd 3. "reap" ID reaps a supervisor whose end was reported.
// Replies, on stdout, a line each: "H" (ready), "S ID PID" (started), "F ID why" (not started),
// "L ID text" (its ready line), "C ID" (its fd 3 closed without a line), "X ID c CODE" or
// "X ID s SIGNAL" (it ended). A launcher that cannot watch its children with pidfds (Linux < 5.4)
// says "N why" and exits: the agent then forks supervisors itself.

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#if !defined(SYS_pidfd_open) && defined(__NR_pidfd_open)
#define SYS_pidfd_open __NR_pidfd_open
#endif

#define MAX_REQUEST (16 * 1024 * 1024)
#define MAX_ID_LEN 20

// One supervisor the launcher started: its pidfd is watched until it ends, its ready pipe until
// it gives a line or closes. Its slot is free again once both are done and the agent said "reap".
struct kid {
  bool used;
  char id[MAX_ID_LEN + 1];
  pid_t pid;
  int pidfd;  // -1 once reaped
  int ready;  // -1 once closed
  bool ended; // reported; waits for "reap"
  char line[MSG_MAX + 64];
  size_t len;
};

static struct kid *kids;
static size_t nkids;
static int epfd = -1;

// reply writes one line to the agent; an agent that is gone ends the launcher.
static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...) {
  char line[MSG_MAX + 128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t len = (size_t)n < sizeof line - 1 ? (size_t)n : sizeof line - 2;
  line[len++] = '\n';
  if (!write_all(STDOUT_FILENO, line, len)) _exit(0);
}

static struct kid *kid_by_id(const char *id) {
  for (size_t i = 0; i < nkids; i++) {
    if (kids[i].used && strcmp(kids[i].id, id) == 0) return &kids[i];
  }
  return NULL;
}

// new_kid finds a free slot (growing the table) and returns its index.
static size_t new_kid(void) {
  for (size_t i = 0; i < nkids; i++) {
    if (!kids[i].used) return i;
  }
  size_t n = nkids == 0 ? 64 : nkids * 2;
  struct kid *more = realloc(kids, n * sizeof *kids);
  if (more == NULL) {
    diag("out of memory");
    _exit(1);
  }
  memset(more + nkids, 0, (n - nkids) * sizeof *kids);
  kids = more;
  size_t at = nkids;
  nkids = n;
  return at;
}

static void free_if_done(struct kid *k) {
  if (k->ready < 0 && k->pidfd < 0) k->used = false;
}

static void watch(int fd, size_t slot, int kind) {
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)slot << 1) | (uint64_t)kind};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) diag("epoll_ctl: %s", strerror(errno));
}

static void close_ready(struct kid *k) {
  epoll_ctl(epfd, EPOLL_CTL_DEL, k->ready, NULL);
  close(k->ready);
  k->ready = -1;
  free_if_done(k);
}

// next_string takes the NUL-terminated string at *at in [*at, end); NULL when there is none.
static const char *next_string(const char **at, const char *end) {
  const char *s = *at;
  if (s >= end) return NULL;
  const char *nul = memchr(s, '\0', (size_t)(end - s));
  if (nul == NULL) return NULL;
  *at = nul + 1;
  return s;
}

static bool valid_id(const char *id) {
  size_t n = strlen(id);
  if (n == 0 || n > MAX_ID_LEN) return false;
  for (const char *p = id; *p != '\0'; p++) {
    if (*p < '0' || *p > '9') return false;
  }
  return true;
}

// launch_one starts one supervisor: "run" ID LOG BINARY N ARG... M ENV...
static void launch_one(const char *at, const char *end) {
  const char *id = next_string(&at, end);
  if (id == NULL || !valid_id(id)) {
    diag("a run request without a valid id");
    return;
  }
  const char *log = next_string(&at, end);
  const char *binary = next_string(&at, end);
  const char *count = next_string(&at, end);
  unsigned long long nargs = 0, nenv = 0;
  if (log == NULL || binary == NULL || count == NULL || !parse_u64(count, 100000, &nargs) || nargs == 0) {
    reply("F %s malformed request", id);
    return;
  }
  char **argv = calloc(nargs + 1, sizeof *argv);
  char **envp = NULL;
  bool ok = argv != NULL;
  for (unsigned long long i = 0; ok && i < nargs; i++) ok = (argv[i] = (char *)next_string(&at, end)) != NULL;
  count = ok ? next_string(&at, end) : NULL;
  ok = ok && count != NULL && parse_u64(count, 1000000, &nenv) && (envp = calloc(nenv + 1, sizeof *envp)) != NULL;
  for (unsigned long long i = 0; ok && i < nenv; i++) ok = (envp[i] = (char *)next_string(&at, end)) != NULL;
  if (!ok || kid_by_id(id) != NULL) {
    reply("F %s malformed request", id);
    free(argv);
    free(envp);
    return;
  }
  int rp[2];
  if (pipe2(rp, O_CLOEXEC) != 0) {
    reply("F %s pipe: %s", id, strerror(errno));
    free(argv);
    free(envp);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    // The supervisor gets what the agent's own spawn gave it: /dev/null in, out, its log as
    // stderr, the ready pipe as fd 3, nothing else; default signals, none blocked.
    int logfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0644);
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (logfd < 0 || nul < 0) {
      dprintf(rp[1], "error cannot open %s: %s\n", log, strerror(errno));
      _exit(127);
    }
    int hi_ready = fcntl(rp[1], F_DUPFD_CLOEXEC, 10);
    int hi_log = fcntl(logfd, F_DUPFD_CLOEXEC, 10);
    int hi_nul = fcntl(nul, F_DUPFD_CLOEXEC, 10);
    if (hi_ready < 0 || hi_log < 0 || hi_nul < 0 || dup2(hi_nul, 0) < 0 || dup2(hi_nul, 1) < 0 || dup2(hi_log, 2) < 0 ||
        dup2(hi_ready, 3) < 0) {
      _exit(127);
    }
    close_from(4);
    reset_signals();
    execve(binary, argv, envp);
    dprintf(3, "error cannot run %s: %s\n", binary, strerror(errno));
    _exit(127);
  }
  int err = errno;
  free(argv);
  free(envp);
  close(rp[1]);
  if (pid < 0) {
    close(rp[0]);
    reply("F %s fork: %s", id, strerror(err));
    return;
  }
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    // Not watched, it must not run: nothing of the task has started that its cgroups do not hold.
    err = errno;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(rp[0]);
    reply("F %s pidfd_open: %s", id, strerror(err));
    return;
  }
  fcntl(rp[0], F_SETFL, O_NONBLOCK);
  size_t slot = new_kid();
  struct kid *k = &kids[slot];
  *k = (struct kid){.used = true, .pid = pid, .pidfd = pidfd, .ready = rp[0]};
  snprintf(k->id, sizeof k->id, "%s", id);
  watch(rp[0], slot, 0);
  watch(pidfd, slot, 1);
  reply("S %s %d", id, (int)pid);
}

static void reap_one(const char *at, const char *end) {
  const char *id = next_string(&at, end);
  struct kid *k = id == NULL ? NULL : kid_by_id(id);
  if (k == NULL || !k->ended || k->pidfd < 0) {
    diag("reap of a supervisor that has not ended: %.24s", id == NULL ? "?" : id);
    return;
  }
  siginfo_t info;
  while (waitid((idtype_t)P_PIDFD, (id_t)k->pidfd, &info, WEXITED) != 0 && errno == EINTR) {
  }
  close(k->pidfd);
  k->pidfd = -1;
  free_if_done(k);
}

static void on_ready(struct kid *k) {
  for (;;) {
    ssize_t n = read(k->ready, k->line + k->len, sizeof k->line - 1 - k->len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n > 0) k->len += (size_t)n;
    k->line[k->len] = '\0';
    char *nl = memchr(k->line, '\n', k->len);
    if (nl != NULL || k->len == sizeof k->line - 1) {
      if (nl != NULL) *nl = '\0';
      reply("L %s %s", k->id, k->line);
      close_ready(k);
      return;
    }
    if (n <= 0) {
      reply("C %s", k->id);
      close_ready(k);
      return;
    }
  }
}

static void on_end(struct kid *k) {
  siginfo_t info;
  memset(&info, 0, sizeof info);
  if (waitid((idtype_t)P_PIDFD, (id_t)k->pidfd, &info, WEXITED | WNOWAIT | WNOHANG) != 0 || info.si_pid == 0) return;
  epoll_ctl(epfd, EPOLL_CTL_DEL, k->pidfd, NULL);
  k->ended = true;
  if (info.si_code == CLD_EXITED) reply("X %s c %d", k->id, info.si_status);
  else reply("X %s s %d", k->id, info.si_status);
}

static int cmd_launcher(void) {
  role = "launcher";
  // The agent decides when tasks stop: a Ctrl-C or hang-up meant for it must not end us.
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
  if (self < 0) {
    char why[128];
    snprintf(why, sizeof why, "N pidfd_open: %s\n", strerror(errno));
    ssize_t ignored = write(STDOUT_FILENO, why, strlen(why));
    (void)ignored;
    return 1;
  }
  close(self);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    diag("epoll_create1: %s", strerror(errno));
    return 1;
  }
  struct epoll_event in = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &in) != 0) {
    diag("epoll_ctl stdin: %s", strerror(errno));
    return 1;
  }
  reply("H");

  size_t cap = 64 * 1024, len = 0;
  char *buf = malloc(cap);
  if (buf == NULL) return 1;
  for (;;) {
    struct epoll_event evs[64];
    int n = epoll_wait(epfd, evs, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      diag("epoll_wait: %s", strerror(errno));
      return 1;
    }
    for (int i = 0; i < n; i++) {
      uint64_t tag = evs[i].data.u64;
      if (tag == UINT64_MAX) {
        if (len == cap) {
          // Only a request longer than the buffer gets here: grow up to the largest one allowed.
          size_t bigger = cap * 2;
          char *more = cap < MAX_REQUEST + 4 ? realloc(buf, bigger) : NULL;
          if (more == NULL) {
            diag("a request longer than %d bytes", MAX_REQUEST);
            return 1;
          }
          buf = more;
          cap = bigger;
        }
        ssize_t got = read(STDIN_FILENO, buf + len, cap - len);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return 0;  // the agent is gone: the supervisors run on
        len += (size_t)got;
        size_t off = 0;
        while (len - off >= 4) {
          const unsigned char *h = (const unsigned char *)buf + off;
          size_t size = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
          if (size > MAX_REQUEST) {
            diag("a request of %zu bytes", size);
            return 1;
          }
          if (len - off - 4 < size) break;
          const char *at = buf + off + 4, *end = at + size;
          const char *verb = next_string(&at, end);
          if (verb != NULL && strcmp(verb, "run") == 0) launch_one(at, end);
          else if (verb != NULL && strcmp(verb, "reap") == 0) reap_one(at, end);
          else diag("unknown request %.16s", verb == NULL ? "?" : verb);
          off += 4 + size;
        }
        memmove(buf, buf + off, len - off);
        len -= off;
        continue;
      }
      struct kid *k = &kids[tag >> 1];
      if (!k->used) continue;
      if ((tag & 1) == 0 && k->ready >= 0) on_ready(k);
      else if ((tag & 1) == 1 && !k->ended && k->pidfd >= 0) on_end(k);
    }
  }
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "run") == 0) return cmd_run(argc - 2, argv + 2);
  if (argc == 2 && strcmp(argv[1], "launcher") == 0) return cmd_launcher();
  if (argc >= 2 && strcmp(argv[1], "enter") == 0) return cmd_enter(argc - 2, argv + 2);
  fputs(usage, stderr);
  return 2;
}
