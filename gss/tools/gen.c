// SPDX-License-Identifier: MIT
/*
 * gen: synthetic graph streams that look like the data sets of the GSS paper
 * (Gou et al., "Fast and Accurate Graph Stream Summarization", ICDE 2019,
 * arXiv:1809.01246), for tests and benchmarks that cannot ship the real ones.
 * The goal is the shape that matters to a graph sketch: how many nodes and
 * distinct edges there are, how skewed the degrees are (hubs fill matrix rows
 * and buckets), and how often an edge repeats (repeats merge into a counter).
 * Nothing here models clustering, reciprocity or community structure.
 *
 * Output: one record a line, "src dst weight timestamp". Insertions have a
 * positive weight, deletions the exact negation of an earlier insertion.
 *
 * Presets
 * -------
 * Each preset fixes a default record count, distinct-edge count and node count
 * (those of the real set), two popularity curves, a multiplicity exponent and
 * a few flags:
 *
 *   email  email-EuAll (SNAP): mail between 265,214 addresses of a European
 *          institution and the outside, 420,045 distinct directed pairs. The
 *          real in-degree reaches 7,631 and out-degree 930 (KONECT). The
 *          stream repeats a pair now and then: P(k) ~ k^-3.4, mean 1.2, so
 *          504,054 records. Loops allowed (the real set has 1,089; this
 *          model makes a few dozen).
 *   cit    cit-HepPh: 34,546 arXiv hep-ph papers, 421,578 citations. Node
 *          numbers are publication order and every edge goes from a newer to
 *          an older paper (src > dst). Power-law in-degree, fairly even
 *          out-degree, one record per citation.
 *   web    web-NotreDame: 325,729 pages, 1,497,134 links, in-hubs with about
 *          10^4 in-links, out-degree up to a few thousand. One record per
 *          link. Loops allowed.
 *   lkml   lkml-reply (KONECT): 63,399 people, 242,976 distinct reply pairs,
 *          1,096,440 replies. Multiplicity P(k) ~ k^-1.9 with mean 4.51;
 *          busy posters also get the most replies (in- and out-popularity
 *          share 80 % of their ranks); a few people reply to themselves.
 *   caida  CAIDA anonymized 2015 backbone traces, scaled down from 2.6 M IPs:
 *          1,000,000 IPv4 hosts, 2,500,000 flows (src, dst pairs) and
 *          10,000,000 packets. Popularity of destinations is Zipf(1.1), so a
 *          few servers receive most flows (the top 1,000 hosts get 63 % of
 *          them); sources are milder. Flow sizes are P(k) ~ k^-2.1 with mean
 *          4. Each record is a packet: its weight is a size in bytes from a
 *          bimodal mixture (45 % 40-64 B, 30 % 1420-1500 B, the rest in
 *          between); timestamps are microseconds from 2015-02-19 13:00:00 UTC
 *          with gaps of 1 us plus the whole part of an exponential of mean
 *          5 us (5.5 us on average), so the default run spans about the
 *          minute of one CAIDA trace file.
 *   skew   A stress test, no real counterpart: Zipf(1) popularity for both
 *          sources and destinations over 1,000,000 nodes, 10,000,000 distinct
 *          edges, 30,000,000 records (P(k) ~ k^-2.2, mean 3).
 *
 * Measured at the defaults, seed 1, no deletions. Degrees count distinct
 * edges; "mult" is the largest multiplicity; "cpu" is user + system time on
 * the 2-core build VM at -O2 writing to /dev/null (wall time was 1-1.5x that
 * with other jobs running); "rss" is the peak of the generator alone:
 *
 *   preset     records    distinct      nodes  max out   max in  loops   mult  cpu   rss
 *   email      504,054     420,045    265,214    1,159    7,211     27     14  0.2 s  22 MB
 *   cit        421,578     421,578     34,546      180    1,966      0      1  0.1 s  12 MB
 *   web      1,497,134   1,497,134    325,729    3,116   10,489     34      1  0.4 s  49 MB
 *   lkml     1,096,440     242,976     63,399    3,854    3,865     60    239  0.1 s  14 MB
 *   caida   10,000,000   2,500,000  1,000,000    2,246  205,681      0  4,154  2.3 s 110 MB
 *   skew    30,000,000  10,000,000  1,000,000  227,529  227,176      0  1,770  5 s   355 MB
 *
 * Node and distinct-edge counts are exact by construction (see below); the
 * five largest skew hubs have 228k, 139k, 102k, 82k and 69k out-edges.
 *
 * Sizes and scaling
 * -----------------
 * gen_plan() sizes a run. With R records and a deletion fraction d there are
 * D = floor(d R) deletions and I = R - D insertions. Distinct edges are
 * E = round(I E0 / R0) and nodes N = round(N0 E / E0), where R0, E0 and N0 are
 * the preset's defaults: scaling keeps the mean multiplicity and the average
 * degree. N is raised to at least 2 ceil(sqrt(E)) + 2 so that admissible pairs
 * outnumber edges twice over (this only bites below 8 edges, where a node may
 * then stay unused).
 *
 * Degree model
 * ------------
 * Chung-Lu: every node has an out-popularity and an in-popularity, and an
 * edge is a source drawn by out-popularity with a destination drawn by
 * in-popularity (Chung and Lu 2002). Popularity of rank r (0 = top) is
 * (r + 1 + shift N)^-beta: the degree tail is then a power law with exponent
 * 1 + 1/beta, and `shift` flattens the head to put the largest hubs where the
 * real set has them (the values were tuned against the measurements above).
 * Ranks are dealt to nodes by a random permutation for each side; the in-side
 * keeps the out-side rank for a share `corr` of the nodes, so hubs on the two
 * sides are mostly different nodes unless the preset says otherwise. Draws
 * come from Vose alias tables, O(1) each (Walker 1977, Vose 1991); one 64-bit
 * random word gives both the column and the coin.
 *
 * Distinct edges are kept in an open-addressing set of packed (src, dst)
 * pairs. A draw that repeats an edge, or that the preset forbids (a loop, or
 * src <= dst for cit), is dropped and drawn again. Dropping repeats saturates
 * the hubs: skew's top node is drawn as a source for 7 % of the 15.3 M draws,
 * but collects "only" 228k distinct destinations because its draws keep
 * landing on the same popular ones. cit drops about half of its draws; skew a
 * third; the others under 15 %. For cit this rejection is also the aging
 * model: the oldest papers cite almost nothing inside the window and the
 * newest are barely cited, as in the real set.
 *
 * Pure Chung-Lu leaves many low-popularity nodes without edges, and an edge
 * list has no such nodes. So edges are drawn only until drawn edges plus
 * still untouched nodes equal E; then every untouched node gets one edge, as
 * source or destination in proportion to its two popularities, with a partner
 * drawn by popularity from the other side (email hands out 103k of its
 * 420k edges this way, skew 18k); then draws resume for whatever budget
 * pairs of untouched nodes left over. The run ends with exactly N nodes and
 * E distinct edges, and degree-one nodes where the real sets have them.
 *
 * Node IDs are 0 .. N-1 in slot order, which is unrelated to popularity (for
 * cit it is publication order). caida maps them injectively to unicast IPv4
 * addresses (outside 0/8, 127/8 and 224/3) by a keyed 32-bit permutation with
 * cycle walking.
 *
 * Multiplicity model
 * ------------------
 * Each distinct edge gets its record count from P(k) ~ k^-alpha on [1, K],
 * independent of its endpoints, where K is the least cut-off whose mean
 * reaches R0 / E0 (email K = 14, lkml 239, skew 1,771, caida 4,180; 1 for
 * the simple graphs). Random edges then gain or lose one record until the
 * total is exactly I; at the defaults that moves at most 0.2 % of the records
 * (57 for email, 17k of skew's 30 M).
 *
 * Record order
 * ------------
 * The multiset of insertions is shuffled uniformly (Rao-Sandelius: scatter to
 * random buckets, shuffle each bucket in cache, concatenate; Rao 1961,
 * Sandelius 1962), so an edge's records spread over the whole stream. Above
 * 2^26 insertions the edge list is cut into chunks of 2^26 records shuffled
 * one after the other; edges come in pseudo-random order, so this only keeps
 * each edge's records within one stretch of ~67 M lines. Multiplicities stay
 * exact (sampling edges in proportion to their multiplicity would have cost
 * no memory but lost every edge that happened to draw zero records).
 *
 * Deletion model
 * --------------
 * Strict turnstile. Exactly D lines are deletions, interleaved uniformly:
 * each line is a deletion with probability (deletions left) / (lines left).
 * A deletion takes a uniformly random record from a pool of up to 2^20 live
 * insertions and emits (src, dst, -weight); the record leaves the pool, so
 * nothing is deleted twice and no (src, dst) sum ever goes negative. When the
 * pool is full a new insertion overwrites a random entry, which then stays in
 * the graph for good; a deletion is forced whenever refusing it would leave
 * fewer deletable records than deletions to come. At d = 0.5 the stream ends
 * with an empty graph.
 *
 * Weights are 1 except for caida's packet sizes. Timestamps are line numbers
 * (from 1), or caida's microseconds; both strictly increase.
 *
 * Costs
 * -----
 * Time is O(R + draws), dominated by cache misses on the edge set while
 * drawing and by formatting while writing. Memory at the peak is about
 * 12 B per distinct edge (8 B packed pair, 4 B multiplicity; the set itself is
 * 8 B per slot at load <= 0.7 and is shrunk into the edge list), 8 B per
 * insertion up to 2^26 (512 MiB) for the shuffle, 16 MiB for the deletion
 * pool and about 40 B per node while edges are drawn. The big random-access
 * arrays ask for 2 MiB pages, and set probes are prefetched GEN_AHEAD draws
 * early; the writer formats integers by hand into a 1 MiB buffer and hands it
 * to fwrite() whole (the FILE is the caller's, possibly already in use, so
 * setvbuf() is not ours to call).
 *
 * Determinism: one xoshiro256** stream seeded from opts.seed drives every
 * choice, so the same seed and options give byte-identical output on the same
 * platform (libm's pow() and log() enter through the popularity curves and
 * caida's clock).
 *
 * References: F. Chung, L. Lu, "Connected components in random graphs with
 * given expected degree sequences", Annals of Combinatorics 6 (2002).
 * A. J. Walker, ACM TOMS 3 (1977); M. D. Vose, IEEE TSE 17 (1991) for alias
 * tables. C. R. Rao, Sankhya A 23 (1961); M. Sandelius, JRSS B 24 (1962) for
 * the bucket shuffle. Data set statistics from SNAP (snap.stanford.edu) and
 * KONECT (konect.cc).
 */
#include "gen.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "compiler.h"
#include "hash.h"

#define GEN_POOL_MAX	(1u << 20)	    /* live insertions a deletion picks from */
#define GEN_CHUNK_MAX	((uint64_t)1 << 26) /* records shuffled together (512 MiB) */
#define GEN_BUCKET	(1u << 14)	    /* records a shuffle bucket aims at (fits L2) */
#define GEN_BUCKETS_MAX 4096u		    /* write streams while scattering */
#define GEN_MULT_MAX	(1u << 16)	    /* truncation point ceiling of P(k) */
#define GEN_PROGRESS	((uint64_t)1 << 20) /* records between progress calls */
#define GEN_OUTBUF	((size_t)1 << 20)   /* bytes handed to fwrite() at a time */
#define GEN_LINE_MAX	96		    /* longest line: 2 quads + i32 + u64 */
#define GEN_EDGES_MAX	((uint64_t)1 << 31) /* keeps node and edge numbers in u32 */
#define GEN_RECORDS_MAX ((uint64_t)1 << 40)
#define GEN_STUCK	1024		    /* rejected draws in a row before uniform */
#define GEN_COVER_TRIES 64		    /* weighted partner draws before uniform */
#define GEN_AHEAD	16		    /* Chung-Lu draws made early, to prefetch */
#define GEN_HUGE	((size_t)2 << 20)   /* arrays this large go on huge pages */
#define GEN_CAIDA_EPOCH 1424350800000000ULL /* 2015-02-19 13:00:00 UTC, in us */
#define GEN_CAIDA_GAP	5.0		    /* mean of a gap's exponential part, us */

/* Popularity of the node with rank r (0 = most popular) among n: (r + 1 + shift * n)^-beta. */
struct gen_side {
	double beta;
	double shift;
};

struct gen_preset_def {
	const char *name;
	const char *describe;
	uint64_t records; /* defaults; records / edges is the mean multiplicity */
	uint64_t edges;
	uint64_t nodes;
	struct gen_side out;
	struct gen_side in;
	double corr;	   /* share of nodes whose in-rank is their out-rank */
	double mult_alpha; /* P(k) ~ k^-alpha, truncated where the mean is records / edges */
	bool loops;	   /* self loops allowed */
	bool older;	   /* src > dst: node numbers are publication order */
	bool caida;	   /* IPv4 IDs, packet-size weights, microsecond clock */
};

static const struct gen_preset_def presets[GEN_NR_PRESETS] = {
	[GEN_EMAIL] = {
		.name = "email",
		.describe = "email-EuAll-like: 265k nodes, 420k edges, 504k records, heavy-tailed in/out degree",
		.records = 504054,
		.edges = 420045,
		.nodes = 265214,
		.out = { 0.8, 0.00002 },
		.in = { 1.0, 0.000012 },
		.corr = 0.5,
		.mult_alpha = 3.4,
		.loops = true,
	},
	[GEN_CIT] = {
		.name = "cit",
		.describe = "cit-HepPh-like: 34.5k papers, 422k citations from newer to older (src > dst)",
		.records = 421578,
		.edges = 421578,
		.nodes = 34546,
		.out = { 0.5, 0.005 },
		.in = { 0.9, 0.001 },
		.corr = 0.0,
		.mult_alpha = 0.0, /* unused: one record per edge */
		.older = true,
	},
	[GEN_WEB] = {
		.name = "web",
		.describe = "web-NotreDame-like: 326k pages, 1.5M links, in-hubs with 10^4+ links",
		.records = 1497134,
		.edges = 1497134,
		.nodes = 325729,
		.out = { 0.85, 0.00004 },
		.in = { 1.0, 0.00003 },
		.corr = 0.2,
		.mult_alpha = 0.0, /* unused: one record per edge */
		.loops = true,
	},
	[GEN_LKML] = {
		.name = "lkml",
		.describe = "lkml-reply-like: 63k people, 243k pairs, 1.1M replies, multiplicity ~k^-1.9",
		.records = 1096440,
		.edges = 242976,
		.nodes = 63399,
		.out = { 0.95, 0.00003 },
		.in = { 0.95, 0.00003 },
		.corr = 0.8,
		.mult_alpha = 1.9,
		.loops = true,
	},
	[GEN_CAIDA] = {
		.name = "caida",
		.describe = "CAIDA-2015-like: 1M IPv4 hosts, 2.5M flows, 10M packets weighted by size",
		.records = 10000000,
		.edges = 2500000,
		.nodes = 1000000,
		.out = { 0.8, 0.00001 },
		.in = { 1.1, 0.0 },
		.corr = 0.0,
		.mult_alpha = 2.1,
		.caida = true,
	},
	[GEN_SKEW] = {
		.name = "skew",
		.describe = "stress: Zipf(1) sources and destinations, 1M nodes, 10M edges, 30M records",
		.records = 30000000,
		.edges = 10000000,
		.nodes = 1000000,
		.out = { 1.0, 0.0 },
		.in = { 1.0, 0.0 },
		.corr = 0.0,
		.mult_alpha = 2.2,
	},
};

/*
 * Vose alias table. One 64-bit draw serves a whole sample: its high half picks
 * the column (fastrange32), its low half is the coin against `prob`.
 */
struct alias_slot {
	uint32_t prob; /* keep the column when the coin is below this */
	uint32_t alias;
};

struct alias {
	struct alias_slot *slot;
	uint32_t n;
};

/*
 * Distinct (src, dst) pairs. A pair packs into 64 bits, so the key lives in
 * the slot itself and a probe costs one cache miss; lib/hmap.h stores only
 * hash tags and would add a second miss into an entry array per probe. The
 * set never grows (the edge count is known up front) and never deletes.
 */
struct edge_set {
	uint64_t *slot; /* pair + 1; 0 = empty */
	uint64_t mask;
	uint64_t count;
	uint64_t salt;
};

struct gen_rec {
	uint64_t pair;
	int32_t weight;
};

struct gen_out {
	FILE *f;
	char *buf;
	size_t len;
	size_t cap;
};

struct gen {
	const struct gen_preset_def *def;
	struct gen_plan plan;
	uint32_t n; /* node slots */
	struct rng rng;
	double *w_out; /* popularity of each node slot */
	double *w_in;
	double sum_out;
	double sum_in;
	struct alias out;
	struct alias in;
	uint8_t *touched;
	uint64_t uncovered;	   /* node slots without an edge yet */
	uint32_t stuck;		   /* rejected draws in a row */
	uint64_t ahead[GEN_AHEAD]; /* Chung-Lu pairs drawn early, to prefetch */
	uint64_t nahead;
	struct edge_set set;
	uint64_t *edges; /* after build_edges(): the set's slots, compacted */
	uint32_t *mult;
	struct alias mult_table;
};

/*
 * Large arrays read at random (the edge set, the shuffle window) sit on 2 MiB
 * pages where the kernel allows it: with 4 KiB pages almost every access would
 * miss the TLB as well as the cache, which doubles the cost of both.
 */
static void *big_alloc(size_t size)
{
	void *p;

	if (size < GEN_HUGE)
		return malloc(size);
	if (posix_memalign(&p, GEN_HUGE, size))
		return NULL;
#ifdef MADV_HUGEPAGE
	/* Advice only: without it the arrays are merely slower. */
	(void)madvise(p, size, MADV_HUGEPAGE);
#endif
	return p;
}

static inline uint64_t pack(uint32_t src, uint32_t dst)
{
	return (uint64_t)src << 32 | dst;
}

static int alias_build(struct alias *a, const double *w, uint32_t n)
{
	double *q = malloc((size_t)n * sizeof(*q));
	uint32_t *work = malloc((size_t)n * sizeof(*work));
	uint32_t ns = 0, nl = 0;
	double sum = 0.0;
	int ret = -ENOMEM;

	a->n = n;
	a->slot = malloc((size_t)n * sizeof(*a->slot));
	if (!q || !work || !a->slot)
		goto out;
	for (uint32_t i = 0; i < n; i++)
		sum += w[i];
	/* Small columns stack up from the front of `work`, large ones from the back. */
	for (uint32_t i = 0; i < n; i++) {
		q[i] = w[i] * n / sum;
		if (q[i] < 1.0)
			work[ns++] = i;
		else
			work[n - ++nl] = i;
	}
	while (ns && nl) {
		uint32_t s = work[--ns];
		uint32_t l = work[n - nl];
		double p = q[s] > 0.0 ? q[s] : 0.0;

		a->slot[s].prob = (uint32_t)(p * 4294967296.0);
		a->slot[s].alias = l;
		q[l] -= 1.0 - q[s];
		if (q[l] < 1.0) {
			nl--;
			work[ns++] = l;
		}
	}
	/* What is left is full up to rounding error. */
	while (ns) {
		uint32_t s = work[--ns];

		a->slot[s] = (struct alias_slot){ UINT32_MAX, s };
	}
	while (nl) {
		uint32_t l = work[n - nl--];

		a->slot[l] = (struct alias_slot){ UINT32_MAX, l };
	}
	ret = 0;
out:
	free(work);
	free(q);
	if (ret) {
		free(a->slot);
		a->slot = NULL;
	}
	return ret;
}

static inline uint32_t alias_draw(const struct alias *a, struct rng *r)
{
	uint64_t x = rng_next(r);
	uint32_t i = fastrange32(x, a->n);

	return (uint32_t)x < a->slot[i].prob ? i : a->slot[i].alias;
}

static void alias_free(struct alias *a)
{
	free(a->slot);
	a->slot = NULL;
}

static int set_init(struct edge_set *s, uint64_t expect, uint64_t salt)
{
	uint64_t cap = 16;

	/* Load at most 0.7: linear probing stays near one probe per lookup. */
	while (cap / 10 * 7 < expect)
		cap <<= 1;
	s->slot = big_alloc(cap * sizeof(*s->slot));
	if (s->slot)
		memset(s->slot, 0, cap * sizeof(*s->slot));
	s->mask = cap - 1;
	s->count = 0;
	s->salt = salt;
	return s->slot ? 0 : -ENOMEM;
}

static inline uint64_t set_home(const struct edge_set *s, uint64_t pair)
{
	return hash_mix64((pair + 1) ^ s->salt) & s->mask;
}

/* Adds a pair; false if it was already there. */
static inline bool set_add(struct edge_set *s, uint64_t pair)
{
	uint64_t key = pair + 1;
	uint64_t i = set_home(s, pair);

	while (s->slot[i]) {
		if (s->slot[i] == key)
			return false;
		i = (i + 1) & s->mask;
	}
	s->slot[i] = key;
	s->count++;
	return true;
}

int gen_preset_parse(const char *name, enum gen_preset *out)
{
	if (!name)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(presets); i++) {
		if (!strcmp(name, presets[i].name)) {
			*out = (enum gen_preset)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *gen_preset_name(enum gen_preset p)
{
	return (unsigned int)p < GEN_NR_PRESETS ? presets[p].name : NULL;
}

const char *gen_preset_describe(enum gen_preset p)
{
	return (unsigned int)p < GEN_NR_PRESETS ? presets[p].describe : NULL;
}

int gen_plan(const struct gen_opts *o, struct gen_plan *plan)
{
	const struct gen_preset_def *d;
	uint64_t records, dels, edges, nodes, nmin;

	if (!o || !plan || (unsigned int)o->preset >= GEN_NR_PRESETS)
		return -EINVAL;
	/* Written this way round so that NaN fails too. */
	if (!(o->deletes >= 0.0 && o->deletes <= 0.5))
		return -EINVAL;
	d = &presets[o->preset];
	records = o->records ? o->records : d->records;
	if (records > GEN_RECORDS_MAX)
		return -EINVAL;
	dels = (uint64_t)(o->deletes * (double)records);
	if (dels > records / 2)
		dels = records / 2;
	plan->records = records;
	plan->deletions = dels;
	plan->insertions = records - dels;

	/* The preset's mean multiplicity and average degree survive scaling. */
	edges = (uint64_t)llround((double)plan->insertions * (double)d->edges / (double)d->records);
	if (edges < 1)
		edges = 1;
	if (edges > plan->insertions)
		edges = plan->insertions;
	if (edges > GEN_EDGES_MAX)
		return -EINVAL;
	nodes = (uint64_t)llround((double)d->nodes * (double)edges / (double)d->edges);
	/*
	 * At least twice as many admissible pairs as edges (even for cit, where
	 * only n(n-1)/2 are), so that drawing new edges never stalls. Only toy
	 * sizes (fewer than 8 edges) hit this, and may then leave nodes unused.
	 */
	nmin = 2 * (uint64_t)ceil(sqrt((double)edges)) + 2;
	if (nodes < nmin)
		nodes = nmin;
	if (nodes > edges && edges >= nmin)
		nodes = edges;
	plan->edges = edges;
	plan->nodes = nodes;
	return 0;
}

/* A permutation of [0, n) in place, Fisher-Yates. */
static void shuffle_u32(uint32_t *a, uint32_t n, struct rng *r)
{
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = (uint32_t)rng_below(r, i);
		uint32_t t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}

static void side_weights(double *w, const uint32_t *rank_to_node, uint32_t n,
			 const struct gen_side *s, double *sum)
{
	double r0 = 1.0 + s->shift * n;

	*sum = 0.0;
	for (uint32_t r = 0; r < n; r++) {
		w[rank_to_node[r]] = pow(r + r0, -s->beta);
		*sum += w[rank_to_node[r]];
	}
}

/*
 * Popularity weights and their alias tables. Ranks go to node slots through a
 * random permutation; the in-side permutation keeps a share `corr` of the
 * out-side one and shuffles the rest, so hubs on both sides coincide about as
 * often as the preset asks.
 */
static int build_nodes(struct gen *g)
{
	uint32_t n = g->n;
	/* calloc, not malloc: GCC 12 -O2 cannot tell that the fill loop always runs. */
	uint32_t *perm = calloc(n, sizeof(*perm));
	uint32_t *loose = malloc((size_t)n * sizeof(*loose));
	uint32_t nloose = 0;
	int ret = -ENOMEM;

	g->w_out = malloc((size_t)n * sizeof(*g->w_out));
	g->w_in = malloc((size_t)n * sizeof(*g->w_in));
	g->touched = calloc(n, 1);
	if (!perm || !loose || !g->w_out || !g->w_in || !g->touched)
		goto out;
	g->uncovered = n;

	for (uint32_t i = 0; i < n; i++)
		perm[i] = i;
	shuffle_u32(perm, n, &g->rng);
	side_weights(g->w_out, perm, n, &g->def->out, &g->sum_out);

	for (uint32_t r = 0; r < n; r++) {
		if (rng_unit(&g->rng) >= g->def->corr)
			loose[nloose++] = r;
	}
	for (uint32_t i = nloose; i > 1; i--) {
		uint32_t j = (uint32_t)rng_below(&g->rng, i);
		uint32_t t = perm[loose[i - 1]];

		perm[loose[i - 1]] = perm[loose[j]];
		perm[loose[j]] = t;
	}
	side_weights(g->w_in, perm, n, &g->def->in, &g->sum_in);

	ret = alias_build(&g->out, g->w_out, n);
	if (ret)
		goto out;
	ret = alias_build(&g->in, g->w_in, n);
out:
	free(loose);
	free(perm);
	return ret;
}

static inline void touch(struct gen *g, uint32_t v)
{
	if (!g->touched[v]) {
		g->touched[v] = 1;
		g->uncovered--;
	}
}

static inline bool pair_ok(const struct gen *g, uint32_t s, uint32_t d)
{
	if (s == d)
		return g->def->loops;
	return !g->def->older || s > d;
}

/*
 * Chung-Lu pairs are drawn GEN_AHEAD draws before they are used, so that the
 * cache misses on their set slots overlap instead of queueing one by one.
 */
static inline uint64_t draw_pair(struct gen *g)
{
	uint64_t *a = &g->ahead[g->nahead++ % GEN_AHEAD];
	uint64_t p = *a;

	*a = pack(alias_draw(&g->out, &g->rng), alias_draw(&g->in, &g->rng));
	prefetch_r(&g->set.slot[set_home(&g->set, *a)]);
	return p;
}

/* One Chung-Lu draw; true if it added a new edge. */
static bool add_drawn_edge(struct gen *g)
{
	uint32_t s, d;

	if (likely(g->stuck < GEN_STUCK)) {
		uint64_t p = draw_pair(g);

		s = (uint32_t)(p >> 32);
		d = (uint32_t)p;
	} else {
		/* Saturated weights (toy sizes only): any admissible pair will do. */
		s = (uint32_t)rng_below(&g->rng, g->n);
		d = (uint32_t)rng_below(&g->rng, g->n);
	}
	if (!pair_ok(g, s, d) || !set_add(&g->set, pack(s, d))) {
		g->stuck++;
		return false;
	}
	g->stuck = 0;
	touch(g, s);
	touch(g, d);
	return true;
}

/* A partner for untouched node v; any admissible one gives a new edge. */
static uint32_t cover_partner(struct gen *g, uint32_t v, bool v_is_src)
{
	const struct alias *a = v_is_src ? &g->in : &g->out;
	uint32_t x;

	for (int i = 0; i < GEN_COVER_TRIES; i++) {
		x = alias_draw(a, &g->rng);
		if (x != v && (!g->def->older || (v_is_src ? x < v : x > v)))
			return x;
	}
	if (g->def->older)
		return v_is_src ? (uint32_t)rng_below(&g->rng, v)
				: v + 1 + (uint32_t)rng_below(&g->rng, g->n - 1 - v);
	x = (uint32_t)rng_below(&g->rng, g->n - 1);
	return x >= v ? x + 1 : x;
}

static void cover_nodes(struct gen *g)
{
	for (uint32_t v = 0; v < g->n && g->set.count < g->plan.edges; v++) {
		double po, pi;
		bool v_is_src;
		uint32_t x;

		if (g->touched[v])
			continue;
		po = g->w_out[v] / g->sum_out;
		pi = g->w_in[v] / g->sum_in;
		if (g->def->older && v == 0)
			v_is_src = false;
		else if (g->def->older && v == g->n - 1)
			v_is_src = true;
		else
			v_is_src = rng_unit(&g->rng) * (po + pi) < po;
		x = cover_partner(g, v, v_is_src);
		/* New for sure: v had no edge. */
		set_add(&g->set, v_is_src ? pack(v, x) : pack(x, v));
		touch(g, v);
		touch(g, x);
	}
}

/* Output number of every node slot: dense in slot order, or an IPv4 address. */
static uint32_t ip_mix(uint32_t x, uint32_t key)
{
	x ^= key;
	x *= 0x9e3779b1u;
	x ^= x >> 16;
	x *= 0x85ebca6bu;
	x ^= x >> 13;
	x += key;
	x *= 0xc2b2ae35u;
	x ^= x >> 16;
	return x;
}

static inline bool ip_usable(uint32_t x)
{
	uint32_t a = x >> 24;

	return a != 0 && a != 127 && a < 224;
}

/*
 * An injective map from node numbers (< 2^31) to unicast addresses outside
 * 0/8, 127/8 and 224/3: shift the number into that set, then cycle-walk a
 * keyed 32-bit permutation until it lands in the set again. Cycle walking a
 * permutation restricted to a subset is a permutation of the subset.
 */
static uint32_t ipv4_of(uint32_t id, uint32_t key)
{
	uint32_t x = id + (1u << 24);

	if (x >= 127u << 24)
		x += 1u << 24;
	do {
		x = ip_mix(x, key);
	} while (!ip_usable(x));
	return x;
}

/*
 * Distinct edges: Chung-Lu draws until the edges drawn plus the nodes still
 * untouched reach the edge budget, one edge for each untouched node, then
 * Chung-Lu draws again for whatever budget that left. Ends with `edges`
 * holding the final pairs in output numbering.
 */
static int build_edges(struct gen *g)
{
	uint64_t e = g->plan.edges;
	uint32_t *id = NULL;
	uint64_t j = 0;
	uint32_t next = 0;
	uint32_t key;
	int ret;

	ret = set_init(&g->set, e, rng_next(&g->rng));
	if (ret)
		goto out;
	for (int i = 0; i < GEN_AHEAD; i++)
		draw_pair(g);
	while (g->set.count + g->uncovered < e)
		add_drawn_edge(g);
	cover_nodes(g);
	while (g->set.count < e)
		add_drawn_edge(g);

	ret = -ENOMEM;
	id = malloc((size_t)g->n * sizeof(*id));
	if (!id)
		goto out;
	key = (uint32_t)rng_next(&g->rng);
	for (uint32_t v = 0; v < g->n; v++) {
		if (g->touched[v]) {
			id[v] = g->def->caida ? ipv4_of(next, key) : next;
			next++;
		}
	}
	/* The slot array becomes the edge list, in (salted) hash order. */
	for (uint64_t i = 0; i <= g->set.mask; i++) {
		uint64_t p = g->set.slot[i];

		if (!p)
			continue;
		p--;
		g->set.slot[j++] = pack(id[p >> 32], id[(uint32_t)p]);
	}
	g->edges = realloc(g->set.slot, e * sizeof(*g->edges));
	if (!g->edges)
		g->edges = g->set.slot;
	g->set.slot = NULL;
	ret = 0;
out:
	free(id);
	return ret;
}

/*
 * Multiplicity table: P(k) ~ k^-alpha on [1, K], with K the least value whose
 * truncated mean reaches records / edges (the mean grows with K).
 */
static int build_mult_table(struct gen *g)
{
	/* The preset's mean, not this run's: rounding at toy sizes could ask for any. */
	double mean = (double)g->def->records / (double)g->def->edges;
	double num = 0.0, den = 0.0;
	uint32_t k_max = 1;
	double *w;
	int ret;

	if (mean > 1.0) {
		for (k_max = 1; k_max < GEN_MULT_MAX; k_max++) {
			double t = pow(k_max, -g->def->mult_alpha);

			num += t * k_max;
			den += t;
			if (num / den >= mean)
				break;
		}
	}
	w = malloc((size_t)k_max * sizeof(*w));
	if (!w)
		return -ENOMEM;
	for (uint32_t k = 0; k < k_max; k++)
		w[k] = pow(k + 1, -g->def->mult_alpha);
	ret = alias_build(&g->mult_table, w, k_max);
	free(w);
	return ret;
}

/* Draws every edge's multiplicity, then nudges random edges until they sum to the budget. */
static int build_mult(struct gen *g)
{
	uint64_t e = g->plan.edges;
	uint64_t sum = 0;
	int ret;

	ret = build_mult_table(g);
	if (ret)
		return ret;
	g->mult = malloc(e * sizeof(*g->mult));
	if (!g->mult)
		return -ENOMEM;
	for (uint64_t i = 0; i < e; i++) {
		g->mult[i] = 1 + alias_draw(&g->mult_table, &g->rng);
		sum += g->mult[i];
	}
	while (sum < g->plan.insertions) {
		g->mult[rng_below(&g->rng, e)]++;
		sum++;
	}
	while (sum > g->plan.insertions) {
		uint64_t i = rng_below(&g->rng, e);

		/* Few edges above 1 (mean near 1): walk from the miss to the next one. */
		while (g->mult[i] == 1)
			i = i + 1 < e ? i + 1 : 0;
		g->mult[i]--;
		sum--;
	}
	return 0;
}

static const char digits2[200] = "00010203040506070809"
				 "10111213141516171819"
				 "20212223242526272829"
				 "30313233343536373839"
				 "40414243444546474849"
				 "50515253545556575859"
				 "60616263646566676869"
				 "70717273747576777879"
				 "80818283848586878889"
				 "90919293949596979899";

static inline char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	char *t = tmp + sizeof(tmp);
	size_t len;

	while (v >= 100) {
		const char *d = &digits2[(v % 100) * 2];

		v /= 100;
		*--t = d[1];
		*--t = d[0];
	}
	if (v >= 10) {
		*--t = digits2[v * 2 + 1];
		*--t = digits2[v * 2];
	} else {
		*--t = (char)('0' + v);
	}
	len = (size_t)(tmp + sizeof(tmp) - t);
	memcpy(p, t, len);
	return p + len;
}

static inline char *put_node(char *p, uint32_t v, bool quad)
{
	if (!quad)
		return put_u64(p, v);
	for (int shift = 24; shift > 0; shift -= 8) {
		p = put_u64(p, (v >> shift) & 0xff);
		*p++ = '.';
	}
	return put_u64(p, v & 0xff);
}

static int out_flush(struct gen_out *o)
{
	if (o->len && fwrite(o->buf, 1, o->len, o->f) != o->len)
		return -EIO;
	o->len = 0;
	return 0;
}

static inline int out_line(struct gen_out *o, uint64_t pair, int32_t weight, uint64_t ts, bool quad)
{
	char *p = o->buf + o->len;

	p = put_node(p, (uint32_t)(pair >> 32), quad);
	*p++ = ' ';
	p = put_node(p, (uint32_t)pair, quad);
	*p++ = ' ';
	if (weight < 0) {
		*p++ = '-';
		p = put_u64(p, (uint64_t)(-(int64_t)weight));
	} else {
		p = put_u64(p, (uint64_t)weight);
	}
	*p++ = ' ';
	p = put_u64(p, ts);
	*p++ = '\n';
	o->len = (size_t)(p - o->buf);
	return o->len > o->cap - GEN_LINE_MAX ? out_flush(o) : 0;
}

/*
 * A coarse IP packet-size mixture: bare TCP ACKs (40 B), other small packets
 * (41-64 B), a spread of medium sizes, the old 576 B default, and packets at
 * or just under the 1500 B Ethernet MTU.
 */
static int32_t packet_size(struct rng *r)
{
	uint64_t x = rng_next(r);
	uint32_t u = fastrange32(x, 1000);
	uint32_t v = (uint32_t)x;

	if (u < 300)
		return 40;
	if (u < 450)
		return 41 + (int32_t)(v % 24);
	if (u < 560)
		return 65 + (int32_t)(v % 511);
	if (u < 600)
		return 576;
	if (u < 700)
		return 577 + (int32_t)(v % 843);
	if (u < 800)
		return 1420 + (int32_t)(v % 80);
	return 1500;
}

/* Records of the edge list, each edge repeated by its multiplicity, in edge order. */
struct gen_feed {
	const uint64_t *edges;
	const uint32_t *mult;
	uint64_t n;
	uint64_t next; /* edge after the current one */
	uint32_t left; /* records of the current edge still to hand out */
	uint64_t cur;
};

static inline bool feed_next(struct gen_feed *f, uint64_t *pair)
{
	while (!f->left) {
		if (f->next == f->n)
			return false;
		f->cur = f->edges[f->next];
		f->left = f->mult[f->next++];
	}
	f->left--;
	*pair = f->cur;
	return true;
}

static void shuffle_u64(uint64_t *a, uint64_t n, struct rng *r)
{
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = rng_below(r, i);
		uint64_t t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}

/*
 * The insertions of one chunk in random order, by the Rao-Sandelius method:
 * scatter the records into random buckets, then shuffle each bucket on its
 * own and read the buckets one after the other. With independent uniform
 * bucket choices and uniform shuffles inside the buckets, every permutation is
 * equally likely, as with one Fisher-Yates pass; but each record is written
 * to one of a few thousand sequential streams, and each bucket is shuffled
 * while it sits in L2, instead of one cache and TLB miss per record.
 */
struct gen_shuffle {
	uint64_t *rec;	 /* the chunk, bucket after bucket */
	uint64_t *start; /* GEN_BUCKETS_MAX + 1 bucket offsets */
	uint64_t *cur;	 /* GEN_BUCKETS_MAX write cursors */
	uint64_t n;	 /* records in the chunk */
	uint64_t next;	 /* next record to hand out */
	uint64_t end;	 /* end of the buckets shuffled so far */
	uint32_t nb;	 /* buckets in the chunk */
	uint32_t done;	 /* buckets shuffled so far */
};

static void chunk_fill(struct gen_shuffle *sh, struct gen_feed *f, struct rng *r, uint64_t n)
{
	/* Bucket sizes come from a first pass over a copy of the same random stream. */
	struct rng again = *r;
	uint32_t nb = 1;

	while (nb < GEN_BUCKETS_MAX && (uint64_t)nb * GEN_BUCKET < n)
		nb <<= 1;
	memset(sh->start, 0, (nb + 1) * sizeof(*sh->start));
	for (uint64_t i = 0; i < n; i++)
		sh->start[1 + fastrange32(rng_next(r), nb)]++;
	for (uint32_t b = 0; b < nb; b++) {
		sh->start[b + 1] += sh->start[b];
		sh->cur[b] = sh->start[b];
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t pair = 0;

		feed_next(f, &pair);
		sh->rec[sh->cur[fastrange32(rng_next(&again), nb)]++] = pair;
	}
	sh->n = n;
	sh->next = 0;
	sh->end = 0;
	sh->nb = nb;
	sh->done = 0;
}

/* The next insertion; the chunk must not be exhausted. */
static inline uint64_t chunk_next(struct gen_shuffle *sh, struct rng *r)
{
	while (sh->next == sh->end) {
		uint64_t lo = sh->start[sh->done], hi = sh->start[sh->done + 1];

		shuffle_u64(sh->rec + lo, hi - lo, r);
		sh->end = hi;
		sh->done++;
	}
	return sh->rec[sh->next++];
}

/* What emit() carries from one record to the next. */
struct gen_emit {
	struct gen_feed feed;
	struct gen_shuffle sh;
	struct gen_rec *pool; /* live insertions a deletion may negate */
	uint64_t npool, pool_cap;
	uint64_t left_ins, left_del;
	uint64_t chunk;
};

/*
 * The next record. Insertions come from the shuffled chunk. Deletions are
 * interleaved uniformly (each line is a deletion with probability remaining
 * deletions / remaining lines) and negate a random live insertion of the pool.
 */
static struct gen_rec next_record(struct gen *g, struct gen_emit *e)
{
	struct gen_rec rec;
	bool del = false;

	if (e->left_del && e->npool) {
		/*
		 * An insertion into a full pool retires a live record for good;
		 * refuse it when the deletions left need every one.
		 */
		if (!e->left_ins ||
		    (e->npool == e->pool_cap && e->left_del >= e->npool + e->left_ins))
			del = true;
		else
			del = rng_below(&g->rng, e->left_del + e->left_ins) < e->left_del;
	}
	if (del) {
		uint64_t j = rng_below(&g->rng, e->npool);

		rec = e->pool[j];
		e->pool[j] = e->pool[--e->npool];
		rec.weight = -rec.weight;
		e->left_del--;
		return rec;
	}
	if (e->sh.next == e->sh.n)
		chunk_fill(&e->sh, &e->feed, &g->rng,
			   e->left_ins < e->chunk ? e->left_ins : e->chunk);
	rec.pair = chunk_next(&e->sh, &g->rng);
	rec.weight = g->def->caida ? packet_size(&g->rng) : 1;
	e->left_ins--;
	if (e->pool) {
		if (e->npool < e->pool_cap)
			e->pool[e->npool++] = rec;
		else
			e->pool[rng_below(&g->rng, e->pool_cap)] = rec;
	}
	return rec;
}

/* Writes every record of the plan to f. */
static int emit(struct gen *g, const struct gen_opts *o, FILE *f)
{
	struct gen_emit e = { .feed = { .edges = g->edges, .mult = g->mult, .n = g->plan.edges } };
	uint64_t ts = g->def->caida ? GEN_CAIDA_EPOCH : 0;
	struct gen_out out = { .f = f };
	bool quad = g->def->caida;
	int ret = -ENOMEM;

	e.chunk = g->plan.insertions < GEN_CHUNK_MAX ? g->plan.insertions : GEN_CHUNK_MAX;
	e.pool_cap = g->plan.insertions < GEN_POOL_MAX ? g->plan.insertions : GEN_POOL_MAX;
	e.left_ins = g->plan.insertions;
	e.left_del = g->plan.deletions;
	e.sh.rec = big_alloc(e.chunk * sizeof(*e.sh.rec));
	e.sh.start = malloc((GEN_BUCKETS_MAX + 1) * sizeof(*e.sh.start));
	e.sh.cur = malloc(GEN_BUCKETS_MAX * sizeof(*e.sh.cur));
	/* Short runs need less than the full buffer. */
	out.cap = g->plan.records < GEN_OUTBUF / GEN_LINE_MAX
			  ? (size_t)(g->plan.records + 1) * GEN_LINE_MAX
			  : GEN_OUTBUF;
	out.buf = malloc(out.cap);
	if (e.left_del)
		e.pool = malloc(e.pool_cap * sizeof(*e.pool));
	if (!e.sh.rec || !e.sh.start || !e.sh.cur || !out.buf || (e.left_del && !e.pool))
		goto out;

	for (uint64_t t = 0; t < g->plan.records; t++) {
		struct gen_rec rec = next_record(g, &e);

		if (g->def->caida)
			ts += 1 + (uint64_t)(-GEN_CAIDA_GAP * log(1.0 - rng_unit(&g->rng)));
		else
			ts = t + 1;
		ret = out_line(&out, rec.pair, rec.weight, ts, quad);
		if (ret)
			goto out;
		if (o->progress && (t + 1) % GEN_PROGRESS == 0)
			o->progress(t + 1, g->plan.records, o->progress_arg);
	}
	ret = out_flush(&out);
	if (!ret && fflush(f))
		ret = -EIO;
	if (!ret && o->progress && g->plan.records % GEN_PROGRESS)
		o->progress(g->plan.records, g->plan.records, o->progress_arg);
out:
	free(e.pool);
	free(out.buf);
	free(e.sh.cur);
	free(e.sh.start);
	free(e.sh.rec);
	return ret;
}

static void gen_free(struct gen *g)
{
	alias_free(&g->mult_table);
	free(g->mult);
	free(g->edges);
	free(g->set.slot);
	free(g->touched);
	alias_free(&g->in);
	alias_free(&g->out);
	free(g->w_in);
	free(g->w_out);
}

int gen_run(const struct gen_opts *o, FILE *out)
{
	struct gen g = { 0 };
	int ret;

	if (!out)
		return -EINVAL;
	ret = gen_plan(o, &g.plan);
	if (ret)
		return ret;
	g.def = &presets[o->preset];
	g.n = (uint32_t)g.plan.nodes;
	rng_seed(&g.rng, o->seed);

	ret = build_nodes(&g);
	if (ret)
		goto out;
	ret = build_edges(&g);
	if (ret)
		goto out;
	/* Node state is dead weight from here on; the window wants the memory. */
	free(g.touched);
	g.touched = NULL;
	alias_free(&g.in);
	alias_free(&g.out);
	free(g.w_in);
	g.w_in = NULL;
	free(g.w_out);
	g.w_out = NULL;
	ret = build_mult(&g);
	if (ret)
		goto out;
	ret = emit(&g, o, out);
	if (!ret && ferror(out))
		ret = -EIO;
out:
	gen_free(&g);
	return ret;
}
