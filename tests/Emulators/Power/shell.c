/* The login command of every emulated endpoint (sshd's ForceCommand), the compiled twin of shell.py: hands the
 * command the SSH client sent (SSH_ORIGINAL_COMMAND) and, for dd, its standard input to the frame's server, gives
 * back its output and exit code, and kills this session's sshd when the server injects a dropped connection.
 * Usage: shell hmc|vios|slot FRAME [SLOT] */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

static char *grow(char *buf, size_t *cap, size_t need) {
    if (need <= *cap) return buf;
    while (*cap < need) *cap = *cap ? *cap * 2 : 65536;
    buf = realloc(buf, *cap);
    if (!buf) exit(99);
    return buf;
}

static void kill_session(void) {
    pid_t pid = getppid();
    for (int i = 0; i < 5 && pid > 1; i++) {
        char path[64], stat[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f) break;
        size_t n = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[n] = 0;
        char *open = strchr(stat, '('), *close = strrchr(stat, ')');
        if (!open || !close) break;
        if (close - open - 1 == 4 && strncmp(open + 1, "sshd", 4) == 0) { kill(pid, SIGKILL); break; }
        int ppid = 0;
        char state;
        if (sscanf(close + 2, "%c %d", &state, &ppid) != 2) break;
        pid = ppid;
    }
    _exit(255);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *role = argv[1], *root = argv[2], *slot = argc > 3 ? argv[3] : "";
    const char *line = getenv("SSH_ORIGINAL_COMMAND");
    if (!line) line = "";
    size_t cap = 0, len = 4;
    char *body = grow(NULL, &cap, 4 + strlen(role) + strlen(slot) + strlen(line) + 3);
    len += sprintf(body + len, "%s", role) + 1;
    len += sprintf(body + len, "%s", slot) + 1;
    len += sprintf(body + len, "%s", line) + 1;
    if (strncmp(line, "dd ", 3) == 0) {
        ssize_t n;
        for (;;) {
            body = grow(body, &cap, len + 65536);
            n = read(0, body + len, 65536);
            if (n <= 0) break;
            len += (size_t)n;
        }
    }
    uint32_t size = (uint32_t)(len - 4);
    body[0] = size >> 24; body[1] = size >> 16; body[2] = size >> 8; body[3] = size;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/run/emulator.sock", root);
    if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("emulator"); return 98; }
    for (size_t off = 0; off < len;) {
        ssize_t n = write(s, body + off, len - off);
        if (n <= 0) return 98;
        off += (size_t)n;
    }
    size_t got = 0, rcap = 0;
    char *reply = NULL;
    for (;;) {
        reply = grow(reply, &rcap, got + 65536);
        ssize_t n = read(s, reply + got, 65536);
        if (n <= 0) break;
        got += (size_t)n;
    }
    if (got < 13) return 98;
    unsigned char *r = (unsigned char *)reply;
    int32_t rc = (int32_t)((uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3]);
    int drop = r[4];
    uint32_t nout = (uint32_t)r[5] << 24 | (uint32_t)r[6] << 16 | (uint32_t)r[7] << 8 | r[8];
    uint32_t nerr = (uint32_t)r[9] << 24 | (uint32_t)r[10] << 16 | (uint32_t)r[11] << 8 | r[12];
    if (13 + (size_t)nout + nerr > got) return 98;
    fwrite(reply + 13, 1, nout, stdout);
    fwrite(reply + 13 + nout, 1, nerr, stderr);
    fflush(stdout);
    fflush(stderr);
    if (drop) kill_session();
    return rc;
}
