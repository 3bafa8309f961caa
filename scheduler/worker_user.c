/*
 * worker_user.c: worker.user's rules, checked on the daemon's side.
 */
#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "jobs.h"
#include "worker_user.h"

int
worker_user_check(
    const char *name, uid_t self, uid_t *ret_uid, char *why, size_t size)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int r;

	if (name == NULL)
		name = JOB_WORKER_USER_DEFAULT;
	r = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (r != 0 || res == NULL) {
		snprintf(why, size,
		    "worker.user %s does not exist%s%s (create it: useradd "
		    "--system --no-create-home --shell /usr/sbin/nologin %s)",
		    name, r != 0 ? ": " : "", r != 0 ? strerror(r) : "", name);
		return -ENOENT;
	}
	if (pw.pw_uid == 0 || pw.pw_gid == 0) {
		snprintf(why, size,
		    "worker.user %s is %s 0: workers must never run as root",
		    name, pw.pw_uid == 0 ? "uid" : "in group");
		return -EPERM;
	}
	if (self != WORKER_USER_NO_SELF && pw.pw_uid == self) {
		snprintf(why, size,
		    "worker.user %s is rotad's own uid %u: a worker would "
		    "own the master key, the store and the control socket; "
		    "give workers a user of their own",
		    name, (unsigned)self);
		return -EPERM;
	}
	if (ret_uid != NULL)
		*ret_uid = pw.pw_uid;
	return 0;
}

int
worker_user_caps(char *why, size_t size)
{
	static const struct {
		int cap;
		const char *name;
	} need[] = {
		{ CAP_SETUID, "CAP_SETUID" },
		{ CAP_SETGID, "CAP_SETGID" },
		{ CAP_KILL, "CAP_KILL" },
	};
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0
	};
	struct __user_cap_data_struct data[2];
	size_t i, len = 0;
	bool ok;

	if (geteuid() == 0)
		return 0;
	memset(data, 0, sizeof(data));
	(void)syscall(SYS_capget, &h, data);
	why[0] = '\0';
	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		ok = (data[need[i].cap / 32].effective &
			 (1U << (need[i].cap % 32))) != 0 &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, need[i].cap, 0,
			0) == 1;
		if (!ok && len < size)
			len += (size_t)snprintf(why + len, size - len, "%s%s",
			    len > 0 ? " " : "", need[i].name);
	}
	if (len == 0)
		return 0;
	if (len < size)
		snprintf(why + len, size - len,
		    " missing from rotad's effective and ambient "
		    "capabilities: as uid %u it cannot switch its workers "
		    "to worker.user (each will refuse to run) nor end them "
		    "at their deadline (systemd: "
		    "AmbientCapabilities=CAP_SETUID CAP_SETGID CAP_KILL)",
		    (unsigned)geteuid());
	return -EPERM;
}
