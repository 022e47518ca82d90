// SPDX-License-Identifier: MIT
/* sim/output.c - atomic output files (see output.h). */
#include "output.h"
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Temporary files to remove if a signal kills us (read by the handler). */
#define MAX_TMP 4
static char *volatile pending[MAX_TMP];

static void on_signal(int sig)
{
	for (int i = 0; i < MAX_TMP; i++)
		if (pending[i])
			unlink(pending[i]); /* async-signal-safe */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_handlers(void)
{
	static bool done;
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };

	if (done)
		return;
	done = true;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa = { .sa_handler = on_signal };

		sigemptyset(&sa.sa_mask);
		sigaction(sigs[i], &sa, NULL);
	}
}

static void track(char *tmp, bool add)
{
	for (int i = 0; i < MAX_TMP; i++) {
		if (add && !pending[i]) {
			pending[i] = tmp;
			return;
		}
		if (!add && pending[i] == tmp) {
			pending[i] = NULL;
			return;
		}
	}
}

int output_open(struct output *o, const char *option, const char *path, struct cli_error *err)
{
	char q[72];
	struct stat st;
	size_t n;
	mode_t mask;
	int ret;

	o->path = path;
	o->tmp = NULL;
	o->fd = -1;
	if (!strcmp(path, "-"))
		return 0;
	if (!stat(path, &st) && S_ISDIR(st.st_mode)) {
		cli_error_set(err, "--%s: expected a file name, got directory '%s'", option,
			      cli_quote(path, q, sizeof(q)));
		return -EISDIR;
	}
	n = strlen(path) + sizeof(".tmp.XXXXXX");
	o->tmp = malloc(n);
	if (!o->tmp) {
		cli_error_set(err, "--%s: out of memory", option);
		return -ENOMEM;
	}
	snprintf(o->tmp, n, "%s.tmp.XXXXXX", path);
	install_handlers();
	o->fd = mkstemp(o->tmp);
	if (o->fd < 0) {
		ret = -errno;
		cli_error_set(err, "--%s: cannot create '%s': %s", option,
			      cli_quote(path, q, sizeof(q)), strerror(errno));
		free(o->tmp);
		o->tmp = NULL;
		return ret;
	}
	track(o->tmp, true);
	/* mkstemp() makes 0600; give the file the mode a plain creat() would. */
	mask = umask(0);
	umask(mask);
	fchmod(o->fd, 0666 & ~mask);
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Close, and rename into place unless @ret already reports an error. */
static int finish(struct output *o, const char *option, int ret, struct cli_error *err)
{
	char q[72];

	if (!ret && close(o->fd))
		ret = -errno;
	else if (ret)
		close(o->fd);
	o->fd = -1;
	if (!ret && rename(o->tmp, o->path))
		ret = -errno;
	if (ret) {
		cli_error_set(err, "--%s: cannot write '%s': %s", option,
			      cli_quote(o->path, q, sizeof(q)), strerror(-ret));
		output_abort(o);
		return ret;
	}
	track(o->tmp, false);
	free(o->tmp);
	o->tmp = NULL;
	return 0;
}

int output_commit(struct output *o, const char *option, const void *data, size_t len,
		  struct cli_error *err)
{
	int ret;

	if (!strcmp(o->path, "-")) {
		ret = write_all(STDOUT_FILENO, data, len);
		if (ret)
			cli_error_set(err, "--%s: cannot write to stdout: %s", option, strerror(-ret));
		return ret;
	}
	ret = write_all(o->fd, data, len);
	return finish(o, option, ret, err);
}

int output_commit_file(struct output *o, const char *option, struct cli_error *err)
{
	return finish(o, option, 0, err);
}

void output_abort(struct output *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	if (o->tmp) {
		unlink(o->tmp);
		track(o->tmp, false);
		free(o->tmp);
		o->tmp = NULL;
	}
}
