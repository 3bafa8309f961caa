/*
 * fsutil: small file-system helpers every process may use.
 *
 * libc only.
 */
#ifndef ROTAD_FSUTIL_H
#define ROTAD_FSUTIL_H

/*
 * fsync the directory that holds PATH (the current one when PATH has no
 * slash), so that a new or renamed entry in it survives a crash.  0, or
 * -ENAMETOOLONG, or -errno from open(2) or fsync(2).
 */
int fsutil_fsync_dir(const char *path);

#endif
