// Compiles the sandbox's seccomp policy to classic BPF with libseccomp, in the supervisor,
// before any fork: the child only loads the finished program (as crun does).
#define _GNU_SOURCE
#include "hearth_spawn.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <unistd.h>

int hearth_seccomp_known(const char *name) {
    return seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR;
}

static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned count,
                const struct scmp_arg_cmp *cmps, char *err, size_t err_len) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return 0;  // not on this architecture
    int rc = seccomp_rule_add_array(ctx, action, nr, count, cmps);
    if (rc < 0) snprintf(err, err_len, "seccomp rule for %s: %s", name, strerror(-rc));
    return rc;
}

int hearth_seccomp_compile(const char *const *allow, size_t n_allow,
                           const uint64_t *personality, size_t n_personality,
                           uint64_t clone_denied_flags,
                           void **out, size_t *out_len, char *err, size_t err_len) {
    *out = NULL;
    *out_len = 0;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (ctx == NULL) {
        snprintf(err, err_len, "seccomp_init failed");
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < n_allow && rc == 0; i++) rc = rule(ctx, SCMP_ACT_ALLOW, allow[i], 0, NULL, err, err_len);

    // clone: only without namespace flags (arg 0 on every architecture we build for).
    if (rc == 0) {
        struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, clone_denied_flags, 0);
        rc = rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &c, err, err_len);
    }
    // clone3 passes its flags in memory, which BPF cannot inspect: ENOSYS makes libcs and
    // language runtimes fall back to clone, whose flags we can check.
    if (rc == 0) rc = rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err, err_len);
    for (size_t i = 0; i < n_personality && rc == 0; i++) {
        struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, personality[i]);
        rc = rule(ctx, SCMP_ACT_ALLOW, "personality", 1, &c, err, err_len);
    }
    // socket: local, IP and netlink (for getifaddrs), but no raw packets and no audit.
    static const int families[] = {AF_UNIX, AF_INET, AF_INET6};
    for (size_t i = 0; i < sizeof families / sizeof families[0] && rc == 0; i++) {
        struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]);
        rc = rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &c, err, err_len);
    }
    if (rc == 0) {
        struct scmp_arg_cmp c[2] = {SCMP_A0(SCMP_CMP_EQ, AF_NETLINK), SCMP_A2(SCMP_CMP_NE, NETLINK_AUDIT)};
        rc = rule(ctx, SCMP_ACT_ALLOW, "socket", 2, c, err, err_len);
    }

    int fd = -1;
    if (rc == 0) {
        fd = memfd_create("hearth-seccomp", MFD_CLOEXEC);
        if (fd < 0) {
            rc = -errno;
            snprintf(err, err_len, "memfd_create: %s", strerror(errno));
        }
    }
    if (rc == 0) {
        rc = seccomp_export_bpf(ctx, fd);
        if (rc < 0) snprintf(err, err_len, "seccomp_export_bpf: %s", strerror(-rc));
    }
    if (rc == 0) {
        off_t size = lseek(fd, 0, SEEK_END);
        void *buf = size > 0 ? malloc((size_t)size) : NULL;
        if (buf == NULL || pread(fd, buf, (size_t)size, 0) != size) {
            free(buf);
            rc = -EIO;
            snprintf(err, err_len, "reading the compiled seccomp program failed");
        } else {
            *out = buf;
            *out_len = (size_t)size / 8;  // sizeof(struct sock_filter)
        }
    }
    if (fd >= 0) close(fd);
    seccomp_release(ctx);
    return rc;
}
