/*
 * privdrop.c: become another user for good (privdrop.h).
 */
#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "privdrop.h"
#include "why.h"

/* The process's capability sets, through the raw system call (no
 * libcap): 0, or a negative errno. */
static int
caps_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0
	};

	memset(data, 0, 2 * sizeof(*data));
	if (syscall(SYS_capget, &h, data) < 0)
		return -errno;
	return 0;
}

static bool
cap_effective(const struct __user_cap_data_struct data[2], int cap)
{
	return (data[cap / 32].effective & (1U << (cap % 32))) != 0;
}

/* Whether this process may switch its ids to any user: root, or one
 * holding CAP_SETUID and CAP_SETGID. */
static bool
can_switch_ids(void)
{
	struct __user_cap_data_struct data[2];

	if (geteuid() == 0)
		return true;
	return caps_get(data) == 0 && cap_effective(data, CAP_SETUID) &&
	    cap_effective(data, CAP_SETGID);
}

/*
 * Empty the bounding set, so that nothing exec'd later can gain a
 * capability back.  It takes CAP_SETPCAP, which root has and a non-root
 * daemon's child does not: there the bounding set stays the unit's
 * (CapabilityBoundingSet=), inert once every other set is empty and
 * no_new_privs is set.  Called before the uid switch, while root still
 * holds CAP_SETPCAP.
 */
static int
drop_bounding_set(char *why, size_t size)
{
	struct __user_cap_data_struct data[2];
	int cap;

	if (caps_get(data) < 0 || !cap_effective(data, CAP_SETPCAP))
		return 0;
	for (cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return why_fail(why, size, -errno,
			    "cannot drop capability %d from the bounding set: "
			    "%s",
			    cap, strerror(errno));
	return 0;
}

/*
 * After the switch: no capability left in any set.  Leaving uid 0 empties
 * the permitted and effective sets by itself; a switch between two
 * non-root uids keeps them (and the ambient set), so they are cleared
 * here, and checked.
 */
static int
drop_caps(const char *name, char *why, size_t size)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0
	};
	struct __user_cap_data_struct data[2];

	/* EINVAL: a kernel without ambient capabilities has none to clear. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return why_fail(why, size, -errno,
		    "cannot clear the ambient capabilities: %s",
		    strerror(errno));
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &h, data) < 0)
		return why_fail(why, size, -errno,
		    "cannot drop capabilities: %s", strerror(errno));
	if (caps_get(data) < 0 || data[0].effective != 0 ||
	    data[1].effective != 0 || data[0].permitted != 0 ||
	    data[1].permitted != 0 || data[0].inheritable != 0 ||
	    data[1].inheritable != 0)
		return why_fail(why, size, -EPERM,
		    "capabilities left after dropping to %s", name);
	return 0;
}

int
privdrop_become(const char *what, const char *name, uid_t uid, gid_t gid,
    const char *hint, char *why, size_t size)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int r;

	if (uid == 0 || gid == 0)
		return why_fail(why, size, -EPERM,
		    "%s %s is root; refusing to run as root", what, name);
	if (getresuid(&ru, &eu, &su) < 0)
		return why_fail(
		    why, size, -errno, "getresuid: %s", strerror(errno));
	if (!can_switch_ids()) {
		if (ru != uid || eu != uid || su != uid)
			return why_fail(why, size, -EPERM,
			    "cannot switch to %s %s (uid %u): running as uid "
			    "%u without CAP_SETUID and CAP_SETGID%s; refusing "
			    "to run as uid %u",
			    what, name, (unsigned)uid, (unsigned)eu, hint,
			    (unsigned)eu);
		/* Already the user (started by hand): nothing to switch,
		 * and no capability to drop but ambient ones. */
		return drop_caps(name, why, size);
	}
	if ((r = drop_bounding_set(why, size)) < 0)
		return r;
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		return why_fail(why, size, -errno, "cannot drop to %s %s: %s",
		    what, name, strerror(errno));
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    ru != uid || eu != uid || su != uid || rg != gid || eg != gid ||
	    sg != gid || getgroups(0, NULL) != 0)
		return why_fail(why, size, -EPERM,
		    "ids did not change to %s %s", what, name);
	if ((r = drop_caps(name, why, size)) < 0)
		return r;
	if (setuid(0) == 0 || setgid(0) == 0)
		return why_fail(why, size, -EPERM,
		    "could regain root after dropping to %s", name);
	return 0;
}
