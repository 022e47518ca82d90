// SPDX-License-Identifier: MIT
/*
 * lib/core/sim.c - a simulation: lifecycle, topology, cost parameters,
 * counters, the breakdown and the JSON members of every replayer's output.
 */
#include "core/alloc.h"
#include "core/engine_internal.h"

#include <mmu2d/error.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const counter_names[M2D_CTR_NR] = {
#define COUNTER(name, meaning) #name,
#include "core/counters.def"
#undef COUNTER
};

/* Lower-case profile keys, shared read-only by every sim. */
static char cost_keys[M2D_COST_NR][48];

/* Generation numbers let locks notice that they are used by a new sim. */
static uint32_t sim_generation;

static void cost_keys_init(void)
{
	for (int i = 0; i < M2D_COST_NR; i++) {
		size_t k;

		for (k = 0; m2d_cost_names[i][k] && k < sizeof(cost_keys[i]) - 1; k++)
			cost_keys[i][k] = (char)tolower((unsigned char)m2d_cost_names[i][k]);
		cost_keys[i][k] = '\0';
	}
}

void m2d_sim_locks_free(struct m2d_sim *sim);

void m2d_sim_config_default(struct m2d_sim_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nodes = 1;
	cfg->sockets = 1;
	cfg->cpus = 64;
	cfg->seed = 1;
	cfg->stack_size = 256 * 1024;
}

static int topology_init(struct m2d_sim *sim)
{
	unsigned cpus = sim->cfg.cpus, nodes = sim->cfg.nodes, sockets = sim->cfg.sockets;

	sim->cpu_node = m2d_calloc(M2D_ALLOC_ENGINE, cpus, sizeof(*sim->cpu_node));
	sim->node_socket = m2d_calloc(M2D_ALLOC_ENGINE, nodes, sizeof(*sim->node_socket));
	sim->distance = m2d_calloc(M2D_ALLOC_ENGINE, (size_t)nodes * nodes, 1);
	sim->by_cpu = m2d_calloc(M2D_ALLOC_ENGINE, cpus, sizeof(*sim->by_cpu));
	if (!sim->cpu_node || !sim->node_socket || !sim->distance || !sim->by_cpu)
		return -ENOMEM;
	/* CPUs spread evenly over nodes, nodes evenly over sockets. */
	for (unsigned c = 0; c < cpus; c++)
		sim->cpu_node[c] = (int)((uint64_t)c * nodes / cpus);
	for (unsigned n = 0; n < nodes; n++)
		sim->node_socket[n] = (unsigned)((uint64_t)n * sockets / nodes);
	for (unsigned a = 0; a < nodes; a++)
		for (unsigned b = 0; b < nodes; b++)
			sim->distance[a * nodes + b] =
				a == b ? 10 : sim->node_socket[a] == sim->node_socket[b] ? 12 : 21;
	return 0;
}

static void topology_fini(struct m2d_sim *sim)
{
	m2d_free(M2D_ALLOC_ENGINE, sim->cpu_node, sim->cfg.cpus * sizeof(*sim->cpu_node));
	m2d_free(M2D_ALLOC_ENGINE, sim->node_socket, sim->cfg.nodes * sizeof(*sim->node_socket));
	m2d_free(M2D_ALLOC_ENGINE, sim->distance, (size_t)sim->cfg.nodes * sim->cfg.nodes);
	m2d_free(M2D_ALLOC_ENGINE, sim->by_cpu, sim->cfg.cpus * sizeof(*sim->by_cpu));
}

int m2d_sim_create(struct m2d_sim **out, const struct m2d_sim_config *cfg)
{
	struct m2d_sim *sim;
	int ret;

	M2D_VALIDATE_OR_RET(out && cfg, -EINVAL);
	if (!cfg->cpus || cfg->cpus > M2D_MAX_CPUS || !cfg->nodes || cfg->nodes > cfg->cpus ||
	    !cfg->sockets || cfg->sockets > cfg->nodes || cfg->nodes > 255)
		return -EINVAL;
	if (!cost_keys[0][0])
		cost_keys_init();
	sim = m2d_zalloc(M2D_ALLOC_ENGINE, sizeof(*sim));
	if (!sim)
		return -ENOMEM;
	sim->cfg = *cfg;
	sim->cfg.profile = NULL;
	if (!sim->cfg.stack_size)
		sim->cfg.stack_size = 256 * 1024;
	if (sim->cfg.stack_size < 16 * 1024)
		sim->cfg.stack_size = 16 * 1024;
	sim->rng = cfg->seed;
	sim->gen = uatomic_add_return(&sim_generation, 1);
	sim->all_tail = &sim->all;
	sim->classes_tail = &sim->classes;
	m2d_ctx_init(sim, &sim->outside);
	sim->outside.name = (char *)"outside";
	m2d_rcu_init(sim);
	/* category 0 is plain work (m2d_thread_work), 1 the out-of-memory fallback */
	ret = -ENOMEM;
	if (m2d_category_get(sim, "", "work") != M2D_CAT_WORK ||
	    m2d_category_get(sim, "wait:", "(out of memory)") != M2D_CAT_OOM)
		goto err_destroy;
	sim->oom_class.sim = sim;
	sim->oom_class.name = sim->cats[M2D_CAT_OOM].name + 5;
	sim->oom_class.cat = M2D_CAT_OOM;
	ret = topology_init(sim);
	if (ret)
		goto err_destroy;
	if (cfg->profile) {
		ret = m2d_profile_load(sim, cfg->profile);
		if (ret)
			goto err_destroy;
	}
	*out = sim;
	return 0;

err_destroy:
	m2d_sim_destroy(&sim);
	return ret;
}

void m2d_sim_destroy(struct m2d_sim **psim)
{
	struct m2d_sim *sim = psim ? *psim : NULL;

	if (!sim)
		return;
	m2d_rcu_flush_all(sim);
	m2d_threads_free(sim);
	m2d_ctx_fini(&sim->outside);
	m2d_ctx_fini(&sim->rcu.cb_ctx);
	m2d_sim_locks_free(sim);
	m2d_lock_classes_free(sim);
	for (unsigned i = 0; i < sim->nr_cats; i++)
		m2d_free(M2D_ALLOC_ENGINE, sim->cats[i].name, strlen(sim->cats[i].name) + 1);
	m2d_free(M2D_ALLOC_ENGINE, sim->cats, sim->cap_cats * sizeof(*sim->cats));
	m2d_profile_free(sim);
	m2d_trace_free(sim);
	topology_fini(sim);
	if (m2d_cur && m2d_cur->sim == sim)
		m2d_cur = NULL;
	m2d_free(M2D_ALLOC_ENGINE, sim, sizeof(*sim));
	*psim = NULL;
}

/* ---- parameters ---------------------------------------------------------------------- */

static int param_index(const char *name)
{
	for (int i = 0; i < M2D_COST_NR; i++)
		if (!strcasecmp(m2d_cost_names[i], name))
			return i;
	return -1;
}

int m2d_sim_set_param(struct m2d_sim *sim, const char *name, double value)
{
	int i;

	M2D_VALIDATE_OR_RET(sim && name, -EINVAL);
	i = param_index(name);
	if (i < 0)
		return M2D_E_PARAM;
	if (m2d_cost_set(sim, i, value))
		return -EINVAL;
	m2d_free_str(M2D_ALLOC_PROFILE, sim->cost_src[i]);
	sim->cost_src[i] = m2d_strdup(M2D_ALLOC_PROFILE, "set");
	return 0;
}

int m2d_sim_get_param(const struct m2d_sim *sim, const char *name, double *out)
{
	int i;

	M2D_VALIDATE_OR_RET(sim && name && out, -EINVAL);
	i = param_index(name);
	if (i < 0)
		return M2D_E_PARAM;
	*out = sim->cost_ns[i];
	return 0;
}

unsigned m2d_sim_param_count(void)
{
	return M2D_COST_NR;
}

int m2d_sim_param_info(const struct m2d_sim *sim, unsigned idx, struct m2d_param_info *out)
{
	if (!sim || !out || idx >= M2D_COST_NR)
		return -EINVAL;
	out->name = cost_keys[idx];
	out->unit = m2d_cost_units[idx];
	out->meaning = m2d_cost_meanings[idx];
	out->source = sim->cost_src[idx];
	out->value = sim->cost_ns[idx];
	return 0;
}

const char *m2d_sim_profile_path(const struct m2d_sim *sim)
{
	return sim ? sim->profile_path : NULL;
}

/* ---- topology ------------------------------------------------------------------------- */

int m2d_sim_cpu_node(const struct m2d_sim *sim, unsigned cpu)
{
	M2D_VALIDATE_OR_RET(sim && cpu < sim->cfg.cpus, -EINVAL);
	return sim->cpu_node[cpu];
}

int m2d_sim_node_distance(const struct m2d_sim *sim, unsigned a, unsigned b)
{
	M2D_VALIDATE_OR_RET(sim && a < sim->cfg.nodes && b < sim->cfg.nodes, -EINVAL);
	return sim->distance[a * sim->cfg.nodes + b];
}

int m2d_sim_set_node_distance(struct m2d_sim *sim, unsigned a, unsigned b, unsigned distance)
{
	M2D_VALIDATE_OR_RET(sim, -EINVAL);
	if (a >= sim->cfg.nodes || b >= sim->cfg.nodes || a == b || distance < 10 || distance > 255)
		return -EINVAL;
	sim->distance[a * sim->cfg.nodes + b] = (uint8_t)distance;
	sim->distance[b * sim->cfg.nodes + a] = (uint8_t)distance;
	return 0;
}

/* ---- time, counters, breakdown ------------------------------------------------------- */

m2d_vtime_t m2d_sim_time(const struct m2d_sim *sim)
{
	m2d_vtime_t m = M2D_MAX(sim->max_time, sim->outside.hot.clock);

	for (const struct m2d_thread *t = sim->all; t; t = t->next_all)
		m = M2D_MAX(m, t->hot.clock);
	return m;
}

uint64_t m2d_sim_counter(const struct m2d_sim *sim, const char *name)
{
	for (int i = 0; i < M2D_CTR_NR; i++)
		if (!strcmp(counter_names[i], name))
			return sim->counters[i];
	return 0;
}

int m2d_sim_thread_count(const struct m2d_sim *sim)
{
	return sim ? sim->nr_threads : 0;
}

/* Contexts in a fixed order: threads by id, outside, RCU callbacks. */
#define for_each_ctx(sim, t)                                                                   \
	for (const struct m2d_thread *t = (sim)->all ? (sim)->all : &(sim)->outside; t;            \
	     t = t->next_all ? t->next_all :                                                       \
		 t == &(sim)->outside ? &(sim)->rcu.cb_ctx :                                       \
		 t == &(sim)->rcu.cb_ctx ? NULL : &(sim)->outside)

static double ctx_cat(const struct m2d_thread *t, int cost, int cat)
{
	if (cost >= 0)
		return (double)t->breakdown[cost];
	return (unsigned)cat < t->nr_cat_ns ? t->cat_ns[cat] : 0;
}

static double total_of(const struct m2d_sim *sim, int cost, int cat)
{
	double sum = 0;

	for_each_ctx(sim, t)
		sum += ctx_cat(t, cost, cat);
	return sum;
}

double m2d_sim_breakdown_ns(const struct m2d_sim *sim, int thread_id, const char *category)
{
	int cost = -1, cat = -1;

	if (!sim || !category)
		return 0;
	for (int i = 0; i < M2D_COST_NR && cost < 0; i++)
		if (!strcmp(cost_keys[i], category))
			cost = i;
	for (unsigned i = 0; i < sim->nr_cats && cost < 0 && cat < 0; i++)
		if (!strcmp(sim->cats[i].name, category))
			cat = (int)i;
	if (cost < 0 && cat < 0)
		return 0;
	if (thread_id < 0)
		return total_of(sim, cost, cat);
	for (const struct m2d_thread *t = sim->all; t; t = t->next_all)
		if (t->id == thread_id)
			return ctx_cat(t, cost, cat);
	return 0;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static int cmp_cat(const void *a, const void *b, void *arg)
{
	const struct m2d_sim *sim = arg;

	return strcmp(sim->cats[*(const unsigned *)a].name, sim->cats[*(const unsigned *)b].name);
}

static int cmp_class(const void *a, const void *b)
{
	return strcmp((*(struct m2d_lock_class *const *)a)->name,
		      (*(struct m2d_lock_class *const *)b)->name);
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_key(FILE *f, const char *s)
{
	json_string(f, s);
	fputs(": ", f);
}

/*
 * One breakdown object: cost categories in costs.def order, then the
 * others by name; zero entries left out.  @t = NULL: the total.
 * @indent: of the members.  Return: 0, -ENOMEM.
 */
static int emit_breakdown(const struct m2d_sim *sim, const struct m2d_thread *t, FILE *f,
			  const char *indent)
{
	unsigned *order = NULL;
	const char *sep = "\n";

	fputc('{', f);
	for (int i = 0; i < M2D_COST_NR; i++) {
		double v = t ? ctx_cat(t, i, -1) : total_of(sim, i, -1);

		if (v > 0) {
			fprintf(f, "%s%s", sep, indent);
			json_key(f, cost_keys[i]);
			fprintf(f, "%.9f", v / 1e9);
			sep = ",\n";
		}
	}
	if (sim->nr_cats) {
		order = m2d_calloc(M2D_ALLOC_STATS, sim->nr_cats, sizeof(*order));
		if (!order)
			return -ENOMEM;
		for (unsigned i = 0; i < sim->nr_cats; i++)
			order[i] = i;
		qsort_r(order, sim->nr_cats, sizeof(*order), cmp_cat, (void *)sim);
	}
	for (unsigned i = 0; i < sim->nr_cats; i++) {
		double v = t ? ctx_cat(t, -1, (int)order[i]) : total_of(sim, -1, (int)order[i]);

		if (v > 0) {
			fprintf(f, "%s%s", sep, indent);
			json_key(f, sim->cats[order[i]].name);
			fprintf(f, "%.9f", v / 1e9);
			sep = ",\n";
		}
	}
	m2d_free(M2D_ALLOC_STATS, order, sim->nr_cats * sizeof(*order));
	if (sep[0] == ',')
		fprintf(f, "\n%.*s", (int)strlen(indent) - 2, indent);
	fputc('}', f);
	return 0;
}

int m2d_sim_emit_json_threads(const struct m2d_sim *sim, FILE *f)
{
	M2D_VALIDATE_OR_RET(sim && f, -EINVAL);
	fprintf(f, "  \"threads\": [");
	for (const struct m2d_thread *t = sim->all; t; t = t->next_all) {
		fprintf(f, "%s\n    {\"id\": %d, \"name\": ", t == sim->all ? "" : ",", t->id);
		json_string(f, t->name);
		fprintf(f, ", \"cpu\": %d, \"time_s\": %.9f, \"breakdown\": ", t->cpu,
			t->hot.clock / 1e9);
		if (emit_breakdown(sim, t, f, "        "))
			return -ENOMEM;
		fputc('}', f);
	}
	fprintf(f, "%s]", sim->all ? "\n  " : "");
	return ferror(f) ? -EIO : 0;
}

int m2d_sim_emit_json(const struct m2d_sim *sim, FILE *f)
{
	unsigned nc = 0;
	struct m2d_lock_class **classes = NULL;
	const char *sep;

	M2D_VALIDATE_OR_RET(sim && f, -EINVAL);
	fprintf(f, "  \"breakdown\": ");
	if (emit_breakdown(sim, NULL, f, "    "))
		return -ENOMEM;
	fprintf(f, ",\n  \"locks\": {");

	for (const struct m2d_lock_class *k = sim->classes; k; k = k->next)
		nc++;
	if (nc) {
		unsigned i = 0;

		classes = m2d_calloc(M2D_ALLOC_STATS, nc, sizeof(*classes));
		if (!classes)
			return -ENOMEM;
		for (struct m2d_lock_class *k = sim->classes; k; k = k->next)
			classes[i++] = k;
		qsort(classes, nc, sizeof(*classes), cmp_class);
	}
	sep = "\n";
	for (unsigned i = 0; i < nc; i++) {
		const struct m2d_lock_stats *st = &classes[i]->st;

		fprintf(f, "%s    ", sep);
		json_key(f, classes[i]->name);
		fprintf(f,
			"{\"acquisitions\": %llu, \"contended\": %llu, \"wait_s\": %.9f, "
			"\"wait_max_s\": %.9f, \"hold_s\": %.9f, \"hold_max_s\": %.9f}",
			(unsigned long long)st->acquisitions, (unsigned long long)st->contended,
			st->wait_ns / 1e9, st->wait_max_ns / 1e9, st->hold_ns / 1e9,
			st->hold_max_ns / 1e9);
		sep = ",\n";
	}
	m2d_free(M2D_ALLOC_STATS, classes, nc * sizeof(*classes));
	fprintf(f, "%s},\n  \"counters\": {", nc ? "\n  " : "");
	for (int i = 0; i < M2D_CTR_NR; i++) {
		fprintf(f, "%s    ", i ? ",\n" : "\n");
		json_key(f, counter_names[i]);
		fprintf(f, "%llu", (unsigned long long)sim->counters[i]);
	}
	fprintf(f, "\n  }");
	return ferror(f) ? -EIO : 0;
}
