// SPDX-License-Identifier: MIT
/*
 * lib/core/trace.c - timeline recording, written as Chrome trace-event JSON
 * (the "JSON Object Format" that Perfetto and chrome://tracing open).
 *
 * Recorded when m2d_sim_config.trace is set: lock holds (an 'X' slice named
 * after the class), waits ('X' "wait:<class>"), IPIs taken, thread start/
 * exit, and the model's own m2d_trace_begin/end/instant marks.  One trace
 * "thread" per simulated thread (tid = thread id; tid 0 of pid 2 is the
 * outside context).  Timestamps are virtual microseconds with ns precision.
 * Names must be string literals or outlive the sim.  At most
 * M2D_TRACE_MAX_EVENTS events are kept (the file says "truncated": true).
 */
#include "core/alloc.h"
#include "core/engine_internal.h"

#include <mmu2d/error.h>

#include <errno.h>
#include <stdio.h>

/* At most this many events (32 bytes each) are kept; later ones are dropped. */
#define M2D_TRACE_MAX_EVENTS (8u << 20)

void m2d_trace_record(struct m2d_sim *sim, int tid, char ph, const char *name, m2d_vtime_t ts,
		      m2d_vtime_t dur)
{
	struct trace_event *e;

	if (sim->trace_n == sim->trace_cap) {
		size_t cap = sim->trace_cap ? 2 * sim->trace_cap : 4096;

		if (sim->trace_cap >= M2D_TRACE_MAX_EVENTS) {
			sim->trace_truncated = true;
			return;
		}
		struct trace_event *a = m2d_realloc(M2D_ALLOC_TRACE, sim->trace,
						    sim->trace_cap * sizeof(*a), cap * sizeof(*a));

		if (!a) {
			sim->trace_oom = true;
			return;
		}
		sim->trace = a;
		sim->trace_cap = cap;
	}
	e = &sim->trace[sim->trace_n++];
	e->ts = ts;
	e->dur = dur;
	e->name = name;
	e->tid = tid;
	e->ph = ph;
}

void m2d_trace_free(struct m2d_sim *sim)
{
	m2d_free(M2D_ALLOC_TRACE, sim->trace, sim->trace_cap * sizeof(*sim->trace));
	sim->trace = NULL;
	sim->trace_n = sim->trace_cap = 0;
}

static void mark(char ph, const char *name)
{
	struct m2d_thread *t = cur_ctx();

	if (t && M2D_TRACE_ON(t->sim))
		m2d_trace_record(t->sim, ctx_tid(t), ph, name, t->hot.clock, 0);
}

void m2d_trace_begin(const char *name)
{
	mark('B', name);
}

void m2d_trace_end(const char *name)
{
	mark('E', name);
}

void m2d_trace_instant(const char *name)
{
	mark('i', name);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void ts_us(FILE *f, m2d_vtime_t ns)
{
	fprintf(f, "%llu.%03llu", (unsigned long long)(ns / 1000), (unsigned long long)(ns % 1000));
}

int m2d_sim_write_trace(const struct m2d_sim *sim, const char *path)
{
	FILE *f;
	int ret = 0;

	M2D_VALIDATE_OR_RET(sim && path, -EINVAL);
	if (!sim->cfg.trace)
		return -EINVAL;
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "{\"displayTimeUnit\": \"ns\", \"otherData\": {\"generator\": \"mmu2d\", "
		   "\"clock\": \"virtual\", \"truncated\": %s}, \"traceEvents\": [\n",
		sim->trace_truncated ? "true" : "false");
	fprintf(f, "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 0, "
		   "\"args\": {\"name\": \"simulated threads\"}},\n");
	fprintf(f, "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 2, \"tid\": 0, "
		   "\"args\": {\"name\": \"outside\"}}");
	for (const struct m2d_thread *t = sim->all; t; t = t->next_all) {
		fprintf(f, ",\n{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": %d, "
			   "\"args\": {\"name\": ", t->id);
		json_str(f, t->name);
		fprintf(f, "}}");
	}
	for (size_t i = 0; i < sim->trace_n; i++) {
		const struct trace_event *e = &sim->trace[i];

		fprintf(f, ",\n{\"name\": ");
		json_str(f, e->name);
		fprintf(f, ", \"ph\": \"%c\", \"pid\": %d, \"tid\": %d, \"ts\": ", e->ph,
			e->tid < 0 ? 2 : 1, e->tid < 0 ? 0 : e->tid);
		ts_us(f, e->ts);
		if (e->ph == 'X') {
			fprintf(f, ", \"dur\": ");
			ts_us(f, e->dur);
		} else if (e->ph == 'i') {
			fprintf(f, ", \"s\": \"t\"");
		}
		fputc('}', f);
	}
	fprintf(f, "\n]}\n");
	if (ferror(f))
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -EIO;
	if (!ret && sim->trace_oom)
		ret = -ENOMEM;
	return ret;
}
